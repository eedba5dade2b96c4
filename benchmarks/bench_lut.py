"""Building the CPU lookup table: time, entries per second, measurement spread, predictor error.

Run: python benchmarks/bench_lut.py [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path


def build(config: str, quick: bool) -> tuple[object, float]:
    from tnd.lut.pipeline import BuildRequest, build_lut
    from tnd.search.lut_source import table_coverage

    out = Path(tempfile.mkdtemp()) / "cpu.json"
    t0 = time.perf_counter()
    table = build_lut(BuildRequest(device="cpu", coverage=table_coverage([config]), out=str(out), quick=quick, fit_predictor=True,
                                   progress=False), echo=lambda s: None)
    return table, time.perf_counter() - t0


def row(name: str, table, seconds: float) -> str:
    spreads = [e["latency_ms"]["p90"] / e["latency_ms"]["p10"] for e in table.entries.values()]
    h = table.predictor["targets"]["latency_ms"]["holdout"]
    return (f"| {name} | {len(table.entries)} | {seconds:.1f} | {len(table.entries) / seconds:.1f} | "
            f"{statistics.median(spreads):.3f} | {max(spreads):.2f} | {h['mape']:.1%} | {h['within_10pct']:.0%} |")


def run(quick: bool = False) -> str:
    lines = ["## LUT build (ONNX Runtime CPU provider, 1 thread, batch 1)", "",
             "Settings: " + ("--quick (5 warm-up, 25 repeats)" if quick else "20 warm-up, 100 timed runs per entry")
             + "; energy: tdp-estimate (no RAPL on this machine), so no energy windows are timed.", "",
             "| search config | entries | build s | entries/s | median p90/p10 | worst p90/p10 | "
             "predictor held-out MAPE | within 10% |",
             "|---|---|---|---|---|---|---|---|"]
    configs = [("configs/search/demo.yaml", "demo (digits, 3 widths/depths)")]
    if not quick:
        configs.append(("configs/search/cifar10.yaml", "cifar10 (paper: C=36, 20 cells, 32x32)"))
    for path, name in configs:
        table, seconds = build(path, quick)
        lines.append(row(name, table, seconds))
    lines += ["", "Spread is per entry (p90/p10 of its timed runs), summarised across entries. The predictor is "
              "ridge regression in log space over op features, fitted on 80% of the entries and scored on the rest."]
    return "\n".join(lines)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    print(run(ap.parse_args().quick))
