"""Does a table predict whole networks? `tnd lut validate` on 30+ random networks.

Part 1: the shipped lut/cpu.json (DARTS parts) on random DARTS genotypes. Part 2: a table of NB201 parts
built here for the nb201-cifar10 preset (`tnd lut build --device cpu --config nb201-cifar10`, NB201's C=16,
N=5 network at 32x32), validated on random NB201 cells (`tnd lut validate` tells the space from the
table's shapes).

Run: python benchmarks/bench_fidelity.py [--quick]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(quick: bool = False) -> str:
    return darts_section(quick) + "\n\n" + nb201_section(quick)


def validated(table: Path, samples: int, quick: bool) -> tuple[dict, str]:
    """`tnd lut validate` on ``table`` (its calibration not stored) and whether the issue's goal is met."""
    from tnd.lut.validate import ValidateRequest, validate_lut

    r = validate_lut(ValidateRequest(lut=str(table), samples=samples, repeats=40 if quick else 100,
                                     save_calibration=False, progress=False, out=str(table.with_suffix(""))),
                     echo=lambda s: None)
    return r, ("met" if r["raw"]["spearman"] >= 0.9 and r["calibrated"]["mape"] <= 0.15 else "NOT met")


def nb201_section(quick: bool = False) -> str:
    from tnd.lut.pipeline import BuildRequest, build_lut
    from tnd.lut.validate import format_report
    from tnd.search.lut_source import table_coverage

    table = Path(tempfile.mkdtemp()) / "nb201-cpu.json"
    build_lut(BuildRequest(device="cpu", coverage=table_coverage(["nb201-cifar10"]), out=str(table), quick=quick,
                           energy="none", progress=False))
    samples = 12 if quick else 30
    r, goal = validated(table, samples, quick)
    return "\n".join([
        f"## LUT fidelity on NAS-Bench-201 networks: a table of NB201 parts against {samples} whole random cells "
        "(CPU, 1 thread, batch 1)", "",
        f"The table was built here by `tnd lut build --device cpu --config nb201-cifar10{' --quick' if quick else ''} "
        "--energy none` (NB201's C=16, N=5 network at 32x32: stem, 3 x 5 cells, 2 residual blocks, head); "
        "networks are uniformly random connected NB201 cells (`none` included, so some edges and nodes carry "
        "nothing; a cell with no input-to-output path is a constant network no search derives, and is not "
        "drawn), predicted from their live edges only (`tnd.space.nb201.live_edges`: ONNX Runtime removes the "
        "rest), each exported whole and measured twice in shuffled order.", "",
        "```", format_report(r), "```", "",
        f"Same yardstick as the DARTS table (Spearman >= 0.9 and calibrated MAPE <= 15%): **{goal}**."])


def darts_section(quick: bool = False) -> str:
    from tnd.lut.validate import format_report

    table = Path(tempfile.mkdtemp()) / "cpu.json"
    shutil.copy(ROOT / "lut" / "cpu.json", table)   # the shipped table stays as it is
    samples = 12 if quick else 40
    r, goal = validated(table, samples, quick)
    return "\n".join([
        f"## LUT fidelity: lut/cpu.json against {samples} whole random networks (CPU, 1 thread, batch 1)", "",
        "Networks: random DARTS genotypes at every width/depth the table covers (digits 8x8: C=8/5 cells, "
        "C=16/8 cells, C=32/11 cells; CIFAR 32x32: C=36/20 cells, the paper's network), each exported whole "
        "and measured twice in shuffled order.", "",
        "```", format_report(r), "```", "",
        f"Issue goal (Spearman >= 0.9 and MAPE <= 15% on CPU): **{goal}** with the calibrated figure; the raw "
        f"table sum has Spearman {r['raw']['spearman']:.3f} but over-predicts {r['raw']['ratio_mean']:.2f}x, because "
        "each entry is timed as its own session: pools, skips, adds and concats stand alone pay memory traffic "
        "and per-node dispatch that a fused, cache-warm network does not (the per-call overhead itself is "
        "already subtracted). The per-family calibration removes that bias; its error is leave-one-out. "
        "The calibration minimises relative error (networks span 0.1 ms to 10+ ms). Within one width/depth "
        "the networks differ by less than 2x and the measurement's own test-retest rank agreement bounds what "
        "any table can reach."])


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    print(run(ap.parse_args().quick))
