"""`tnd lut build|show|validate|reference`: measure a device's table, summarise it, check it on whole networks,
and measure the reference networks that describe a device to a conditioned search."""

from __future__ import annotations

import argparse
from pathlib import Path

from profilers.energy.base import CHOICES as ENERGY_CHOICES
from tnd.errors import TndError
from tnd.presets import DEFAULT_LUT_CONFIG


def add_build_arguments(p: argparse.ArgumentParser) -> None:
    from profilers.runtime import DEFAULT_RUNTIME, RUNTIMES

    p.add_argument("--device", required=True,
                   help="device preset name, e.g. 1080ti, h100, cpu (shipped, or your own "
                        "$TND_PRESETS/devices/NAME.yaml)")
    p.add_argument("--config", action="append", help="search preset name or config file whose networks the table "
                   f"must cover; repeat for several (default: {DEFAULT_LUT_CONFIG})")
    p.add_argument("--out", help="table path (default: lut/<device>.json)")
    p.add_argument("--resume", action="store_true", help="complete an interrupted build without re-measuring")
    p.add_argument("--quick", action="store_true", help="fewer repeats and short energy windows (rougher)")
    p.add_argument("--energy", default="auto", choices=["auto", *ENERGY_CHOICES],
                   help="energy method (auto: NVML on GPUs, RAPL or TDP estimate on CPU)")
    p.add_argument("--allow-mismatch", action="store_true", help="measure even if the device does not match")
    p.add_argument("--runtime", default=DEFAULT_RUNTIME, choices=RUNTIMES,
                   help="what measures the parts: ONNX Runtime or PyTorch (eager; CUDA-graph replay "
                        "on GPUs where a part allows); recorded in the table")
    p.add_argument("--threads", type=int, help="CPU threads for the runtime (default: the preset's)")
    p.add_argument("--gpu-index", type=int, default=0, help="which NVIDIA GPU to measure (NVML index)")
    p.add_argument("--tdp", dest="tdp_w", type=float,
                   help="CPU package TDP in W for --energy tdp-estimate (default: the preset's)")
    p.add_argument("--tdp-cores", type=int, help="cores that TDP covers (default: the preset's, else all)")
    p.add_argument("--batch-size", type=int, help="batch size (default: the search config's cost.batch_size)")
    p.add_argument("--fit-predictor", action="store_true", help="fit the regression predictor into the table")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def add_table_argument(p: argparse.ArgumentParser) -> None:
    """The table as a positional PATH, with ``--lut PATH`` accepted as well (the same in show and validate)."""
    p.add_argument("table", nargs="?", metavar="TABLE",
                   help="the table: a lut/<device>.json path or a device name (cpu: the shipped CPU table)")
    p.add_argument("--lut", dest="lut_flag", metavar="TABLE", help="the same as the positional TABLE")


def table_from(args: argparse.Namespace) -> str:
    from tnd.presets import table_path

    given = [t for t in (args.table, args.lut_flag) if t is not None]
    if not given:
        raise TndError("name the table: e.g. `tnd lut show lut/cpu.json` or `tnd lut show cpu`")
    if len(given) == 2 and given[0] != given[1]:
        raise TndError(f"two tables given ({given[0]} and --lut {given[1]}); pass one")
    return str(table_path(given[0]))


def run_build(args: argparse.Namespace) -> int:
    from tnd.lut.pipeline import BuildRequest, build_lut
    from tnd.lut.show import summarise
    from tnd.search.lut_source import table_coverage

    fields = ("device", "out", "resume", "quick", "energy", "allow_mismatch", "threads", "gpu_index",
              "tdp_w", "tdp_cores", "fit_predictor", "batch_size", "runtime")
    coverage = table_coverage(args.config or [DEFAULT_LUT_CONFIG])
    req = BuildRequest(**{f: getattr(args, f) for f in fields}, coverage=coverage, progress=not args.no_progress)
    table = build_lut(req)
    print(summarise(table))
    return 0


def run_show(args: argparse.Namespace) -> int:
    from tnd.lut.show import summarise
    from tnd.lut.table import LookupTable

    print(summarise(LookupTable.load(table_from(args)), top=args.top))
    return 0


