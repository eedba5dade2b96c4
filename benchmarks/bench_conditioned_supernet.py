"""The whole front from one supernet search (issue 14's digits goal): the demo's 3-member series against one
conditioned run with 5 members, on the demo config (digits, this machine's CPU table lut/cpu.json).

- series: ``tnd search --config demo`` (3 members, fast/balanced/accurate: one supernet trained per member);
- conditioned: ``tnd search --config demo --strategy conditioned`` (one supernet trained once, 5 members from
  the grid of preferences (1, 0), (0.75, 0.25), ..., (0, 1) over acc x latency).
Both score their members as the demo does: each derived network trained 10 epochs from scratch
(``derive.evaluate: train``, the recipe of ``make demo``'s ``tnd train --epochs 10``), accuracy on the
validation split. Reported per member: the trained accuracy, the supernet accuracy, the latency the table
predicts, and (``--measure``) the latency ``tnd bench`` measures on the exported trained network; per run: the
search wall time (the supernet stages, without the members' trainings) and the latency range of its members.
The goal: the conditioned members span at least the latency range of the series' members.

Run: python benchmarks/bench_conditioned_supernet.py [--series DIR] [--conditioned DIR] [--measure]
(a DIR holding a finished run is read, not run again).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tnd.deploy.bench import BenchRequest, bench_model  # noqa: E402
from tnd.deploy import export_onnx  # noqa: E402
from tnd.search.config import load_search_config  # noqa: E402
from tnd.search.run import run_search  # noqa: E402

CONFIG = ROOT / "configs" / "search" / "demo.yaml"
LUT = ROOT / "lut" / "cpu.json"


def finished_run(out: Path, strategy: str) -> dict[str, Any]:
    """The run in ``out`` (searched first if it has no result.json)."""
    if not (out / "result.json").is_file():
        cfg = load_search_config(CONFIG, {"strategy": strategy, "cost.lut": str(LUT)})
        run_search(cfg, out, progress=False, echo=lambda s: None)
    return json.loads((out / "result.json").read_text())


def measured_ms(out: Path, i: int) -> float:
    """Median latency of member ``i``'s trained network, exported and timed (``tnd bench``, CPU preset)."""
    model = out / "derived" / str(i) / "model.onnx"
    if not model.is_file():
        export_onnx(out / "derived" / str(i) / "checkpoint.pt", model)
    r = bench_model(BenchRequest(model=str(model), device="cpu", use_lut=False, warmup=20, repeats=200,
                                 energy="none"), echo=lambda s: None)
    return float(r["latency_ms"]["median"])


def members(result: dict[str, Any], out: Path, measure: bool) -> list[dict[str, Any]]:
    rows = []
    for i, e in enumerate(result["genotypes"]):
        o = e["objectives"]
        rows.append({"name": e["preference"]["name"], "acc": o["accuracy"], "supernet_acc": o.get("supernet_accuracy"),
                     "lut_ms": o["latency_ms"], "measured_ms": measured_ms(out, i) if measure else None,
                     "pareto": i in result["pareto"]})
    return rows


def section(runs: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]]) -> str:
    lines = ["## The whole front from one supernet search (digits demo, CPU table)", "",
             "| run | member | trained acc | supernet acc | latency ms (table) | latency ms (measured) | Pareto |",
             "|---|---|---|---|---|---|---|"]
    for label, (_, rows) in runs.items():
        for r in rows:
            measured = f"{r['measured_ms']:.4f}" if r["measured_ms"] is not None else "-"
            sup = f"{r['supernet_acc']:.4f}" if r["supernet_acc"] is not None else "-"
            lines.append(f"| {label} | {r['name']} | {r['acc']:.4f} | {sup} | {r['lut_ms']:.4f} | {measured} | "
                         f"{'*' if r['pareto'] else ''} |")
    lines += ["", "| run | members | latency range ms (table) | latency range ms (measured) | search s | "
              "members' trainings s | hypervolume |", "|---|---|---|---|---|---|---|"]
    spans = {}
    for label, (result, rows) in runs.items():
        lut = [r["lut_ms"] for r in rows]
        meas = [r["measured_ms"] for r in rows if r["measured_ms"] is not None]
        spans[label] = (min(lut), max(lut))
        mr = f"{min(meas):.4f}-{max(meas):.4f}" if meas else "-"
        lines.append(f"| {label} | {len(rows)} | {min(lut):.4f}-{max(lut):.4f} | {mr} | "
                     f"{result['search_seconds']:.0f} | {result['scoring_seconds'] or 0:.0f} | "
                     f"{result['hypervolume']['value']:.4f} |")
    (slo, shi), (clo, chi) = spans["series"], spans["conditioned"]
    lines += ["", f"Goal (the conditioned members span at least the series' latency range, table figures): "
              f"{'met' if clo <= slo and chi >= shi else 'not met'} (series {slo:.4f}-{shi:.4f} ms, conditioned "
              f"{clo:.4f}-{chi:.4f} ms). Search wall time: the supernet stages alone, on this machine as loaded "
              "when it ran; measured latencies: the trained networks exported to ONNX and timed by `tnd bench` "
              "(median of 200 runs, batch 1)."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", type=Path, default=ROOT / "runs" / "bench_conditioned_supernet" / "series")
    ap.add_argument("--conditioned", type=Path, default=ROOT / "runs" / "bench_conditioned_supernet" / "conditioned")
    ap.add_argument("--measure", action="store_true", help="also export and time each trained member (tnd bench)")
    args = ap.parse_args(argv)
    runs = {}
    for label, out, strategy in (("series", args.series, "tnd"), ("conditioned", args.conditioned, "conditioned")):
        result = finished_run(out, strategy)
        runs[label] = (result, members(result, out, args.measure))
    print(section(runs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
