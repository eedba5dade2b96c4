"""The paper preset's search on one GPU: step times per stage, projected wall time, peak memory.

Goal (issue 12): the whole preset (configs/search/cifar10.yaml: 5/11/17 cells, 3 x 16 epochs over
25k CIFAR-10 images) in <= 1 GPU-hour on one H100, and a sampled-supernet step <= 1.1x the same
network trained standalone. GPU only: on a machine without CUDA it says so and exits 0.

Per stage it times, at the preset's shapes and with the AMP policy of tnd.compute, one path drawn from a
policy shrunk to the stage's ops per edge (the search's own sampling: two inputs per node by default):
  - the sampled-supernet step: the loop's own ``ProgressiveSearch._weight_step`` on the stage's supernet;
  - the reward forward: the loop's ``_forward`` under no_grad at the policy's validation batch (what each
    reward sample costs);
  - the standalone step: one SGD step of the same path's network built on its own with tnd.space;
  - a GPU-resident batch: order, crop, flip and normalisation of one batch on the device.
The projection counts every weight step and every reward sample of the preset; epoch-end
evaluation, alpha updates and checkpoints are not in it. ``--real-run STEPS`` also runs the search itself,
cut short, on fake CIFAR-format data and sets its wall time beside the projection of the same schedule.

Run: python benchmarks/bench_search_gpu.py [--config configs/search/cifar10.yaml] [--steps 50] [--no-amp]
     [--real-run STEPS] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import math
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


def _timings(fn, steps: int, warmup: int) -> tuple[float, float]:
    """(GPU ms, host ms) per call: CUDA events around ``steps`` back-to-back calls; then the host's time to
    issue one call onto an idle GPU (synchronised before and after, median of 10). Host time close to GPU
    time means the step is bound by launching kernels (Python and dispatch), not by the GPU's work."""
    import statistics

    import torch

    ms = _time_cuda(fn, steps, warmup)
    host = []
    for _ in range(10):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        host.append((time.perf_counter() - t0) * 1000)
    torch.cuda.synchronize()
    return ms, statistics.median(host)


def stage_policy(cfg: Any, stage: Any, seed: int) -> Any:
    """The policy as the stage would hold it: random alpha (seeded), shrunk to the stage's ops per edge by the
    search's own ``shrink``. Which ops survive depends on the search; the step time depends mostly on the depth
    and on how many edges carry convolutions."""
    import torch

    g = torch.Generator().manual_seed(seed)
    policy = cfg.search_space().new_policy(cfg, g)
    policy.reset_alpha(init_std=1.0, generator=g)
    policy.shrink({c: stage.keep(c) for c in policy.cells})
    return policy


PATH_SEED = 10_000   # path_seed(i)'s stream: apart from the policy's alpha seeds (0, 1, 2)


def path_seed(seed: int) -> Any:
    """A generator that draws the same architecture from the policy every time it is reseeded."""
    import torch

    return torch.Generator().manual_seed(PATH_SEED + seed)


def standalone_network(path: dict[str, list[str]], shape: Any) -> Any:
    """The sampled path built on its own: the edges the sample chose (two inputs per node under the default
    ``derived`` sampling), one op each, ``none`` elsewhere."""
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
    ms, host_ms = _timings(step, steps, warmup)
    return {"ms": ms, "host_ms": host_ms, "peak_mb": torch.cuda.max_memory_allocated(device) / 2**20}


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


def loop_harness(cfg: Any, amp: Any, device: Any) -> Any:
    """What ``ProgressiveSearch._weight_step`` and ``_forward`` read of the search (one process)."""
    from types import SimpleNamespace

    return SimpleNamespace(cfg=cfg, amp=amp, device=device, world=1, rank=0)


