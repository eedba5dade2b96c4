"""The cost interface the search loop talks to: an architecture in, named costs with provenance out.

A cost model only needs ``provides`` and ``__call__``; counting (params, FLOPs) and lookup tables
(latency, energy) are interchangeable behind it, so the search loop never changes when one is added.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from tnd.errors import TndError
from tnd.space.genotype import Architecture

SOURCES = ("counted", "measured", "predicted", "estimated")


@dataclass(frozen=True)
class CostValue:
    value: float
    source: str  # one of SOURCES: how this number came to be; "estimated" is never passed off as measured

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"unknown cost source {self.source!r}")


class CostModel(Protocol):
    provides: tuple[str, ...]

    def __call__(self, arch: Architecture) -> dict[str, CostValue]: ...


class CostSuite:
    """Several cost models behind one call, with a cache (sampled architectures repeat a lot)."""

    def __init__(self, models: list[CostModel]):
        self.models = models
        self.provides = tuple(name for m in models for name in m.provides)
        self._cache: dict[Architecture, dict[str, CostValue]] = {}

    def require(self, names: tuple[str, ...] | list[str]) -> None:
        missing = [n for n in names if n not in self.provides]
        if missing:
            raise TndError(f"no cost model provides {', '.join(missing)}; latency and energy need a lookup "
                           "table (--lut PATH or --device NAME; build one with tools/build_lut.py)")

    def __call__(self, arch: Architecture) -> dict[str, CostValue]:
        if arch not in self._cache:
            out: dict[str, CostValue] = {}
            for m in self.models:
                out.update(m(arch))
            self._cache[arch] = out
        return self._cache[arch]
