"""Wall time of the demo search (`configs/search/demo.yaml`, latency reward) and the cost model's share.

Run: python benchmarks/bench_search.py [--quick]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(quick: bool = False) -> str:
    from tnd.search.config import load_search_config
    from tnd.search.run import run_search

    overrides = {"cost.lut": str(ROOT / "lut" / "cpu.json")}
    if quick:
        overrides["preferences"] = []
    cfg = load_search_config(str(ROOT / "configs" / "search" / "demo.yaml"), overrides)
    r = run_search(cfg, Path(tempfile.mkdtemp()) / "search", progress=False, echo=lambda s: None)
    total, cost, scoring = r["search_seconds"], r["cost_model_seconds"], r["scoring_seconds"]
    return "\n".join([
        "## Demo search (digits, 3 stages, reward acc x latency from lut/cpu.json, 2 CPU cores)", "",
        "| preferences | search s | cost model s | cost model share | then scoring the derived s |",
        "|---|---|---|---|---|",
        f"| {len(r['genotypes'])} | {total:.1f} | {cost:.3f} | {cost / total:.2%} | {scoring:.1f} |", "",
        "The cost model sums table entries over a sampled network's parts (cached per architecture); it is "
        "negligible next to training the supernet. Scoring trains each derived genotype for 10 epochs "
        "(`derive.evaluate: train`)."])


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    print(run(ap.parse_args().quick))
