"""`make bench`: run every benchmark and write benchmarks/RESULTS.md with machine, date and command.

Each benchmark module exposes ``run(quick: bool = False) -> str`` returning a markdown section.
Run: python benchmarks/run_all.py [--quick] [--only NAME ...]   (--only replaces just those sections)
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import os
import platform
import re
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = ("bench_supernet", "bench_lut", "bench_fidelity", "bench_search", "bench_export", "bench_nb201",
           "bench_conditioned", "bench_torchrun", "bench_cli")


def machine() -> str:
    import onnxruntime
    import torch

    from profilers.devices import cpu_model, detect_gpu
    from profilers.errors import ProfilerError

    try:
        gpu = detect_gpu(0).name
    except ProfilerError:  # no NVML or no GPU: this is what we report
        gpu = "none (no NVIDIA GPU/NVML)"
    return (f"{cpu_model()}, {os.cpu_count()} cores, GPU: {gpu}; Python {platform.python_version()}, "
            f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__}")


def trailer(path: Path) -> str:
    """Hand-written text after the last benchmark section (e.g. what could not be measured here): kept."""
    text = path.read_text() if path.exists() else ""
    ends = list(re.finditer(r"<!-- /bench:\w+ -->\n", text))
    return text[ends[-1].end():] if ends else ""


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def read_sections(path: Path) -> list[tuple[str, str]]:
    """The sections of an existing RESULTS.md, so that ``--only`` reruns replace just theirs."""
    text = path.read_text() if path.is_file() else ""
    return re.findall(r"<!-- bench:(\w+) -->\n(.*?)<!-- /bench:\1 -->", text, flags=re.S)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="fewer repeats (a smoke run, not for the record)")
    ap.add_argument("--only", nargs="*", choices=BENCHES)
    ap.add_argument("--out", default=str(HERE / "RESULTS.md"))
    args = ap.parse_args()
    sys.path.insert(0, str(HERE.parent))
    # Sections already there are kept unless rerun now: those of --only's others, and those `make bench` does
    # not run, run by hand (bench_search_gpu needs a GPU; bench_conditioned_supernet's one seed is judged
    # beside by-hand runs over seeds and thread counts, RESULTS.md).
    existing = read_sections(Path(args.out))
    sections = dict(existing)
    for name in args.only or BENCHES:
        t0 = time.perf_counter()
        print(f"== {name}", flush=True)
        section = load(name).run(quick=args.quick)
        print(section, flush=True)
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        sections[name] = section + f"\n_{name} took {time.perf_counter() - t0:.0f} s ({stamp})._\n"
    header = ["# Benchmark results", "",
              f"- Machine: {machine()}",
              f"- Date: {dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}"
              + (f" (sections rerun: {', '.join(args.only)}; the others keep their own dates)" if args.only else ""),
              f"- Command: `{' '.join(['python', 'benchmarks/run_all.py', *sys.argv[1:]])}` (via `make bench`)",
              "- GPU figures appear only where a section names a GPU device; none are estimated.",
              "- Sections that `make bench` does not run (GPU-only, or judged beside by-hand runs) are run by hand "
              "and keep their own machine, date and command.", ""]
    order = list(BENCHES) + [n for n, _ in existing if n not in BENCHES]
    body = [f"<!-- bench:{n} -->\n{sections[n]}<!-- /bench:{n} -->\n" for n in order if n in sections]
    from tnd import atomic

    atomic.write_text(args.out, "\n".join(header + body) + trailer(Path(args.out)))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
