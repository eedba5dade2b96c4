"""A whole network's latency and energy from a table: the sum of its parts' entries, and its calibration.

Each entry was timed as its own ``run()`` call, so it carries the runtime's per-call overhead once;
a whole network pays that overhead once, not once per part. The network figure is therefore
``overhead + sum(entry - overhead)`` (energy: each entry's share outside the overhead). Where
``tnd lut validate`` stored a whole-network calibration, it is applied on top (``calibrated``): a
non-negative weight per part family (convolutions, pools, skips, adds/concats) and an intercept, since
a stand-alone pool or add over-states its in-network cost far more than a convolution does.
Keys the table lacks come from its regression predictor, and the figure says so (``predicted``).
The calibration is fitted here too (``fit_groups``), on whole networks measured by `tnd lut validate`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tnd.errors import TndError
from tnd.lut.predictor import Predictor
from tnd.lut.table import LookupTable
from tnd.space.parts import PartKey, parse_key

# Calibration groups: parts whose in-network cost relates alike to their stand-alone timing.
GROUPS = {"pool": ("max_pool", "avg_pool"), "skip": ("skip_connect",), "merge": ("add", "concat")}


def part_group(op: str) -> str:
    """``conv`` for everything with weights (convs, preprocessing, stem, classifier), else its family."""
    for group, prefixes in GROUPS.items():
        if op.startswith(prefixes):
            return group
    return "conv"


GROUP_ORDER = ("conv", *GROUPS)


class NetworkEstimate:
    """A network's latency (ms) and energy (mJ) per inference from a table's entries for its parts."""

    def __init__(self, table: LookupTable, strict: bool = False, energy: str = "dynamic", calibrated: bool = True):
        self.table, self.strict, self.energy_kind = table, strict, energy
        self.predictor = Predictor(table.predictor, table.name()) if table.predictor else None
        self.calibration = (table.calibration or {}).get("fit") if calibrated else None
        # Energy is offered only where the table holds the figure the reward reads (total or dynamic).
        self.has_energy = table.has_energy_figure(energy)
        self.overhead = table.call_overhead_ms
        # Keyed by PartKey once: formatting and parsing key strings per lookup dominated the search's cost time.
        self._by_key = {parse_key(k): (table.latency_ms(k), table.energy_mj(k, energy)) for k in table.entries}

    def part(self, key: PartKey) -> tuple[float, float | None, bool]:
        """(latency ms, energy mJ or None, predicted?) of one part, per-call overhead included."""
        hit = self._by_key.get(key)
        if hit is not None:
            return hit[0], hit[1], False
        if self.strict or self.predictor is None or not self.predictor.covers(key):
            how = ("--strict-lut is set" if self.strict else
                   "the table has no predictor for it" if self.predictor else "the table has no predictor")
            raise TndError(f"{self.table.name()} has no entry {key} and {how}; rebuild the table for this search "
                           "(tools/build_lut.py --config YOUR_CONFIG --resume) or add --fit-predictor")
        energy = None
        if self.table.has_energy and self.predictor.covers(key, "energy_mj") and self.energy_kind == "total":
            energy = self.predictor.predict(key, "energy_mj")
        return self.predictor.predict(key, "latency_ms"), energy, True

    def totals(self, parts: list[PartKey]) -> dict[str, Any]:
        """Raw sums over parts: latency, energy, and whether any figure was predicted."""
        lat, energy, predicted, missing_energy = self.overhead, 0.0, False, False
        groups = {g: 0.0 for g in GROUP_ORDER}
        for key in parts:
            l_ms, e_mj, pred = self.part(key)
            share = max(l_ms - self.overhead, 0.0) / l_ms
            lat += l_ms * share
            groups[part_group(key.op)] += l_ms * share
            predicted |= pred
            if e_mj is None:
                missing_energy = True
            else:
                energy += e_mj * share
        if not missing_energy and lat > 0:
            energy += energy / max(lat - self.overhead, 1e-12) * self.overhead  # the one call's own share
        return {"latency": lat, "energy": None if missing_energy else energy, "predicted": predicted,
                "groups": groups}

    def calibrated_latency(self, totals: dict[str, Any]) -> float:
        """Whole-network fit from `tnd lut validate`: intercept + sum over groups of coef x group sum."""
        fit = self.calibration
        return fit["intercept"] + sum(fit["coef"][g] * totals["groups"][g] for g in fit["coef"])

    def predict(self, parts: list[PartKey]) -> dict[str, Any]:
        """The network's figures: ``latency`` (calibrated where the table has a calibration),
        ``latency_raw`` (the overhead-corrected sum), ``energy`` and whether any part was ``predicted``."""
        t = self.totals(parts)
        t["latency_raw"], t["calibrated"] = t["latency"], bool(self.calibration)
        if self.calibration:
            t["latency"] = self.calibrated_latency(t)
            if self.table.energy_is_estimate and t["energy"] is not None:
                t["energy"] *= t["latency"] / t["latency_raw"]  # the estimate is power x time: follow the time
        return t


def fit_groups(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """measured ~ intercept + X @ coef with coef >= 0 (X: per-family sums of table entries).

    Weighted by 1/y^2, i.e. relative error is minimised: networks span 0.1 ms to tens of ms, and an
    unweighted fit would serve the largest and miss the small ones by tens of percent."""
    from sklearn.linear_model import LinearRegression

    m = LinearRegression(positive=True).fit(X, y, sample_weight=1.0 / np.square(y))
    return m.coef_, float(m.intercept_)


def leave_one_out(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Each network predicted by a fit on all the others: the calibration's honest error."""
    out = np.empty_like(y)
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        coef, b = fit_groups(X[keep], y[keep])
        out[i] = X[i] @ coef + b
    return out
