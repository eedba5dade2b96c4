"""Exported networks in ONNX Runtime versus PyTorch eager on CPU, batch 1 and 32, same thread count.

Run: python benchmarks/bench_export.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def torch_ms(model, x, repeats: int) -> float:
    import torch

    with torch.inference_mode():
        for _ in range(3):
            model(x)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - t0)
    return 1000 * float(np.median(times))


def run(quick: bool = False) -> str:
    import torch

    from profilers.latency import OrtModel, RuntimeSettings, time_calls
    from tnd import build_network, export_onnx
    from tnd.space.published import published_genotype

    threads = os.cpu_count() or 1
    torch.set_num_threads(threads)
    cases = [("DARTS_V2 C=16, 8 cells, 32x32 (10 classes)", dict(channels=16, layers=8)),
             ("DARTS_V2 C=36, 20 cells, 32x32 (paper)", dict(channels=36, layers=20))]
    lines = [f"## Exported networks: ONNX Runtime vs PyTorch eager (CPU, {threads} threads each)", "",
             "| network | batch | PyTorch ms | ONNX Runtime ms | speed-up | export max abs diff |",
             "|---|---|---|---|---|---|"]
    for name, kw in cases[:1] if quick else cases:
        torch.manual_seed(0)
        model = build_network(published_genotype("DARTS_V2"), **kw).eval()
        path = Path(tempfile.mkdtemp()) / "model.onnx"
        report = export_onnx(model, path)
        for batch in (1, 32):
            x = torch.randn(batch, 3, 32, 32)
            repeats = (5 if quick else 20) if batch == 32 else (10 if quick else 50)
            pt = torch_ms(model, x, repeats)
            ort = OrtModel(str(path), RuntimeSettings(threads=threads), inputs=[x.numpy()])
            o = time_calls(ort, 3, repeats).median
            lines.append(f"| {name} | {batch} | {pt:.2f} | {o:.2f} | {pt / o:.2f}x | "
                         f"{max(report.max_abs_diff.values()):.1e} |")
    return "\n".join(lines)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    print(run(ap.parse_args().quick))
