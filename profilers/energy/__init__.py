"""Energy meters: NVML (GPU counter or power sampling), RAPL (CPU packages) and a labelled TDP estimate.

``make_energy_meter`` turns the CLI's ``--energy`` choice into a meter, so callers never import
a backend directly and an unusable backend fails up front with one line saying what to use instead.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from profilers.energy.base import CHOICES, METHODS, EnergyMeter, EnergyReading, run_window
from profilers.energy.cpu import DEFAULT_RAPL_ROOT, RaplEnergyMeter, TdpEstimateMeter
from profilers.energy.nvml import NvmlEnergyMeter, nvml_device_info
from profilers.errors import ProfilerError

__all__ = [
    "CHOICES",
    "METHODS",
    "EnergyMeter",
    "EnergyReading",
    "NvmlEnergyMeter",
    "RaplEnergyMeter",
    "TdpEstimateMeter",
    "energy_per_call",
    "make_energy_meter",
    "nvml_device_info",
    "run_window",
]


def _tdp_meter(tdp_w: float | None, cores_used: int | None, cores_total: int | None,
               why: str = "") -> TdpEstimateMeter:
    if tdp_w is None:
        raise ProfilerError(f"--energy tdp-estimate needs the CPU's TDP{why}; pass --tdp WATTS or use --energy none")
    total = cores_total or os.cpu_count() or 1
    used = total if cores_used is None else min(cores_used, total)
    return TdpEstimateMeter(tdp_w=tdp_w, cores_used=used, cores_total=total)


def make_energy_meter(
    method: str,
    *,
    gpu_index: int = 0,
    tdp_w: float | None = None,
    cores_used: int | None = None,
    cores_total: int | None = None,
    nvml: Any = None,
    rapl_root: str | Path | None = None,
) -> EnergyMeter | None:
    """Build the meter for ``method`` (one of ``CHOICES``); ``"none"`` gives ``None``.

    ``"nvml"`` picks the counter when the GPU has one, else sampling; ``"auto-cpu"`` picks RAPL when
    readable, else the TDP estimate, which charges ``cores_used`` of ``cores_total`` (default: all of this
    machine's cores) of the TDP.
    """
    root = DEFAULT_RAPL_ROOT if rapl_root is None else Path(rapl_root)
    if method == "none":
        return None
    if method == "nvml":
        return NvmlEnergyMeter(gpu_index, mode="auto", nvml=nvml)
    if method == "nvml-energy-counter":
        return NvmlEnergyMeter(gpu_index, mode="counter", nvml=nvml)
    if method == "nvml-power-sampling":
        return NvmlEnergyMeter(gpu_index, mode="sampling", nvml=nvml)
    if method == "rapl":
        return RaplEnergyMeter(root)
    if method == "tdp-estimate":
        return _tdp_meter(tdp_w, cores_used, cores_total)
    if method == "auto-cpu":
        if RaplEnergyMeter.available(root):
            return RaplEnergyMeter(root)
        return _tdp_meter(tdp_w, cores_used, cores_total, " (RAPL is not readable here)")
    raise ProfilerError(f"unknown energy method {method!r}; use one of: {', '.join(CHOICES)}")


def energy_per_call(meter: EnergyMeter, fn: Any, latency_ms: float, min_window_s: float,
                    idle_w: float | None = None) -> dict[str, Any]:
    """mJ per call of ``fn``: ``total`` and ``dynamic`` (above ``idle_w``; None where idle is unknown).

    A TDP estimate charges its power over the measured latency: a timed window would only add the
    Python loop's noise to a figure that is power x time by construction. A real meter repeats ``fn``
    over a window of at least ``min_window_s``.
    """
    if meter.is_estimate:
        return {"total": meter.power_w * latency_ms, "dynamic": None}
    r = meter.measure(fn, min_window_s=min_window_s)
    return {"total": r.per_call_mj, "dynamic": None if idle_w is None else r.dynamic_per_call_mj(idle_w),
            "window_s": r.seconds, "calls": r.calls}