def run_validate(args: argparse.Namespace) -> int:
    from tnd.lut.validate import ValidateRequest, validate_lut
    from tnd.presets import SHIPPED_DIR

    table = table_from(args)
    # Validating writes beside the table and stores a calibration in it: never into the installed package.
    if Path(table).absolute().is_relative_to(SHIPPED_DIR.absolute()) and not (args.no_save and args.out):
        raise TndError(f"{table} is the table installed with tnd; copy it (e.g. to lut/{Path(table).name}) and "
                       "validate the copy, or pass --no-save --out DIR")
    req = ValidateRequest(lut=table, samples=args.samples, seed=args.seed, out=args.out,
                          repeats=args.repeats, save_calibration=not args.no_save, progress=not args.no_progress,
                          runtime=args.runtime)
    validate_lut(req)
    return 0


def run_reference(args: argparse.Namespace) -> int:
    from tnd.lut import reference

    if args.from_table:
        if not args.column:
            raise TndError("--from-table needs --column COLUMN (the table's latency column in ms, e.g. "
                           "latency_ms_pixel3)")
        m = reference.from_table(args.from_table, args.column, args.device)
    else:
        if args.column:
            raise TndError("--column reads a tabular benchmark's column; give it with --from-table FILE")
        m = reference.measure(args.device, args.runtime, args.threads, args.warmup, args.repeats,
                              args.allow_mismatch, progress=print)
    out = Path(args.out or f"lut/{m.device}.reference.json")
    m.save(out)
    print(f"{len(m.archs)} reference networks of {m.device} ({m.source}: {m.detail}): "
          f"{min(m.latency_ms):.4g}-{max(m.latency_ms):.4g} ms -> {out}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    from profilers.runtime import RUNTIMES

    p = sub.add_parser("lut", help="build, show or validate a latency/energy lookup table; measure a device's "
                       "reference networks", description="Build, show or validate a latency/energy lookup table "
                       "(tnd-lut/1), or measure the reference networks that describe a device (tnd-reference/1).")
    lsub = p.add_subparsers(dest="lut_command", metavar="ACTION")
    lsub.required = True
    b = lsub.add_parser("build", help="measure every part of a search space on this device (= tools/build_lut.py)",
                        description="Measure every part of the networks a search can build on this device and "
                                    "write the table (lut/<device>.json).")
    add_build_arguments(b)
    b.set_defaults(func=run_build)
    s = lsub.add_parser("show", help="summarise a table", description="Summarise a table: device, settings, "
                        "the slowest and most energy-hungry parts.")
    add_table_argument(s)
    s.add_argument("--top", type=int, default=5, help="how many of the costliest parts to list")
    s.set_defaults(func=run_show)
    v = lsub.add_parser("validate", help="predict and measure whole random networks: is the table trustworthy?",
                        description="Predict and measure whole random networks on this device: rank correlation, "
                                    "error, and a calibration stored in the table.")
    add_table_argument(v)
    v.add_argument("--samples", type=int, default=30, help="random networks to build and measure")
    v.add_argument("--seed", type=int, default=0, help="seed of the random networks")
    v.add_argument("--repeats", type=int, default=100, help="timed runs per network per pass")
    v.add_argument("--out", help="folder for validate.json and the scatter plot (default: beside the table)")
    v.add_argument("--runtime", choices=RUNTIMES,
                   help="runtime measuring the networks (default: the table's own; the other one is refused)")
    v.add_argument("--no-save", action="store_true", help="do not store the calibration in the table")
    v.add_argument("--no-progress", action="store_true", help="no progress bar")
    v.set_defaults(func=run_validate)
    r = lsub.add_parser("reference", help="measure the reference networks that describe a device to a conditioned "
                        "search", description="Measure the latency of the NB201 space's 10 fixed reference networks "
                        "on this device (or read them from a tabular benchmark's column): all `tnd derive RUN "
                        "--device-features FILE` needs to derive a conditioned run's front for a device it never saw.")
    r.add_argument("--device", help="device preset name (measuring), or the name to record (--from-table; default "
                   "the column)")
    r.add_argument("--out", help="where to write (default lut/<device>.reference.json)")
    r.add_argument("--from-table", metavar="FILE", help="read the latencies from a tabular benchmark instead")
    r.add_argument("--column", help="with --from-table: the latency column (ms)")
    r.add_argument("--runtime", default="onnxruntime", choices=RUNTIMES, help="what times the networks")
    r.add_argument("--threads", type=int, help="CPU threads for the runtime (default: the preset's)")
    r.add_argument("--warmup", type=int, default=20, help="untimed runs per network")
    r.add_argument("--repeats", type=int, default=100, help="timed runs per network (the median is kept)")
    r.add_argument("--allow-mismatch", action="store_true", help="measure even if the device does not match")
    r.set_defaults(func=run_reference)