def sampled_supernet_step(cfg: Any, stage: Any, policy: Any, seed: int, amp: Any, device: Any, steps: int,
                          warmup: int) -> dict[str, float]:
    """The search loop's own weight step (``ProgressiveSearch._weight_step``: sample a path from the policy,
    forward through the stage's supernet, loss, backward, clip, SGD) and its reward forward
    (``_forward`` under no_grad, BN on batch statistics, as ``_alpha_step`` scores a sample), on the stage's
    supernet with the ops the policy keeps alive. The path generator is reseeded before each call, so every
    step trains the same path as the standalone network it is compared with."""
    import torch

    from tnd.search.progressive import ProgressiveSearch, Stage

    torch.manual_seed(0)
    alive = {c: policy.alive_ops(c) for c in policy.cells}
    supernet = cfg.search_space().build_supernet(cfg, alive, stage).to(device).train()
    w = cfg.weights
    opt = torch.optim.SGD(supernet.parameters(), lr=w.lr, momentum=w.momentum, weight_decay=w.weight_decay)
    st = Stage(0, 0, None, stage, policy, supernet, opt, None, amp.grad_scaler())
    loop = loop_harness(cfg, amp, device)
    shape = cfg.supernet_shape(stage)
    x = torch.randn(w.batch_size, shape.in_channels, shape.input_size, shape.input_size, device=device)
    y = torch.randint(0, shape.num_classes, (w.batch_size,), device=device)
    g = path_seed(seed)

    def step() -> None:
        g.manual_seed(PATH_SEED + seed)
        ProgressiveSearch._weight_step(loop, st, x, y, g, uniform=False)

    torch.cuda.reset_peak_memory_stats(device)
    ms, host_ms = _timings(step, steps, warmup)
    peak = torch.cuda.max_memory_allocated(device) / 2**20
    xv = torch.randn(cfg.policy.val_batch_size, shape.in_channels, shape.input_size, shape.input_size, device=device)
    choice = policy.sample(path_seed(seed))

    def score() -> None:
        with torch.no_grad():
            ProgressiveSearch._forward(loop, st, xv, choice)

    return {"ms": ms, "host_ms": host_ms, "peak_mb": peak, "reward_ms": _time_cuda(score, steps, warmup)}


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
        policy = stage_policy(cfg, stage, seed=i)
        path = policy.op_names(policy.sample(path_seed(i)))
        alone = standalone_step(path, shape, cfg.weights.batch_size, amp, device, steps, warmup)
        sampled = sampled_supernet_step(cfg, stage, policy, i, amp, device, steps, warmup)
        fwd = sampled["reward_ms"]
        n_steps, n_samples = stage_steps(cfg, stage, n_train)
        seconds = (n_steps * (sampled["ms"] + data_ms) + n_samples * fwd) / 1000
        standalone_s = (n_steps * (alone["ms"] + data_ms) + n_samples * fwd) / 1000
        projected += seconds
        projected_standalone += standalone_s
        report["stages"].append({
            "cells": stage.cells, "ops": stage.ops, "weight_steps": n_steps, "reward_samples": n_samples,
            "path": path, "standalone_step_ms": alone["ms"], "standalone_peak_mb": alone["peak_mb"],
            "reward_forward_ms": fwd, "data_batch_ms": data_ms,
            "sampled_step_ms": sampled["ms"], "sampled_peak_mb": sampled["peak_mb"],
            "standalone_host_ms": alone["host_ms"], "sampled_host_ms": sampled["host_ms"],
            "sampled_vs_standalone": sampled["ms"] / alone["ms"],
            "steps_per_s": 1000 / (sampled["ms"] + data_ms)})
    report["projected_hours"] = projected / 3600
    report["projected_hours_at_standalone_speed"] = projected_standalone / 3600
    return report


def fake_cifar10(root: Path, seed: int = 0) -> Path:
    """CIFAR-10's files in CIFAR's format (5 x 10,000 training images, 10,000 test) holding random pixels:
    the real dataset cannot be fetched on the device machine, and step times do not depend on the pixels."""
    import pickle

    import numpy as np

    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, size=(10_000, 3072), dtype=np.uint8)
        with (folder / name).open("wb") as f:
            pickle.dump({b"data": data, b"labels": rng.integers(0, 10, 10_000).tolist(), b"batch_label": b"x"}, f)
    return root


