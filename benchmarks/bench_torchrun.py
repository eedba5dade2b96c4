"""One search, and one training, under torchrun with 2 gloo processes on the CPU against 1 process at the same
global batch.

All are real `tnd search` (and `tnd train`) runs of one small digits config (`torchrun --standalone --nproc_per_node=2 -m tnd
search ...` and `python -m tnd search ...`). Reported: wall time of each, whether the two ranks end with
identical alpha and weights (per-rank hashes, ``TND_TEST_RANK_HASH``), and whether the two runs derive the
same genotype (they need not: each rank's BN sees half the batch, and gradient sums are added in another
order). The training part does the same for `tnd train --genotype DARTS_V2` (weights and BN statistics per
rank; test accuracy of each run).

What a CPU figure cannot predict for GPUs: on 2 CPU cores the two processes share the cores one process
would use alone, gloo's all-reduce goes through shared memory, and tiny networks make communication the
largest part of a step; on GPUs each rank has its own device and NCCL, so the speed-up there is not measured
here (see the GPU section: not measured).

Run: python benchmarks/bench_torchrun.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CONFIG = {
    "dataset": "digits", "channels": 8, "network": {"channels": 8, "layers": 5},
    "stages": [{"cells": 3, "ops": 8, "epochs": 3, "warmup_epochs": 1},
               {"cells": 5, "ops": 4, "epochs": 3, "warmup_epochs": 1}],
    "weights": {"lr": 0.1, "batch_size": 64, "steps_per_epoch": 20},
    "policy": {"samples": 4, "alpha_every": 2},
    "reward": {"objectives": ["acc", "params"], "targets": {"params": "20k"}},
}
# configs/train/digits.yaml's recipe (no cutout, auxiliary head or drop-path) on a smaller network, fewer epochs
TRAIN = {"dataset": "digits", "layers": 5, "channels": 8, "epochs": 6, "batch_size": 64, "lr": 0.05,
         "cutout": False, "auxiliary": False, "drop_path_prob": 0.0, "max_steps_per_epoch": 20}


def launch(nproc: int | None, command: list[str], out: Path, hashes: Path) -> float:
    """Wall seconds of ``tnd COMMAND --out OUT`` in one process (None) or under torchrun with ``nproc``."""
    from tnd import distributed as D

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           "OMP_NUM_THREADS": "1", "TND_TEST_RANK_HASH": str(hashes)}
    for k in D.TORCHRUN_VARS:
        env.pop(k, None)
    if nproc is None:
        cmd = [sys.executable, "-m", "tnd"]
    else:
        exe = Path(sys.executable).with_name("torchrun")
        cmd = ([str(exe)] if exe.exists() else [sys.executable, "-m", "torch.distributed.run"]) + [
            "--standalone", f"--nproc_per_node={nproc}", "-m", "tnd"]
    cmd += [*command, "--out", str(out), "--compute", "cpu", "--no-progress"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    return time.perf_counter() - t0


RUNS = (("1 process", None), ("2 processes (torchrun, gloo)", 2))


def one_and_two(root: Path, command: list[str]) -> tuple[dict[str, float], dict[str, Path], bool]:
    """Wall seconds and run folder of ``command`` in 1 and 2 processes, and whether the 2 ranks ended equal."""
    seconds, outs = {}, {}
    for name, nproc in RUNS:
        out, hashes = root / f"out-{nproc}", root / f"hashes-{nproc}"
        hashes.mkdir()
        seconds[name] = launch(nproc, command, out, hashes)
        outs[name] = out
    rank_hashes = [p.read_text() for p in sorted((root / "hashes-2").glob("rank*.hash"))]
    return seconds, outs, len(rank_hashes) == 2 and rank_hashes[0] == rank_hashes[1]


def run(quick: bool = False) -> str:
    return search_section(quick) + "\n\n" + train_section(quick)


def train_section(quick: bool = False) -> str:
    cfg = {**TRAIN, **({"max_steps_per_epoch": 6} if quick else {})}
    root = Path(tempfile.mkdtemp())
    config = root / "train.yaml"
    config.write_text(yaml.safe_dump(cfg))
    seconds, outs, same_ranks = one_and_two(root, ["train", "--genotype", "DARTS_V2", "--config", str(config)])
    acc = {name: json.loads((out / "train.json").read_text())["test_accuracy"] for name, out in outs.items()}
    two = RUNS[1][0]
    lines = ["## torchrun: `tnd train` with 2 gloo processes against 1 process, same global batch (CPU)", "",
             f"DARTS_V2 at {cfg['layers']} cells, {cfg['channels']} channels on digits, {cfg['epochs']} epochs of "
             f"{cfg['max_steps_per_epoch']} steps, global batch {cfg['batch_size']}.", "",
             "| run | wall s | test accuracy |", "|---|---|---|"]
    lines += [f"| {name} | {seconds[name]:.1f} | {acc[name]:.4f} |" for name, _ in RUNS]
    lines += ["",
              f"- Both ranks end with identical weights and BN running statistics: {'yes' if same_ranks else '**no**'} "
              "(sha256 of the whole state dict, per rank).",
              f"- Speed: {seconds[RUNS[0][0]] / seconds[two]:.2f}x the 1-process speed, for the same reasons as the "
              "search (2 cores shared, tiny network): nothing here predicts GPU scaling (not measured)."]
    return "\n".join(lines)


def search_section(quick: bool = False) -> str:
    import torch

    cfg = json.loads(json.dumps(CONFIG))
    if quick:
        cfg["weights"]["steps_per_epoch"] = 6
    root = Path(tempfile.mkdtemp())
    config = root / "config.yaml"
    config.write_text(yaml.safe_dump(cfg))
    seconds, outs, same_ranks = one_and_two(root, ["search", "--config", str(config)])
    out2 = outs["2 processes (torchrun, gloo)"]
    e1, e2 = (json.loads((o / "result.json").read_text())["genotypes"][0] for o in (outs["1 process"], out2))
    steps = sum(s["epochs"] for s in cfg["stages"]) * cfg["weights"]["steps_per_epoch"]
    lines = ["## torchrun: 2 gloo processes against 1 process, same global batch (CPU)", "",
             f"A small digits search ({len(cfg['stages'])} stages, {steps} weight steps, global batch "
             f"{cfg['weights']['batch_size']}), torch {torch.__version__}, OMP_NUM_THREADS=1 per process.", "",
             "| run | wall s |", "|---|---|"]
    lines += [f"| {name} | {s:.1f} |" for name, s in seconds.items()]
    lines += ["",
              f"- Both ranks end with identical alpha and weights: {'yes' if same_ranks else '**no**'} "
              f"(sha256 of the policy state and the supernet's parameters, per rank).",
              f"- Derived genotype: {'the same' if e1['genotype'] == e2['genotype'] else 'different'} in the two runs "
              f"(supernet accuracy {e1['objectives']['accuracy']:.3f} with 1 process, "
              f"{e2['objectives']['accuracy']:.3f} with 2; params {e1['objectives']['params']:.0f} and "
              f"{e2['objectives']['params']:.0f}). Not expected to be equal: each rank's BN normalises its half of "
              "the batch, and the averaged gradient is summed in another order, so alpha drifts apart.",
              f"- Speed: {seconds['1 process'] / seconds['2 processes (torchrun, gloo)']:.2f}x the 1-process speed. "
              "On 2 CPU cores the two processes share the cores one process uses alone, and process start-up and "
              "gloo's all-reduce of tiny networks dominate: this says nothing about GPU scaling (not measured)."]
    return "\n".join(lines)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="6 steps per epoch")
    print(run(ap.parse_args().quick))
