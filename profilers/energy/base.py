"""Energy readings and the meter protocol shared by the NVML, RAPL and TDP meters.

Energy of one inference is far below any meter's resolution, so every meter runs the call
repeatedly over a window of at least ``min_window_s`` and divides by the number of whole calls.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Protocol, runtime_checkable

# What a measurement's energy came from (tables and reports record one of these) ...
METHODS: tuple[str, ...] = ("nvml-energy-counter", "nvml-power-sampling", "rapl", "tdp-estimate", "none")
# ... and what a user or a device preset may ask for: a method, or "nvml" (the counter where the GPU has one,
# else sampling) or "auto-cpu" (RAPL where readable, else the TDP estimate).
CHOICES: tuple[str, ...] = ("nvml", "auto-cpu", *METHODS)


@dataclass(frozen=True)
class EnergyReading:
    """Energy over a window of ``calls`` whole calls lasting ``seconds``; ``total_mj`` in millijoules."""

    method: str
    total_mj: float
    seconds: float
    calls: int
    is_estimate: bool

    @property
    def per_call_mj(self) -> float:
        """Total energy per call, idle power included (what the device really drew)."""
        return self.total_mj / self.calls if self.calls > 0 else 0.0

    @property
    def mean_power_w(self) -> float:
        """Average power over the window: mJ / s / 1000."""
        return self.total_mj / self.seconds / 1000.0 if self.seconds > 0 else 0.0

    def dynamic_per_call_mj(self, idle_w: float) -> float:
        """Energy per call above idle: what the model itself costs, clipped at 0 because noise can undershoot."""
        if self.calls <= 0:
            return 0.0
        return max((self.total_mj - idle_w * self.seconds * 1000.0) / self.calls, 0.0)

    def to_dict(self) -> dict:
        return {
            "method": self.method,
            "total_mj": self.total_mj,
            "seconds": self.seconds,
            "calls": self.calls,
            "is_estimate": self.is_estimate,
            "per_call_mj": self.per_call_mj,
        }


@runtime_checkable
class EnergyMeter(Protocol):
    """Anything that can measure the energy of repeated calls; ``method`` is one of ``METHODS``."""

    method: str
    is_estimate: bool

    def measure(self, fn: Callable[[], object], min_window_s: float = 1.0, max_calls: int = 1_000_000) -> EnergyReading:
        """Run ``fn`` repeatedly (at least once, whole calls only) until the window reaches ``min_window_s``."""
        ...

    def idle_power_w(self, seconds: float = 2.0) -> float:
        """Power drawn with nothing running, to split dynamic from static energy."""
        ...

    def close(self) -> None:
        """Release the driver/handles; safe to call twice."""
        ...


def run_window(fn: Callable[[], object], min_window_s: float, max_calls: int) -> tuple[float, float, int]:
    """Call ``fn`` until ``min_window_s`` has passed or ``max_calls`` is reached; return (t_start, t_end, calls).

    The window starts just before the first call and ends just after the last one, so it holds
    whole calls only; at least one call is always made so ``per_call_mj`` is defined.
    """
    if max_calls < 1:
        raise ValueError("max_calls must be >= 1")
    calls = 0
    t0 = time.perf_counter()
    t1 = t0
    while True:
        fn()
        calls += 1
        t1 = time.perf_counter()
        if t1 - t0 >= min_window_s or calls >= max_calls:
            return t0, t1, calls
