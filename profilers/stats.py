"""Robust summaries of repeated measurements: median and spread, never the mean alone."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class LatencyStats:
    """Milliseconds per call: median with the 10th/90th percentiles over ``n`` timed repeats."""

    median: float
    p10: float
    p90: float
    n: int

    @classmethod
    def of(cls, samples_ms: Sequence[float]) -> "LatencyStats":
        if len(samples_ms) == 0:
            raise ValueError("no samples")
        a = np.asarray(samples_ms, dtype=np.float64)
        p10, med, p90 = np.percentile(a, [10, 50, 90])
        return cls(median=float(med), p10=float(p10), p90=float(p90), n=int(a.size))

    @property
    def spread(self) -> float:
        """p90 / p10: 1.0 means perfectly repeatable."""
        return self.p90 / self.p10 if self.p10 > 0 else float("inf")

    def minus(self, overhead_ms: float) -> "LatencyStats":
        """Subtract a per-call overhead, never below zero."""
        return LatencyStats(*(max(v - overhead_ms, 0.0) for v in (self.median, self.p10, self.p90)), n=self.n)

    def to_dict(self) -> dict:
        return asdict(self)
