"""The paper preset's search on one GPU: step times per stage, projected wall time, peak memory.

Goal (issue 12): the whole preset (configs/search/cifar10.yaml: 5/11/17 cells, 3 x 16 epochs over
25k CIFAR-10 images) in <= 1 GPU-hour on one H100, and a sampled-supernet step <= 1.1x the same
network trained standalone. GPU only: on a machine without CUDA it says so and exits 0.

Per stage it times, at the preset's shapes and with the AMP policy of tnd.compute:
  - the standalone step: one SGD step of the sampled path's network (all 14 edges of each cell, one
    op each, as the sampled supernet runs it) built on its own with tnd.space;
  - the reward forward: one no-grad forward at the policy's validation batch (what each reward
    sample costs);
  - a GPU-resident batch: order, crop, flip and normalisation of one batch on the device;
  - the sampled-supernet step: ``sampled_supernet_step`` (to be filled in with the search loop).
The projection counts every weight step and every reward sample of the preset; epoch-end
evaluation, alpha updates and checkpoints are not in it.

Run: python benchmarks/bench_search_gpu.py [--config configs/search/cifar10.yaml] [--steps 50] [--no-amp]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _time_cuda(fn, steps: int, warmup: int) -> float:
    """Milliseconds per call of ``fn`` over ``steps`` back-to-back calls (CUDA events, one final sync)."""
    import torch

    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(steps):
        fn()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / steps


def sampled_path(ops: dict[str, list[str]], seed: int = 0) -> dict[str, list[str]]:
    """One op per candidate edge and cell type, never ``none``: the network a sampled step trains.

    Drawn from the full op sets at every stage: which ops survive shrinking depends on the search, and
    the step time depends mostly on the depth and on how many edges carry convolutions."""
    from tnd.space.genotype import N_EDGES

    rng = random.Random(seed)
    return {cell: [rng.choice([o for o in names if o != "none"]) for _ in range(N_EDGES)] for cell, names in ops.items()}


def standalone_network(path: dict[str, list[str]], shape: Any) -> Any:
    from tnd.space.genotype import Architecture
    from tnd.space.network import Network

    return Network(Architecture.from_sample(path["normal"], path["reduce"]), shape)


def standalone_step(path: dict[str, list[str]], shape: Any, batch: int, amp: Any, device: Any, steps: int,
                    warmup: int) -> dict[str, float]:
    """One SGD step (forward, loss, backward, clip, step) of the path's network alone: ms and peak MB."""
    import torch

    torch.manual_seed(0)
    model = standalone_network(path, shape).to(device).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4)
    scaler = amp.grad_scaler()
    x = torch.randn(batch, shape.in_channels, shape.input_size, shape.input_size, device=device)
    y = torch.randint(0, shape.num_classes, (batch,), device=device)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        with amp.autocast():
            out = model(x)
            loss = torch.nn.functional.cross_entropy(out[0] if isinstance(out, tuple) else out, y)
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        scaler.step(opt)
        scaler.update()

    torch.cuda.reset_peak_memory_stats(device)
    ms = _time_cuda(step, steps, warmup)
    return {"ms": ms, "peak_mb": torch.cuda.max_memory_allocated(device) / 2**20}


def reward_forward(path: dict[str, list[str]], shape: Any, batch: int, amp: Any, device: Any, steps: int,
                   warmup: int) -> float:
    """Milliseconds of one no-grad, eval-mode forward at the validation batch (one reward sample)."""
    import torch

    model = standalone_network(path, shape).to(device).eval()
    x = torch.randn(batch, shape.in_channels, shape.input_size, shape.input_size, device=device)

    def forward() -> None:
        with torch.no_grad(), amp.autocast():
            model(x)

    return _time_cuda(forward, steps, warmup)


def data_batch(device: Any, batch: int, steps: int, warmup: int) -> float:
    """Milliseconds to draw one augmented batch from a CIFAR-sized split resident on the GPU."""
    import torch

    from tnd.data.datasets import CIFAR_MEAN, CIFAR_STD, Split

    g = torch.Generator().manual_seed(0)
    split = Split(torch.randint(0, 256, (25_000, 3, 32, 32), dtype=torch.uint8, generator=g),
                  torch.randint(0, 10, (25_000,), generator=g), CIFAR_MEAN, CIFAR_STD).to(device)
    it = iter(())

    def draw() -> None:
        nonlocal it
        try:
            next(it)
        except StopIteration:
            it = split.batches(batch, shuffle=True, generator=g, augment=True, cutout_length=16)
            next(it)

    return _time_cuda(draw, steps, warmup)


def sampled_supernet_step(cfg: Any, stage: Any, amp: Any, device: Any, steps: int, warmup: int) -> dict[str, float] | None:
    """TO FILL with the search loop (issue 12): one weight step of the stage's supernet on a sampled path.

    Build the stage's supernet at ``cfg.supernet_shape(stage)`` with ``stage.ops`` ops per edge, draw
    the same path as ``sampled_path`` (so the ratio to ``standalone_step`` compares like with like),
    and time the loop's own step function with ``_time_cuda``; return {"ms": ..., "peak_mb": ...}.
    None until then: the report says "not measured".
    """
    return None


