"""Cost of one supernet training step: sampled path vs the same network standalone vs DARTS's mixture.

Each variant runs in a fresh process so its peak memory is its own: on CPU the peak resident set
size during the timed steps minus the size just before them; on CUDA torch's peak allocated bytes.
Run: python benchmarks/bench_supernet.py [--quick] [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import time

VARIANTS = ("sampled", "standalone", "mixture")


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def _reset_peak_rss() -> None:
    """Linux: writing 5 to clear_refs resets the peak resident set size (VmHWM) to the current size."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _peak_rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def measure(variant: str, channels: int, layers: int, size: int, batch: int, steps: int, device: str) -> dict:
    import torch

    from tnd.search.policy import Policy
    from tnd.search.supernet import Supernet
    from tnd.space import PRIMITIVES, NetworkShape
    from tnd.space.network import Network

    torch.manual_seed(0)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    shape = NetworkShape(channels, layers, 10, 3, size)
    ops = {c: list(PRIMITIVES) for c in ("normal", "reduce")}
    rng = random.Random(0)
    # A sampled architecture without `none`, so all three variants compute the same network.
    choice = {c: [rng.choice(PRIMITIVES[1:]) for _ in range(14)] for c in ops}
    policy = Policy(ops)
    if variant == "standalone":
        model = Network(policy.architecture({c: torch.tensor([PRIMITIVES.index(o) for o in choice[c]])
                                             for c in ops}), shape)
        forward = lambda x: model(x)  # noqa: E731
    else:
        model = Supernet(ops, {c: [list(PRIMITIVES)] * 14 for c in ops}, shape, variant)
        weights = {c: policy.probs(c).to(device) for c in ops}
        forward = (lambda x: model(x, choice=choice)) if variant == "sampled" else (lambda x: model(x, weights=weights))
    model.to(device).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, 3, size, size, device=device)
    y = torch.randint(0, 10, (batch,), device=device)

    def step() -> None:
        loss = torch.nn.functional.cross_entropy(forward(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    _reset_peak_rss()
    rss0 = _rss_mb()
    step()  # warm-up (allocations, optimizer state); counted in the peak, not in the time
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    if device == "cuda":
        mem = (torch.cuda.max_memory_allocated() - base) / 2**20
    else:
        mem = _peak_rss_mb() - rss0
    return {"variant": variant, "step_ms": 1000 * statistics.median(times), "peak_mb": mem}


def run(quick: bool = False, device: str = "cpu") -> str:
    cfg = dict(channels=16, layers=5, size=32, batch=32, steps=3 if quick else 10)
    rows = []
    for v in VARIANTS:
        out = subprocess.run([sys.executable, __file__, "--variant", v, "--device", device,
                              "--json", json.dumps(cfg)], capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    by = {r["variant"]: r for r in rows}
    s, a, m = by["sampled"], by["standalone"], by["mixture"]
    lines = [
        "## Supernet training step (benchmarks/bench_supernet.py)",
        "",
        f"One SGD step, C={cfg['channels']}, {cfg['layers']} cells, {cfg['size']}x{cfg['size']}x3, batch "
        f"{cfg['batch']}, device {device}; median of {cfg['steps']} steps after one warm-up; peak memory = "
        "peak memory above the built model during the steps (activations, gradients, optimizer state), each variant in its own process.",
        "",
        "| variant | step (ms) | peak extra memory (MiB) | time vs standalone | memory vs standalone |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['variant']} | {r['step_ms']:.1f} | {r['peak_mb']:.0f} | "
                     f"{r['step_ms'] / a['step_ms']:.2f}x | {r['peak_mb'] / max(a['peak_mb'], 1e-9):.2f}x |")
    ok = s["step_ms"] <= 1.2 * a["step_ms"]
    lines += ["", f"Sampled path costs {s['step_ms'] / a['step_ms']:.2f}x the standalone network's time "
                  f"(goal: within 1.2x: {'met' if ok else 'NOT met'}); the mixture costs "
                  f"{m['step_ms'] / s['step_ms']:.1f}x the sampled path's time and "
                  f"{m['peak_mb'] / max(s['peak_mb'], 1e-9):.1f}x its memory.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--variant", choices=VARIANTS)
    ap.add_argument("--json")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if args.variant:
        print(json.dumps(measure(args.variant, device=args.device, **json.loads(args.json))))
    else:
        print(run(args.quick, args.device))
