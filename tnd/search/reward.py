"""Rewards: accuracy combined with non-differentiable costs. Pure functions plus a parsed spec.

Forms (acc in [0, 1], c_k a cost, T_k its target, w_k its exponent or weight, w_k < 0 penalises):
  soft  R = acc * prod_k (c_k / T_k) ** w_k                  (MnasNet soft constraint; TND-NAS's form)
  hard  R = acc * prod_k (c_k / T_k) ** (w_k if c_k > T_k else 0)   (only exceeding the target costs)
  sum   R = acc + sum_k w_k * (c_k / T_k)                     (weighted sum)
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Mapping, Sequence

from tnd.errors import TndError

# Canonical unit of each cost, and what a user may write.
UNITS: dict[str, dict[str, float]] = {
    "params": {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9},
    "flops": {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9},
    "latency": {"ms": 1.0, "us": 1e-3, "s": 1e3, "": 1.0},        # milliseconds
    "energy": {"mJ": 1.0, "uJ": 1e-3, "J": 1e3, "": 1.0},          # millijoules
}
CANONICAL_UNIT = {"params": "", "flops": "MAC", "latency": "ms", "energy": "mJ"}
DEFAULT_EXPONENT = {"soft": -0.3, "hard": -1.0, "sum": -0.1}


def parse_quantity(cost: str, text: str | float | int) -> float:
    """``"1.5M"`` params, ``"2mJ"``, ``"1.5ms"``, ``"300us"``, or a plain number in canonical units."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return float(text)
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([A-Za-z]*)\s*", str(text))
    units = UNITS[cost]
    if not m or m[2] not in units:
        raise TndError(f"cannot read {cost} value {text!r}; write a number with one of the units "
                       f"{', '.join(u for u in units if u) or '(none)'} (e.g. params=1.5M, latency=2ms, energy=3mJ)")
    return float(m[1]) * units[m[2]]


def soft_reward(acc: float, costs: Mapping[str, float], targets: Mapping[str, float],
                exponents: Mapping[str, float]) -> float:
    r = acc
    for k, c in costs.items():
        r *= (max(c, 1e-12) / targets[k]) ** exponents[k]
    return r


def hard_reward(acc: float, costs: Mapping[str, float], targets: Mapping[str, float],
                exponents: Mapping[str, float]) -> float:
    r = acc
    for k, c in costs.items():
        if c > targets[k]:
            r *= (c / targets[k]) ** exponents[k]
    return r


def sum_reward(acc: float, costs: Mapping[str, float], targets: Mapping[str, float],
               exponents: Mapping[str, float]) -> float:
    return acc + sum(exponents[k] * c / targets[k] for k, c in costs.items())


REWARD_FORMS = {"soft": soft_reward, "hard": hard_reward, "sum": sum_reward}


def _per_stage(cost: str, value: float | str | Sequence, n_stages: int, what: str) -> list[float]:
    if isinstance(value, (list, tuple)):
        if len(value) != n_stages:
            raise TndError(f"reward: {what} for {cost} lists {len(value)} values but the search has "
                           f"{n_stages} stages; give one value or one per stage")
        values = [parse_quantity(cost, v) if what == "target" else float(v) for v in value]
    else:
        values = [parse_quantity(cost, value) if what == "target" else float(value)] * n_stages
    return values


@dataclass(frozen=True)
class RewardSpec:
    """Which costs enter the reward, with per-stage targets and exponents in canonical units."""

    costs: tuple[str, ...]
    form: str
    targets: tuple[tuple[float, ...], ...]     # [cost][stage]
    exponents: tuple[tuple[float, ...], ...]   # [cost][stage]
    energy: str = "dynamic"

    @classmethod
    def from_config(cls, cfg, n_stages: int) -> "RewardSpec":  # cfg: tnd.search.config.RewardConfig
        from tnd.search.config import COSTS

        objectives = [o.strip() for o in cfg.objectives if o.strip()]
        if not objectives or objectives[0] != "acc":
            raise TndError(f"reward must start with 'acc' (e.g. --reward acc,latency), got {','.join(objectives)!r}")
        costs = objectives[1:]
        unknown = [c for c in costs if c not in COSTS]
        if unknown or len(set(costs)) != len(costs):
            raise TndError(f"reward: unknown or repeated objective(s) {', '.join(unknown) or ','.join(costs)}; "
                           f"choose from acc,{','.join(COSTS)}")
        extra = sorted((set(cfg.targets) | set(cfg.exponents)) - set(costs))
        if extra:
            raise TndError(f"reward: target/exponent given for {', '.join(extra)}, which is not in the reward "
                           f"(acc,{','.join(costs)}); add it to --reward or drop the target")
        targets, exponents = [], []
        for c in costs:
            if c not in cfg.targets:
                raise TndError(f"reward: '{c}' needs a target, e.g. --target {c}="
                               f"{ {'params': '1.5M', 'flops': '300M', 'latency': '2ms', 'energy': '5mJ'}[c] }")
            t = _per_stage(c, cfg.targets[c], n_stages, "target")
            if any(v <= 0 or not math.isfinite(v) for v in t):
                raise TndError(f"reward: target for {c} must be positive")
            targets.append(tuple(t))
            exponents.append(tuple(_per_stage(c, cfg.exponents.get(c, DEFAULT_EXPONENT[cfg.form]),
                                              n_stages, "exponent")))
        return cls(tuple(costs), cfg.form, tuple(targets), tuple(exponents), cfg.energy)

    def reward(self, acc: float, costs: Mapping[str, float], stage: int) -> float:
        values = {c: costs[c] for c in self.costs}
        targets = {c: self.targets[i][stage] for i, c in enumerate(self.costs)}
        exponents = {c: self.exponents[i][stage] for i, c in enumerate(self.costs)}
        return REWARD_FORMS[self.form](acc, values, targets, exponents)

    def describe(self) -> str:
        if not self.costs:
            return "R = acc"
        parts = []
        for i, c in enumerate(self.costs):
            t = "/".join(f"{v:g}" for v in dict.fromkeys(self.targets[i]))
            w = "/".join(f"{v:g}" for v in dict.fromkeys(self.exponents[i]))
            unit = CANONICAL_UNIT[c]
            parts.append(f"{c} (target {t}{' ' + unit if unit else ''}, w {w})")
        return f"{self.form} reward: acc with " + ", ".join(parts)

    def to_dict(self) -> dict:
        return {"form": self.form, "objectives": ["acc", *self.costs], "energy": self.energy,
                "targets": {c: list(self.targets[i]) for i, c in enumerate(self.costs)},
                "exponents": {c: list(self.exponents[i]) for i, c in enumerate(self.costs)},
                "units": {c: CANONICAL_UNIT[c] for c in self.costs}}
