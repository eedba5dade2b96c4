"""What each cost a reward can combine with accuracy *is*: one frozen record per objective.

Config checks, reward parsing, result files, summary tables and plots all read this registry, so adding
an objective (peak memory, say) is one entry here plus a cost model that provides it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping

from tnd.errors import TndError


@dataclass(frozen=True)
class Objective:
    name: str                       # as written in --reward / --target (params, latency, ...)
    field: str                      # key in result.json's objectives and sources
    unit: str                       # canonical unit of every stored value ("" = a plain count)
    units: Mapping[str, float]      # suffixes a user may write -> factor to the canonical unit
    example: str                    # an example target, for error messages
    label: str                      # axis label of plots (in display units)
    display_scale: float = 1.0      # canonical value x display_scale = the figure shown
    display_suffix: str = ""        # shown after the figure in tables
    digits: int = 3

    def parse(self, text: str | float | int) -> float:
        """``"1.5M"`` params, ``"2ms"``, ``"300us"``, ``"3mJ"``, or a plain number in canonical units."""
        if isinstance(text, (int, float)) and not isinstance(text, bool):
            return float(text)
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([A-Za-z]*)\s*", str(text))
        if not m or m[2] not in self.units:
            relative = re.fullmatch(r"\s*(r[0-9.]+|gap)\s*", str(text))
            raise TndError(f"cannot read {self.name} value {text!r}; write a number with one of the units "
                           f"{', '.join(u for u in self.units if u) or '(none)'} (e.g. {self.name}={self.example})"
                           + ("; rNN and gap targets are relative to the rows read, so only a tabular search "
                              "(--tabular) takes them" if relative else ""))
        return float(m[1]) * self.units[m[2]]

    def format(self, value: float | None, source: str | None = None) -> str:
        """A table cell: the value in display units, marked where it is an estimate or a prediction."""
        if value is None:
            return "-"
        mark = {"estimated": " (est.)", "predicted": " (pred.)"}.get(source or "", "")
        return f"{value * self.display_scale:.{self.digits}f}{self.display_suffix}{mark}"


_COUNT = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9}

OBJECTIVES: dict[str, Objective] = {o.name: o for o in (
    Objective("params", "params", "", _COUNT, "1.5M", "parameters (M)", 1e-6, "M"),
    Objective("flops", "flops", "MAC", _COUNT, "300M", "MACs (M)", 1e-6, "M", digits=1),
    Objective("latency", "latency_ms", "ms", {"ms": 1.0, "us": 1e-3, "s": 1e3, "": 1.0}, "2ms", "latency (ms)",
              display_suffix=" ms"),
    Objective("energy", "energy_mj", "mJ", {"mJ": 1.0, "uJ": 1e-3, "J": 1e3, "": 1.0}, "5mJ", "energy (mJ)",
              display_suffix=" mJ"),
)}

ACCURACY = "acc"  # the reward's first term; not a cost


def get_objective(name: str) -> Objective:
    """The record for a cost named in a reward; a one-line error lists the known ones."""
    try:
        return OBJECTIVES[name]
    except KeyError:
        raise TndError(f"unknown objective {name!r}; choose from {ACCURACY},{','.join(OBJECTIVES)}") from None


def by_field(field_name: str) -> Objective:
    """The record whose result.json field is ``field_name`` (``latency_ms`` -> latency)."""
    for o in OBJECTIVES.values():
        if o.field == field_name:
            return o
    raise KeyError(field_name)
