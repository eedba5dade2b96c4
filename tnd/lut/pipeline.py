"""``tools/build_lut.py`` / ``tnd lut build``: from a device preset to a measured ``lut/<device>.json``.

Order matters: detect the device (NVML refuses first on a GPU-less machine), check it is the one
named, check the software stack can run on it, then measure. Nothing is measured on a device or
provider other than the one the table will be labelled with.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from profilers.devices import check_device, detect, drift_warnings, load_preset
from profilers.energy import make_energy_meter
from tnd.errors import TndError
from tnd.lut.build import Coverage, LutBuilder, MeasureOptions, check_resumable, new_table
from tnd.lut.predictor import fit_predictor
from tnd.lut.runtime import DEFAULT_RUNTIME, call_overhead, check_runtime_stack, describe, runtime_settings
from tnd.lut.table import LookupTable


@dataclass
class BuildRequest:
    device: str
    coverage: Coverage              # the parts and shapes to measure (e.g. a search config's)
    out: str | None = None
    resume: bool = False
    quick: bool = False
    energy: str = "auto"            # auto: the preset's method; or none/nvml/.../tdp-estimate
    allow_mismatch: bool = False
    threads: int | None = None      # CPU threads (default: the preset's)
    gpu_index: int = 0
    tdp_w: float | None = None
    tdp_cores: int | None = None
    fit_predictor: bool = False
    batch_size: int | None = None   # default: the coverage's (the search config's cost.batch_size)
    progress: bool = True
    runtime: str = DEFAULT_RUNTIME  # onnxruntime | torch: what measures the parts (recorded in the table)

    def out_path(self) -> Path:
        return Path(self.out or f"lut/{self.device}.json")


def make_meter(preset: Any, energy: str = "auto", threads: int | None = None, gpu_index: int = 0,
               tdp_w: float | None = None, tdp_cores: int | None = None) -> Any:
    """The energy meter ``--energy`` and the preset call for (None for ``none``)."""
    method = energy
    if method == "auto":
        method = "nvml" if preset.kind == "gpu" else preset.energy
    return make_energy_meter(method, gpu_index=gpu_index, tdp_w=tdp_w or preset.tdp_w,
                             cores_used=threads or os.cpu_count() or 1, cores_total=tdp_cores or preset.tdp_cores)


def build_lut(req: BuildRequest, echo: Callable[[str], None] = print) -> LookupTable:

    preset = load_preset(req.device)
    device = detect(preset, req.gpu_index)         # GPU: NVML; refuses when there is none
    check_device(preset, device, req.allow_mismatch)
    check_runtime_stack(req.runtime, preset, req.gpu_index)
    cov = req.coverage
    if len(set(cov.batch_sizes)) > 1 and req.batch_size is None:
        raise TndError(f"the configs ask for different cost.batch_size ({sorted(set(cov.batch_sizes))}); one table "
                       "has one batch size: pass --batch-size or build one table per batch size")
    threads = req.threads or preset.threads if preset.kind == "cpu" else None
    runtime = runtime_settings(req.runtime, preset, threads, req.gpu_index)
    options = MeasureOptions.quick() if req.quick else MeasureOptions()
    options = replace(options, batch_size=req.batch_size or cov.batch_sizes[0])
    out = req.out_path()
    if out.exists() and not req.resume:  # before any measuring: idle power alone takes seconds
        raise TndError(f"{out} exists; pass --resume to complete it or --out to write another table")

    meter = make_meter(preset, req.energy, threads, req.gpu_index, req.tdp_w, req.tdp_cores)
    try:
        echo(f"device: {device.name} (preset {preset.name}), {describe(runtime)}")
        idle = None
        if meter is not None and not meter.is_estimate:
            echo(f"measuring idle power for {options.idle_seconds:.0f} s (keep the device idle)...")
            idle = meter.idle_power_w(options.idle_seconds)
        overhead = call_overhead(runtime).median
        method = meter.method if meter is not None else "none"
        names = list(cov.sources)
        table = new_table(preset, device, runtime, options, method, idle, overhead,
                          names[0] if len(names) == 1 else names)
        table.device["mismatch_allowed"] = not preset.matches(device.name)
        if req.resume and out.exists():
            old = LookupTable.load(out)
            check_resumable(old, table)
            table.entries = old.entries
            table.settings["resumed_from"] = old.settings.get("date")
        keys = sorted(set(cov.keys))
        echo(f"{len(keys)} parts for {', '.join(names)} ({len(table.entries)} already measured); energy: {method}"
             + (" (an ESTIMATE from TDP x time, not a measurement)" if method == "tdp-estimate" else ""))
        shapes = [s.to_dict() for s in cov.shapes]
        table.settings["shapes"] = [s for i, s in enumerate(shapes) if s not in shapes[:i]]
        table.save(out)
        LutBuilder(keys, table, runtime, meter, options, out, progress=req.progress).run()
    finally:
        if meter is not None:
            meter.close()
    table.device["end"] = detect(preset, req.gpu_index).to_dict()
    table.settings["drift_warnings"] = drift_warnings(table.device["start"], table.device["end"])
    for warning in table.settings["drift_warnings"]:
        echo(f"warning: {warning}")
    table.settings["call_overhead_ms_end"] = call_overhead(runtime).median
    if req.fit_predictor:
        table.predictor = fit_predictor(table)
    table.save(out)
    return table