def stage_steps(cfg: Any, stage: Any, n_train: int) -> tuple[int, int]:
    """(weight steps, reward samples) of one stage, as the loop runs them."""
    steps = math.ceil(n_train / cfg.weights.batch_size)
    if cfg.weights.steps_per_epoch:
        steps = min(steps, cfg.weights.steps_per_epoch)
    alpha_epochs = stage.epochs - stage.warmup_epochs
    return stage.epochs * steps, alpha_epochs * (steps // cfg.policy.alpha_every) * cfg.policy.samples


def run(config: str, steps: int, warmup: int, use_amp: bool) -> dict[str, Any] | None:
    import torch

    if not torch.cuda.is_available():
        return None
    from tnd.compute import amp_policy, configure_backends, describe_compute, resolve_compute
    from tnd.search.config import load_search_config

    cfg = load_search_config(config)
    device = resolve_compute("cuda")
    configure_backends(device)
    amp = amp_policy(device, enabled=use_amp)
    n_train = 25_000  # CIFAR-10's 50k training images, half for weights and half for rewards
    report: dict[str, Any] = {"device": describe_compute(device), "torch": torch.__version__, "amp": amp.describe(),
                              "config": config, "stages": []}
    data_ms = data_batch(device, cfg.weights.batch_size, steps, warmup)
    projected, projected_standalone = 0.0, 0.0
    for i, stage in enumerate(cfg.stages):
        shape = cfg.supernet_shape(stage)
        path = sampled_path(cfg.op_sets(), seed=i)
        alone = standalone_step(path, shape, cfg.weights.batch_size, amp, device, steps, warmup)
        fwd = reward_forward(path, shape, cfg.policy.val_batch_size, amp, device, steps, warmup)
        sampled = sampled_supernet_step(cfg, stage, amp, device, steps, warmup)
        n_steps, n_samples = stage_steps(cfg, stage, n_train)
        step_ms = (sampled or alone)["ms"]
        seconds = (n_steps * (step_ms + data_ms) + n_samples * fwd) / 1000
        standalone_s = (n_steps * (alone["ms"] + data_ms) + n_samples * fwd) / 1000
        projected += seconds
        projected_standalone += standalone_s
        report["stages"].append({
            "cells": stage.cells, "ops": stage.ops, "weight_steps": n_steps, "reward_samples": n_samples,
            "standalone_step_ms": alone["ms"], "standalone_peak_mb": alone["peak_mb"],
            "reward_forward_ms": fwd, "data_batch_ms": data_ms,
            "sampled_step_ms": sampled["ms"] if sampled else None,
            "sampled_peak_mb": sampled["peak_mb"] if sampled else None,
            "sampled_vs_standalone": sampled["ms"] / alone["ms"] if sampled else None,
            "steps_per_s": 1000 / (step_ms + data_ms)})
    measured = all(s["sampled_step_ms"] is not None for s in report["stages"])
    report["projected_hours"] = projected / 3600 if measured else None
    report["projected_hours_at_standalone_speed"] = projected_standalone / 3600
    return report


def format_report(r: dict[str, Any]) -> str:
    def num(v: Any, fmt: str) -> str:
        return "not measured" if v is None else format(v, fmt)

    lines = [f"## Paper preset search on {r['device']} (torch {r['torch']}, AMP {r['amp']})", "",
             "| cells | ops | weight steps | reward samples | standalone step ms | sampled step ms | sampled / standalone "
             "| reward fwd ms | batch ms | peak MB (standalone / sampled) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for s in r["stages"]:
        lines.append(f"| {s['cells']} | {s['ops']} | {s['weight_steps']} | {s['reward_samples']} | "
                     f"{s['standalone_step_ms']:.2f} | {num(s['sampled_step_ms'], '.2f')} | "
                     f"{num(s['sampled_vs_standalone'], '.2f')} | {s['reward_forward_ms']:.2f} | "
                     f"{s['data_batch_ms']:.3f} | {s['standalone_peak_mb']:.0f} / {num(s['sampled_peak_mb'], '.0f')} |")
    lines += ["", f"Projected whole search: {num(r['projected_hours'], '.2f')} GPU-hours "
                  f"(at the standalone network's speed: {r['projected_hours_at_standalone_speed']:.2f}); goal <= 1 "
                  "on one H100, sampled step <= 1.1x standalone."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", default=str(ROOT / "configs" / "search" / "cifar10.yaml"))
    p.add_argument("--steps", type=int, default=50, help="timed steps per measurement")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--no-amp", action="store_true", help="float32 throughout")
    p.add_argument("--json", help="also write the figures here")
    args = p.parse_args(argv)
    r = run(args.config, args.steps, args.warmup, not args.no_amp)
    if r is None:
        print("bench_search_gpu: needs a CUDA GPU and there is none here; not measured")
        return 0
    print(format_report(r))
    if args.json:
        Path(args.json).write_text(json.dumps(r, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
