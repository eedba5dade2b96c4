"""A whole network's latency and energy from a table: the sum of its parts' entries, and its calibration.

Each entry was timed as its own ``run()`` call, so it carries the runtime's per-call overhead once;
a whole network pays that overhead once, not once per part. The network figure is therefore
``overhead + sum(entry - overhead)`` (energy: each entry's share outside the overhead). Where
``tnd lut validate`` stored a whole-network calibration, it is applied on top (``calibrated``): a
weight per part family (convolutions, pools, skips, adds/concats) and an intercept, since a stand-alone
pool or add over-states its in-network cost far more than a convolution does. The weights are shrunk
towards 1 within bounds and fitted only for families present in enough networks (``fit_groups``).
Every figure is checked: a zero, negative or non-finite cost is an error naming the part and the table.
Keys the table lacks come from its regression predictor, and the figure says so (``predicted``).
A network with no parts (an NB201 cell with no input-to-output path: the runtime folds the whole
network to a constant) costs one call: the per-call overhead, uncalibrated.
The calibration is fitted here too, on whole networks measured by `tnd lut validate`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
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

    def _checked(self, key: PartKey) -> tuple[float, float | None, bool]:
        """A part's figures, refused when not usable: a non-positive or non-finite latency (or a negative
        energy) would make a reward unbounded or meaningless, so it names the part and the table."""
        l_ms, e_mj, pred = self.part(key)
        where = "the table's regression predicts" if pred else "the table's entry gives"
        if not (math.isfinite(l_ms) and l_ms > 0):
            raise TndError(f"{self.table.name()}: part {key}: {where} a latency of {l_ms!r} ms; a cost must be "
                           "positive and finite: re-measure it (tools/build_lut.py --resume after deleting the "
                           "entry) or refit the predictor (--fit-predictor)")
        if e_mj is not None and not (math.isfinite(e_mj) and e_mj >= 0):
            raise TndError(f"{self.table.name()}: part {key}: {where} an energy of {e_mj!r} mJ; energy must be "
                           "finite and not negative: re-measure the part (tools/build_lut.py --resume)")
        return l_ms, e_mj, pred

    def call_energy(self) -> float | None:
        """One call's energy with nothing computed: the overhead at the median power of the table's entries
        (None where the table has no energy of this kind). What a network folded to a constant costs."""
        powers = [e / l for l, e in self._by_key.values() if e is not None and l > 0]
        return float(np.median(powers)) * self.overhead if powers else None

    def constant_network(self) -> dict[str, Any]:
        """The figures of a network with no parts (its output a constant the runtime folds, as an NB201 cell
        with no input-to-output path): one call, the table's per-call overhead, which is what is measured."""
        if not (math.isfinite(self.overhead) and self.overhead > 0):
            raise TndError(f"{self.table.name()}: a network with no parts costs one call, but the table's "
                           f"settings.call_overhead_ms is {self.overhead!r}; re-measure the table")
        energy = self.call_energy() if self.has_energy else None
        if energy is not None and not energy > 0:
            raise TndError(f"{self.table.name()}: a network with no parts costs one call, whose energy at the "
                           f"entries' median power is {energy!r} mJ; use total energy (--energy total)")
        return {"latency": self.overhead, "energy": energy, "predicted": False,
                "groups": {g: 0.0 for g in GROUP_ORDER}, "constant": True}

    def totals(self, parts: list[PartKey]) -> dict[str, Any]:
        """Raw sums over parts: latency, energy, and whether any figure was predicted."""
        if not parts:
            return self.constant_network()
        lat, energy, predicted, missing_energy = self.overhead, 0.0, False, False
        groups = {g: 0.0 for g in GROUP_ORDER}
        for key in parts:
            l_ms, e_mj, pred = self._checked(key)
            share = max(l_ms - self.overhead, 0.0) / l_ms
            lat += l_ms * share
            groups[part_group(key.op)] += l_ms * share
            predicted |= pred
            if e_mj is None:
                missing_energy = True
            else:
                energy += e_mj * share
        if not (math.isfinite(lat) and lat > 0):
            raise TndError(f"{self.table.name()}: a network of {len(parts)} parts sums to {lat!r} ms (call overhead "
                           f"{self.overhead} ms); check the table's settings.call_overhead_ms and its entries")
        if not missing_energy:
            if not energy > 0:
                raise TndError(f"{self.table.name()}: a network of {len(parts)} parts sums to {energy!r} mJ: no part has "
                               "energy outside the per-call overhead (dynamic energy is clipped at 0 where idle "
                               "noise exceeds it); use total energy (--energy total) or re-measure the table")
            if lat > self.overhead:
                energy += energy / (lat - self.overhead) * self.overhead  # the one call's own share
        return {"latency": lat, "energy": None if missing_energy else energy, "predicted": predicted,
                "groups": groups, "constant": False}

    def calibrated_latency(self, totals: dict[str, Any]) -> float:
        """Whole-network fit from `tnd lut validate`: intercept + sum over groups of coef x group sum."""
        fit = self.calibration
        return fit["intercept"] + sum(fit["coef"][g] * totals["groups"][g] for g in fit["coef"])

    def predict(self, parts: list[PartKey]) -> dict[str, Any]:
        """The network's figures: ``latency`` (calibrated where the table has a calibration),
        ``latency_raw`` (the overhead-corrected sum), ``energy`` and whether any part was ``predicted``."""
        t = self.totals(parts)
        # The calibration weighs parts; a network with none is one call whatever the fit's intercept.
        t["latency_raw"], t["calibrated"] = t["latency"], bool(self.calibration) and not t["constant"]
        if t["calibrated"]:
            t["latency"] = self.calibrated_latency(t)
            if not (math.isfinite(t["latency"]) and t["latency"] > 0):
                raise TndError(f"{self.table.name()}: the whole-network calibration gives {t['latency']!r} ms for a "
                               f"network whose parts sum to {t['latency_raw']:.4g} ms; refit it with `tnd lut "
                               "validate` (weights are now kept within bounds) or drop the table's 'calibration'")
            if self.table.energy_is_estimate and t["energy"] is not None:
                t["energy"] *= t["latency"] / t["latency_raw"]  # the estimate is power x time: follow the time
        return t




