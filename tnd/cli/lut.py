"""`tnd lut build|show|validate`: measure a device's table, summarise it, check it on whole networks."""

from __future__ import annotations

import argparse

from profilers.energy.base import CHOICES as ENERGY_CHOICES

DEFAULT_CONFIG = "configs/search/demo.yaml"


def add_build_arguments(p: argparse.ArgumentParser) -> None:
    from tnd.lut.runtime import DEFAULT_RUNTIME, RUNTIMES

    p.add_argument("--device", required=True, help="device preset (configs/devices/NAME.yaml), e.g. 1080ti, h100, cpu")
    p.add_argument("--config", action="append", help="search config whose networks the table must cover; repeat "
                   f"for several (default {DEFAULT_CONFIG})")
    p.add_argument("--out", help="table path (default lut/<device>.json)")
    p.add_argument("--resume", action="store_true", help="complete an interrupted build without re-measuring")
    p.add_argument("--quick", action="store_true", help="fewer repeats and short energy windows (rougher)")
    p.add_argument("--energy", default="auto", choices=["auto", *ENERGY_CHOICES], help="energy method (auto: NVML on GPUs, RAPL or TDP estimate on CPU)")
    p.add_argument("--allow-mismatch", action="store_true", help="measure even if the device does not match")
    p.add_argument("--runtime", default=DEFAULT_RUNTIME, choices=RUNTIMES,
                   help="what measures the parts: ONNX Runtime (default) or PyTorch (eager; CUDA-graph replay "
                        "on GPUs where a part allows); recorded in the table")
    p.add_argument("--threads", type=int, help="CPU threads for the runtime (default: the preset's)")
    p.add_argument("--gpu-index", type=int, default=0)
    p.add_argument("--tdp", dest="tdp_w", type=float, help="CPU package TDP in W for --energy tdp-estimate")
    p.add_argument("--tdp-cores", type=int, help="cores that TDP covers")
    p.add_argument("--batch-size", type=int, help="batch size (default: the search config's cost.batch_size)")
    p.add_argument("--fit-predictor", action="store_true", help="fit the regression predictor into the table")
    p.add_argument("--no-progress", action="store_true")


def run_build(args: argparse.Namespace) -> int:
    from tnd.lut.pipeline import BuildRequest, build_lut
    from tnd.lut.show import summarise
    from tnd.search.lut_source import table_coverage

    fields = ("device", "out", "resume", "quick", "energy", "allow_mismatch", "threads", "gpu_index",
              "tdp_w", "tdp_cores", "fit_predictor", "batch_size", "runtime")
    coverage = table_coverage(args.config or [DEFAULT_CONFIG])
    req = BuildRequest(**{f: getattr(args, f) for f in fields}, coverage=coverage, progress=not args.no_progress)
    table = build_lut(req)
    print(summarise(table))
    return 0


def run_show(args: argparse.Namespace) -> int:
    from tnd.lut.show import summarise
    from tnd.lut.table import LookupTable

    print(summarise(LookupTable.load(args.path), top=args.top))
    return 0


def run_validate(args: argparse.Namespace) -> int:
    from tnd.lut.validate import ValidateRequest, validate_lut

    req = ValidateRequest(lut=args.lut, samples=args.samples, seed=args.seed, out=args.out,
                          repeats=args.repeats, save_calibration=not args.no_save, progress=not args.no_progress,
                          runtime=args.runtime)
    validate_lut(req)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    from tnd.lut.runtime import RUNTIMES

    p = sub.add_parser("lut", help="build, show or validate a latency/energy lookup table")
    lsub = p.add_subparsers(dest="lut_command", metavar="ACTION")
    lsub.required = True
    b = lsub.add_parser("build", help="measure every part of a search space on this device (= tools/build_lut.py)")
    add_build_arguments(b)
    b.set_defaults(func=run_build)
    s = lsub.add_parser("show", help="summarise a table")
    s.add_argument("path")
    s.add_argument("--top", type=int, default=5)
    s.set_defaults(func=run_show)
    v = lsub.add_parser("validate", help="predict and measure whole random networks: is the table trustworthy?")
    v.add_argument("--lut", required=True, help="table to check, e.g. lut/cpu.json")
    v.add_argument("--samples", type=int, default=30, help="random networks to build and measure")
    v.add_argument("--seed", type=int, default=0)
    v.add_argument("--repeats", type=int, default=100, help="timed runs per network per pass")
    v.add_argument("--out", help="folder for validate.json and the scatter plot (default: beside the table)")
    v.add_argument("--runtime", choices=RUNTIMES,
                   help="runtime measuring the networks (default: the table's own; the other one is refused)")
    v.add_argument("--no-save", action="store_true", help="do not store the calibration in the table")
    v.add_argument("--no-progress", action="store_true")
    v.set_defaults(func=run_validate)
