"""Rewards: accuracy combined with non-differentiable costs. Pure functions plus a parsed spec.

Forms (acc in [0, 1], c_k a cost, T_k its target, w_k its exponent or weight, w_k < 0 penalises):
  soft  R = acc * prod_k (c_k / T_k) ** w_k                  (MnasNet soft constraint; TND-NAS's form)
  hard  R = acc * prod_k (c_k / T_k) ** (w_k if c_k > T_k else 0)   (only exceeding the target costs)
  sum   R = acc + sum_k w_k * (c_k / T_k)                     (weighted sum)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from tnd.costs.objectives import ACCURACY, OBJECTIVES, get_objective
from tnd.errors import TndError

if TYPE_CHECKING:  # annotations only: the config module imports this one
    from tnd.search.config import RewardConfig

DEFAULT_EXPONENT = {"soft": -0.3, "hard": -1.0, "sum": -0.1}


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
    read = get_objective(cost).parse if what == "target" else float
    if isinstance(value, (list, tuple)):
        if len(value) != n_stages:
            raise TndError(f"reward: {what} for {cost} lists {len(value)} values but the search has "
                           f"{n_stages} stages; give one value or one per stage")
        return [read(v) for v in value]
    return [read(value)] * n_stages


@dataclass(frozen=True)
class RewardSpec:
    """Which costs enter the reward, with per-stage targets and exponents in canonical units."""

    costs: tuple[str, ...]
    form: str
    targets: tuple[tuple[float, ...], ...]     # [cost][stage]
    exponents: tuple[tuple[float, ...], ...]   # [cost][stage]
    energy: str = "dynamic"

    @classmethod
    def from_config(cls, cfg: RewardConfig, n_stages: int) -> RewardSpec:
        objectives = [o.strip() for o in cfg.objectives if o.strip()]
        if not objectives or objectives[0] != ACCURACY:
            raise TndError(f"reward must start with '{ACCURACY}' (e.g. --reward acc,latency), "
                           f"got {','.join(objectives)!r}")
        costs = objectives[1:]
        unknown = [c for c in costs if c not in OBJECTIVES]
        if unknown or len(set(costs)) != len(costs):
            raise TndError(f"reward: unknown or repeated objective(s) {', '.join(unknown) or ','.join(costs)}; "
                           f"choose from {ACCURACY},{','.join(OBJECTIVES)}")
        extra = sorted((set(cfg.targets) | set(cfg.exponents)) - set(costs))
        if extra:
            raise TndError(f"reward: target/exponent given for {', '.join(extra)}, which is not in the reward "
                           f"(acc,{','.join(costs)}); add it to --reward or drop the target")
        targets, exponents = [], []
        for c in costs:
            if c not in cfg.targets:
                raise TndError(f"reward: '{c}' needs a target, e.g. --target {c}={get_objective(c).example}")
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
            unit = get_objective(c).unit
            parts.append(f"{c} (target {t}{' ' + unit if unit else ''}, w {w})")
        return f"{self.form} reward: acc with " + ", ".join(parts)

    def to_dict(self) -> dict:
        return {"form": self.form, "objectives": ["acc", *self.costs], "energy": self.energy,
                "targets": {c: list(self.targets[i]) for i, c in enumerate(self.costs)},
                "exponents": {c: list(self.exponents[i]) for i, c in enumerate(self.costs)},
                "units": {c: get_objective(c).unit for c in self.costs}}


@dataclass(frozen=True)
class Preference:
    """One point of a Pareto series, resolved: its name and its complete reward."""

    name: str
    spec: RewardSpec

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, **self.spec.to_dict()}