# ---- the calibration fit ----------------------------------------------------------------------
# Each family weight is shrunk towards 1 (the table's own figure is the prior), kept within bounds, and
# fitted only for families present in enough networks. Unregularised, a 20-network validation gave pools a
# weight of 0.00, after which a latency reward sees pools as free.

WEIGHT_BOUNDS = (0.25, 4.0)   # a family's in-network cost is between a quarter and 4x its table figure
RIDGE = 0.01                  # penalty on (w - 1)^2, in squared relative error: a weight 1 away from 1 costs as
                              # much as one network mispredicted by 10%
MIN_NETWORKS = 5              # a family is fitted only where it is present in at least this many networks ...
MIN_SHARE = 0.02              # ... with at least this share of the network's table sum; else its weight stays 1
BOOTSTRAP = 200               # resamples of the networks for each weight's uncertainty


@dataclass(frozen=True)
class GroupFit:
    """measured ~ intercept + X @ coef, one weight per part family."""

    coef: np.ndarray          # (groups,)
    intercept: float
    fitted: np.ndarray        # (groups,) bool: False where too few networks had the family (weight held at 1)
    networks: np.ndarray      # (groups,) int: networks in which the family has at least MIN_SHARE

    def predict(self, X: np.ndarray) -> np.ndarray:
        return X @ self.coef + self.intercept


def family_presence(X: np.ndarray, min_share: float = MIN_SHARE) -> np.ndarray:
    """Per family, the number of networks in which it has at least ``min_share`` of the table sum."""
    total = X.sum(axis=1, keepdims=True)
    share = np.divide(X, total, out=np.zeros_like(X, dtype=float), where=total > 0)
    return (share >= min_share).sum(axis=0)


def fit_groups(X: np.ndarray, y: np.ndarray, ridge: float = RIDGE, bounds: tuple[float, float] = WEIGHT_BOUNDS,
               min_networks: int = MIN_NETWORKS, min_share: float = MIN_SHARE,
               fitted: np.ndarray | None = None) -> GroupFit:
    """Bounded ridge fit of ``measured ~ intercept + X @ coef`` towards coef = 1 (X: per-family table sums).

    Residuals are relative (divided by the measured figure): networks span 0.1 ms to tens of ms, and an
    unweighted fit would serve the largest and miss the small ones by tens of percent. ``fitted`` forces
    which families are fitted (the bootstrap keeps the full fit's choice). The intercept is a network's
    fixed cost and is kept >= 0: a negative one fits the sampled networks by bending the line, then
    predicts a negative latency for the cheapest networks of the space (seen on tiny 8x8 NB201 networks,
    whose parts alone cost 5x what they cost in the network), which no search can use."""
    from scipy.optimize import lsq_linear

    X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
    if X.ndim != 2 or len(X) != len(y) or len(y) < 2 or not (np.all(np.isfinite(y)) and np.all(y > 0)):
        raise TndError(f"calibration: need at least 2 networks with positive measured figures, got {len(y)}")
    networks = family_presence(X, min_share)
    if fitted is None:
        fitted = networks >= min_networks
    coef = np.ones(X.shape[1])
    free = np.flatnonzero(fitted)
    target = (y - X[:, ~fitted].sum(axis=1)) / y           # held families contribute their table figure
    A = np.column_stack([1.0 / y, X[:, free] / y[:, None]])
    if ridge > 0 and len(free):
        prior = np.zeros((len(free), 1 + len(free)))
        prior[:, 1:] = np.sqrt(ridge) * np.eye(len(free))
        A = np.vstack([A, prior])
        target = np.concatenate([target, np.full(len(free), np.sqrt(ridge))])
    lo = np.r_[0.0, np.full(len(free), bounds[0])]
    hi = np.r_[np.inf, np.full(len(free), bounds[1])]
    sol = lsq_linear(A, target, bounds=(lo, hi), method="bvls").x
    coef[free] = sol[1:]
    return GroupFit(coef, float(sol[0]), np.asarray(fitted, dtype=bool), networks)


