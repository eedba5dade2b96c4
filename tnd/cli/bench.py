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
    from tnd.lut.runtime import DEFAULT_RUNTIME, RUNTIMES

    p = sub.add_parser("bench", help="measure an exported ONNX model and compare with the LUT's prediction")
    p.add_argument("model", help="model.onnx written by `tnd export`")
    p.add_argument("--device", default="cpu", help="device preset (configs/devices/NAME.yaml)")
    p.add_argument("--lut", help="table to compare with (default lut/<device>.json where it exists)")
    p.add_argument("--no-lut", action="store_true", help="measure only")
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--runtime", default=DEFAULT_RUNTIME, choices=RUNTIMES,
                   help="ONNX Runtime (default) or PyTorch (the network rebuilt from the model's metadata); "
                        "a table measured with the other runtime is refused")
    p.add_argument("--threads", type=int, help="CPU threads (default: the preset's)")
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--repeats", type=int, default=300)
    p.add_argument("--energy", default="auto", choices=["auto", "none"])
    p.add_argument("--allow-mismatch", action="store_true")
    p.add_argument("--json", help="also write the result as JSON here")
    p.set_defaults(func=run)
