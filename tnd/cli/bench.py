"""`tnd bench MODEL.onnx --device NAME`: measured latency (and energy) beside the lookup table's prediction."""

from __future__ import annotations

import argparse


def run(args: argparse.Namespace) -> int:
    from tnd.deploy.bench import BenchRequest, bench_model

    bench_model(BenchRequest(model=args.model, device=args.device, lut=args.lut, use_lut=not args.no_lut,
                             batch_size=args.batch_size, threads=args.threads, warmup=args.warmup,
                             repeats=args.repeats, energy=args.energy, allow_mismatch=args.allow_mismatch,
                             json_out=args.json, runtime=args.runtime))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    from profilers.runtime import DEFAULT_RUNTIME, RUNTIMES

    p = sub.add_parser("bench", help="measure an exported ONNX model and compare with the LUT's prediction",
                       description="Measure an exported ONNX model on this device (latency, energy) next to the "
                                   "lookup table's prediction for its genotype.")
    p.add_argument("model", help="model.onnx written by `tnd export`")
    p.add_argument("--device", default="cpu", help="device preset name (shipped, or your own in $TND_PRESETS)")
    p.add_argument("--lut", help="table to compare with (default: the device's table where one exists: "
                   "./lut/<device>.json, your folder's, or the one shipped with tnd)")
    p.add_argument("--no-lut", action="store_true", help="measure only")
    p.add_argument("--batch-size", type=int, default=1, help="batch size of the measured inputs")
    p.add_argument("--runtime", default=DEFAULT_RUNTIME, choices=RUNTIMES,
                   help="ONNX Runtime (default) or PyTorch (the network rebuilt from the model's metadata); "
                        "a table measured with the other runtime is refused")
    p.add_argument("--threads", type=int, help="CPU threads (default: the preset's)")
    p.add_argument("--warmup", type=int, default=50, help="untimed runs before measuring")
    p.add_argument("--repeats", type=int, default=300, help="timed runs")
    p.add_argument("--energy", default="auto", choices=["auto", "none"],
                   help="auto: the preset's energy meter (NVML, RAPL or a TDP estimate); none: latency only")
    p.add_argument("--allow-mismatch", action="store_true", help="measure even if this machine does not match "
                   "the device preset")
    p.add_argument("--json", help="also write the result as JSON here")
    p.set_defaults(func=run)