def leave_one_out(X: np.ndarray, y: np.ndarray, **settings: Any) -> np.ndarray:
    """Each network predicted by a fit on all the others: the calibration's honest error."""
    out = np.empty_like(np.asarray(y, dtype=float))
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        out[i] = fit_groups(X[keep], y[keep], **settings).predict(X[i:i + 1])[0]
    return out


def bootstrap_sd(X: np.ndarray, y: np.ndarray, fit: GroupFit, n: int = BOOTSTRAP, seed: int = 0,
                 **settings: Any) -> tuple[np.ndarray, float]:
    """Spread (standard deviation) of each weight and of the intercept over resamples of the networks."""
    rng = np.random.default_rng(seed)
    coefs, intercepts = [], []
    for _ in range(n):
        idx = rng.integers(0, len(y), len(y))
        f = fit_groups(X[idx], y[idx], fitted=fit.fitted, **settings)
        coefs.append(f.coef)
        intercepts.append(f.intercept)
    return np.std(coefs, axis=0, ddof=1), float(np.std(intercepts, ddof=1))


def calibration_fit(X: np.ndarray, y: np.ndarray, groups: tuple[str, ...] = GROUP_ORDER, seed: int = 0,
                    target: str = "latency_ms") -> dict[str, Any]:
    """The calibration a table stores: weights, their bootstrap spread, which were fitted, and the prior."""
    fit = fit_groups(X, y)
    sd, intercept_sd = bootstrap_sd(X, y, fit, seed=seed)
    return {"kind": "grouped-linear/2", "target": target,
            "coef": dict(zip(groups, map(float, fit.coef))),
            "coef_sd": dict(zip(groups, map(float, sd))),
            "fitted": dict(zip(groups, map(bool, fit.fitted))),
            "networks": dict(zip(groups, map(int, fit.networks))),
            "intercept": fit.intercept, "intercept_sd": intercept_sd,
            "prior": {"weight": 1.0, "ridge": RIDGE, "bounds": list(WEIGHT_BOUNDS), "min_networks": MIN_NETWORKS,
                      "min_share": MIN_SHARE},
            "uncertainty": f"standard deviation over {BOOTSTRAP} bootstrap resamples of the networks"}


def format_fit(fit: dict[str, Any]) -> str:
    """The calibration as a formula, each weight with its spread; families held at 1 say why."""
    sd, fitted, networks = fit.get("coef_sd", {}), fit.get("fitted", {}), fit.get("networks", {})
    terms = []
    for g, c in fit["coef"].items():
        if not fitted.get(g, True):
            terms.append(f"1 x {g} (held: in {networks.get(g, 0)} networks)")
        elif fit.get("prior") and any(abs(c - b) <= 1e-9 for b in fit["prior"]["bounds"]):
            terms.append(f"{c:.2f} (at its bound) x {g}")
        else:
            terms.append(f"{c:.2f}{f' +- {sd[g]:.2f}' if g in sd else ''} x {g}")
    line = ("calibration: measured = " + " + ".join(terms) + f" + {fit['intercept']:.4f} ms "
            "(sums of table entries per part family, overhead removed)")
    prior = fit.get("prior")
    if not prior:
        line += "; an unregularised fit from an older tnd: rerun `tnd lut validate` to shrink and bound it"
    else:
        line += (f"; weights shrunk towards 1 (ridge {prior['ridge']:g}) within {prior['bounds'][0]:g}-"
                 f"{prior['bounds'][1]:g}, fitted where a family has >= {prior['min_share']:.0%} of the table sum "
                 f"in >= {prior['min_networks']} networks; +- is the {fit['uncertainty']}")
    return line
