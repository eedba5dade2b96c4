"""`tnd --help` start-up time: the CLI must answer without importing torch (goal: under 0.5 s).

Each run is a fresh interpreter (`python -m tnd --help`), as a user's shell starts it; the median of
several runs is reported beside the bare interpreter's start-up, which no CLI can beat.
Run: python benchmarks/bench_cli.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOAL_S = 0.5


def wall_times(argv: list[str], runs: int) -> list[float]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(argv, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    return times


def run(quick: bool = False) -> str:
    runs = 5 if quick else 15
    wall_times([sys.executable, "-m", "tnd", "--help"], 1)  # warm the file cache
    help_s = statistics.median(wall_times([sys.executable, "-m", "tnd", "--help"], runs))
    sub_s = statistics.median(wall_times([sys.executable, "-m", "tnd", "train", "--help"], runs))
    bare_s = statistics.median(wall_times([sys.executable, "-c", "pass"], runs))
    met = "met" if help_s < GOAL_S else "NOT met"
    return "\n".join([
        "## CLI start-up (benchmarks/bench_cli.py)", "",
        f"Wall time of a fresh `python -m tnd ...` process, median of {runs} runs after one warm-up.", "",
        "| command | median s |", "|---|---|",
        f"| `tnd --help` | {help_s:.3f} |",
        f"| `tnd train --help` | {sub_s:.3f} |",
        f"| `python -c pass` (interpreter alone) | {bare_s:.3f} |", "",
        f"`tnd --help` in {help_s:.2f} s (goal: under {GOAL_S} s: {met}).",
    ])


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    print(run(ap.parse_args().quick))