def real_run(config: str, report: dict[str, Any], steps_per_epoch: int, epochs: int, work: Path) -> dict[str, Any]:
    """The search itself (``run_search`` on CUDA) with each stage cut to ``epochs`` epochs (the first weights
    only) of ``steps_per_epoch`` steps, timed whole, beside the projection of the same schedule from the
    stage figures above: checks that the projection counts what the loop spends."""
    import torch

    from tnd.search.config import load_search_config
    from tnd.search.run import run_search

    overrides = {"data_dir": str(fake_cifar10(work / "data")), "compute": "cuda",
                 "weights.steps_per_epoch": steps_per_epoch,
                 "stages": [{"cells": st["cells"], "ops": st["ops"], "epochs": epochs, "warmup_epochs": 1}
                            for st in report["stages"]]}
    cfg = load_search_config(config, overrides)
    per_epoch = steps_per_epoch // cfg.policy.alpha_every * cfg.policy.samples
    projected = sum((epochs * steps_per_epoch * (st["sampled_step_ms"] + st["data_batch_ms"])
                     + (epochs - 1) * per_epoch * st["reward_forward_ms"]) / 1000 for st in report["stages"])
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    run_search(cfg, work / "run", progress=False, echo=lambda line: None)
    torch.cuda.synchronize()
    wall = time.perf_counter() - t0
    result = json.loads((work / "run" / "result.json").read_text())
    return {"steps_per_epoch": steps_per_epoch, "epochs_per_stage": epochs, "wall_s": wall,
            "projected_s": projected, "compute": result["run"]["compute"], "amp": result["run"]["amp"],
            "search_s": result["search_seconds"], "scoring_s": result["scoring_seconds"]}


def format_report(r: dict[str, Any]) -> str:
    def num(v: Any, fmt: str) -> str:
        return "not measured" if v is None else format(v, fmt)

    lines = [f"## Paper preset search on {r['device']} (torch {r['torch']}, AMP {r['amp']})", "",
             "| cells | ops | weight steps | reward samples | standalone step ms | sampled step ms | sampled / standalone "
             "| host ms to issue a step (standalone / sampled) | reward fwd ms | batch ms | peak MB (standalone / sampled) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in r["stages"]:
        lines.append(f"| {s['cells']} | {s['ops']} | {s['weight_steps']} | {s['reward_samples']} | "
                     f"{s['standalone_step_ms']:.2f} | {num(s['sampled_step_ms'], '.2f')} | "
                     f"{num(s['sampled_vs_standalone'], '.2f')} | {s['standalone_host_ms']:.2f} / "
                     f"{s['sampled_host_ms']:.2f} | {s['reward_forward_ms']:.2f} | "
                     f"{s['data_batch_ms']:.3f} | {s['standalone_peak_mb']:.0f} / {num(s['sampled_peak_mb'], '.0f')} |")
    run = r.get("real_run")
    if run:
        scoring = f"scoring trainings: {run['scoring_s']:.1f} s" if run["scoring_s"] else "no scoring trainings"
        lines += ["", f"The search itself (`run_search` on {run['compute']}), each stage cut to "
                      f"{run['epochs_per_stage']} epochs of {run['steps_per_epoch']} steps (the first weights only): "
                      f"{run['wall_s']:.1f} s wall (the search's own count: {num(run['search_s'], '.1f')} s; "
                      f"{scoring}); {run['projected_s']:.1f} s projected from the figures above (the rest: data "
                      "loading, stage builds, the cost model, alpha updates)."]
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
    p.add_argument("--real-run", type=int, metavar="STEPS", default=0,
                   help="also run the search itself with each stage cut to 2 epochs of STEPS steps, on fake "
                        "CIFAR-format data, and time it against the projection")
    args = p.parse_args(argv)
    r = run(args.config, args.steps, args.warmup, not args.no_amp)
    if r is None:
        print("bench_search_gpu: needs a CUDA GPU and there is none here; not measured")
        return 0
    if args.real_run:
        import tempfile

        with tempfile.TemporaryDirectory() as work:
            r["real_run"] = real_run(args.config, r, args.real_run, 2, Path(work))
    print(format_report(r))
    if args.json:
        Path(args.json).write_text(json.dumps(r, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
