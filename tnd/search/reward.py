"""Rewards: accuracy combined with non-differentiable costs. Pure functions plus a parsed spec.

Forms (acc the accuracy on the spec's scale, c_k a cost, T_k its target, w_k its exponent, w_k < 0 penalises):
  mnas  R = acc * prod_k (c_k / T_k) ** (a_k if c_k <= T_k else b_k)   two exponents per cost: a_k below the
        target, b_k above it (MnasNet's reward, Tan et al., "MnasNet: Platform-Aware Neural Architecture
        Search for Mobile", CVPR 2019, eq. 2: w = alpha if LAT(m) <= T else beta). The default form when
        targets are given: the target is where the penalty steepens, so it moves the result.
  soft  R = acc * prod_k (c_k / T_k) ** w_k     (MnasNet with alpha = beta; TND-NAS's form). The target only
        multiplies R by a constant, which the policy-gradient update cancels (Adam normalises the step, the
        moving baseline scales with R): members of a series that differ only in targets run the same search.
  hard  R = acc * prod_k (c_k / T_k) ** (w_k if c_k > T_k else 0)   (only exceeding the target costs)
  sum   R = acc + sum_k w_k * (c_k / T_k)       (weighted sum: only w_k / T_k matters)
  absolute  R = acc + sum_k w_k * |c_k / T_k - 1|   (TuNAS's absolute reward, Bender et al., "Can weight
        sharing outperform random architecture search? An investigation with TuNAS", CVPR 2020): two-sided,
        a network is penalised for missing its target in either direction, so the target is where the search
        is pulled. The form for a series over targets: mnas only pushes down onto a target that binds, and a
        target above where the accurate networks lie moves nothing when accuracy does not grow with cost.

Costs must be positive and finite: a zero or negative cost would make a product reward unbounded, so it
is an error (naming the cost), never floored. ``equivalent_members`` finds series members whose rewards
differ only by a constant factor per stage, i.e. members that would run the same search.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from tnd.costs.objectives import ACCURACY, OBJECTIVES, get_objective
from tnd.errors import TndError

if TYPE_CHECKING:  # annotations only: the config module imports this one
    from tnd.search.config import RewardConfig

FORMS = ("mnas", "soft", "hard", "sum", "absolute")
AUTO_FORM = "mnas"   # what form "auto" (or no form) resolves to: the one in which targets matter
# The exponent a cost gets when the config names none. For mnas it is the one above the target (beta: MnasNet's
# hard-constraint value); below the target MnasNet's soft value -0.07 ("doubling latency buys ~5% relative
# accuracy"), or the exponent above if that is milder.
# absolute: -0.5 makes missing a target by 10% cost 0.05 of accuracy (fraction scale), more than the spread
# of accuracies on small tasks, so the target decides.
DEFAULT_EXPONENT = {"mnas": -1.0, "soft": -0.3, "hard": -1.0, "sum": -0.1, "absolute": -0.5}
DEFAULT_EXPONENT_BELOW = -0.07
ACCURACY_SCALES = {"fraction": 1.0, "percent": 100.0}   # accuracy in [0, 1] (tnd) or in % (the authors' code)

REWARD_FORM_HELP = (
    "how costs enter the reward (acc: accuracy; c/T: a cost over its target; w: its exponent, negative "
    "penalises). mnas (default when targets are given): R = acc*(c/T)^a while c <= T and acc*(c/T)^b above T "
    "(MnasNet); the target is where the penalty steepens from a (default -0.07) to b (default -1), so it moves "
    "the result. soft: R = acc*(c/T)^w; the target only rescales R, which the policy gradient cancels, so only w "
    "matters. hard: R = acc up to T, acc*(c/T)^w above it; T is a threshold, w its steepness. sum: "
    "R = acc + w*c/T; only w/T matters (a linear price per unit of cost). absolute: R = acc + w*|c/T - 1| "
    "(TuNAS, default w -0.5); missing the target either way costs, so each target pulls the search to it: "
    "the form for a series over targets alone."
)
TARGET_HELP = (
    "targets per cost, e.g. params=1.5M,latency=2ms,energy=5mJ. With the mnas and hard forms a target is where "
    "the penalty starts or steepens; with soft it only rescales the reward (no effect on the search); with sum "
    "it divides the exponent; with absolute it is where the search is pulled. See --reward-form."
)
EXPONENT_HELP = (
    "exponent per cost, negative penalises, e.g. params=-0.3. mnas: the exponent above the target, or "
    "BELOW/ABOVE as in latency=-0.07/-1; soft: the only one; hard: above the target; sum and absolute: the "
    "weight."
)


# ---- the forms: pure functions ----------------------------------------------------------------

def check_costs(costs: Mapping[str, float]) -> None:
    """A reward never sees a cost that is zero, negative or not finite: it names the cost instead."""
    for k, c in costs.items():
        if not (isinstance(c, (int, float)) and math.isfinite(c) and c > 0):
            raise TndError(f"reward: the {k} of a network is {c!r}; costs must be positive and finite (a product "
                           f"reward would be unbounded). Check the cost model: for a table, `tnd lut show` its "
                           "entries and calibration")


def mnas_reward(acc: float, costs: Mapping[str, float], targets: Mapping[str, float],
                exponents: Mapping[str, float], exponents_below: Mapping[str, float]) -> float:
    """MnasNet's two-sided product: ``exponents_below[k]`` while c_k <= T_k, ``exponents[k]`` above."""
    check_costs(costs)
    r = acc
    for k, c in costs.items():
        r *= (c / targets[k]) ** (exponents_below[k] if c <= targets[k] else exponents[k])
    return r


def soft_reward(acc: float, costs: Mapping[str, float], targets: Mapping[str, float],
                exponents: Mapping[str, float]) -> float:
    check_costs(costs)
    r = acc
    for k, c in costs.items():
        r *= (c / targets[k]) ** exponents[k]
    return r


def hard_reward(acc: float, costs: Mapping[str, float], targets: Mapping[str, float],
                exponents: Mapping[str, float]) -> float:
    check_costs(costs)
    r = acc
    for k, c in costs.items():
        if c > targets[k]:
            r *= (c / targets[k]) ** exponents[k]
    return r


def sum_reward(acc: float, costs: Mapping[str, float], targets: Mapping[str, float],
               exponents: Mapping[str, float]) -> float:
    check_costs(costs)
    return acc + sum(exponents[k] * c / targets[k] for k, c in costs.items())


def absolute_reward(acc: float, costs: Mapping[str, float], targets: Mapping[str, float],
                    exponents: Mapping[str, float]) -> float:
    """TuNAS's two-sided penalty: the distance from the target, either way, scaled by the (negative) weight."""
    check_costs(costs)
    return acc + sum(exponents[k] * abs(c / targets[k] - 1.0) for k, c in costs.items())


# one exponent per cost
REWARD_FORMS = {"soft": soft_reward, "hard": hard_reward, "sum": sum_reward, "absolute": absolute_reward}


# ---- parsing ----------------------------------------------------------------------------------

def parse_exponent(text: str | float) -> float | dict[str, float]:
    """A flag's exponent: ``-0.3``, or ``BELOW/ABOVE`` (mnas) such as ``-0.07/-1``."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return float(text)
    below, slash, above = str(text).partition("/")
    try:
        return {"below": float(below), "above": float(above)} if slash else float(below)
    except ValueError:
        raise TndError(f"exponent {text!r} is not a number; write e.g. -0.3, or BELOW/ABOVE for the mnas form "
                       "(e.g. -0.07/-1)") from None


def _per_stage(cost: str, value: Any, n_stages: int, what: str) -> list[float]:
    read = get_objective(cost).parse if what == "target" else _number(cost, what)
    if isinstance(value, (list, tuple)):
        if len(value) != n_stages:
            raise TndError(f"reward: {what} for {cost} lists {len(value)} values but the search has "
                           f"{n_stages} stages; give one value or one per stage")
        return [read(v) for v in value]
    return [read(value)] * n_stages


def _number(cost: str, what: str):
    def read(v: Any) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise TndError(f"reward: {what} for {cost} must be a number (or one per stage), got {v!r}")
        return float(v)
    return read


def _default_below(above: float) -> float:
    """Below the target: MnasNet's soft -0.07, unless the exponent above is milder (then that one)."""
    if above < 0:
        return max(DEFAULT_EXPONENT_BELOW, above)
    return 0.0 if above == 0 else min(-DEFAULT_EXPONENT_BELOW, above)


def _exponents(cost: str, value: Any, form: str, n_stages: int) -> tuple[list[float], list[float] | None]:
    """(exponents above / the only one, exponents below for mnas) per stage."""
    if isinstance(value, Mapping):
        if form != "mnas":
            raise TndError(f"reward: {cost} has exponents below/above the target, which only the mnas form "
                           f"reads; give one exponent for the {form} form or set reward.form: mnas")
        unknown = sorted(set(value) - {"below", "above"})
        if unknown:
            raise TndError(f"reward: exponents for {cost} take 'below' and 'above', got {', '.join(unknown)}")
        above = _per_stage(cost, value.get("above", DEFAULT_EXPONENT["mnas"]), n_stages, "exponent above")
        below = (_per_stage(cost, value["below"], n_stages, "exponent below") if "below" in value
                 else [_default_below(a) for a in above])
    else:
        above = _per_stage(cost, DEFAULT_EXPONENT[form] if value is None else value, n_stages, "exponent")
        below = [_default_below(a) for a in above] if form == "mnas" else None
    return above, below


def resolve_form(form: str | None, costs: Sequence[str]) -> str:
    """``auto`` (or unset) is the mnas form: a target given is then a target that matters."""
    if form in (None, "auto"):
        return AUTO_FORM
    if form not in FORMS:
        raise TndError(f"reward: unknown form {form!r}; choose one of auto, {', '.join(FORMS)}")
    return form


# ---- the spec ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class RewardSpec:
    """Which costs enter the reward, with per-stage targets and exponents in canonical units.

    ``exponents`` is the exponent above the target for mnas (and hard), the only one for soft and sum;
    ``exponents_below`` is mnas's exponent below the target (None for the other forms). ``accuracy`` is
    the scale accuracy enters on: ``fraction`` (in [0, 1], tnd's) or ``percent`` (the authors')."""

    costs: tuple[str, ...]
    form: str
    targets: tuple[tuple[float, ...], ...]     # [cost][stage]
    exponents: tuple[tuple[float, ...], ...]   # [cost][stage]
    energy: str = "dynamic"
    exponents_below: tuple[tuple[float, ...], ...] | None = None   # [cost][stage], mnas only
    accuracy: str = "fraction"

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
        accuracy = cfg.accuracy
        if accuracy not in ACCURACY_SCALES:
            raise TndError(f"reward: accuracy must be one of {', '.join(ACCURACY_SCALES)}, got {accuracy!r}")
        form = resolve_form(cfg.form, costs)
        targets, above, below = [], [], []
        for c in costs:
            if c not in cfg.targets:
                raise TndError(f"reward: '{c}' needs a target, e.g. --target {c}={get_objective(c).example}")
            t = _per_stage(c, cfg.targets[c], n_stages, "target")
            if any(v <= 0 or not math.isfinite(v) for v in t):
                raise TndError(f"reward: target for {c} must be positive")
            targets.append(tuple(t))
            a, b = _exponents(c, cfg.exponents.get(c), form, n_stages)
            above.append(tuple(a))
            below.append(tuple(b) if b is not None else None)
        return cls(tuple(costs), form, tuple(targets), tuple(above), cfg.energy,
                   tuple(below) if form == "mnas" else None, accuracy)  # type: ignore[arg-type]

    def at_stage(self, stage: int) -> tuple[dict[str, float], dict[str, float], dict[str, float] | None]:
        """(targets, exponents, exponents below or None) of one stage, by cost."""
        targets = {c: self.targets[i][stage] for i, c in enumerate(self.costs)}
        exponents = {c: self.exponents[i][stage] for i, c in enumerate(self.costs)}
        below = ({c: self.exponents_below[i][stage] for i, c in enumerate(self.costs)}
                 if self.exponents_below is not None else None)
        return targets, exponents, below

    def reward(self, acc: float, costs: Mapping[str, float], stage: int) -> float:
        """R of a network with accuracy ``acc`` (a fraction in [0, 1]) and ``costs`` (canonical units)."""
        values = {c: costs[c] for c in self.costs}
        targets, exponents, below = self.at_stage(stage)
        acc = acc * ACCURACY_SCALES[self.accuracy]
        if self.form == "mnas":
            assert below is not None
            return mnas_reward(acc, values, targets, exponents, below)
        return REWARD_FORMS[self.form](acc, values, targets, exponents)

    def describe(self) -> str:
        scale = "accuracy as a fraction in [0, 1]" if self.accuracy == "fraction" else "accuracy in percent"
        if not self.costs:
            return f"R = acc ({scale})"
        parts = []
        for i, c in enumerate(self.costs):
            o = get_objective(c)
            t = "/".join(f"{v * o.display_scale:g}" for v in dict.fromkeys(self.targets[i]))
            w = "/".join(f"{v:g}" for v in dict.fromkeys(self.exponents[i]))
            if self.exponents_below is not None:
                wb = "/".join(f"{v:g}" for v in dict.fromkeys(self.exponents_below[i]))
                w = f"{wb} below, {w} above"
            parts.append(f"{c} (target {t}{o.display_suffix or (' ' + o.unit if o.unit else '')}, w {w})")
        return f"{self.form} reward ({scale}): acc with " + ", ".join(parts)

    def to_dict(self) -> dict:
        d = {"form": self.form, "objectives": ["acc", *self.costs], "energy": self.energy,
             "accuracy_scale": self.accuracy, "accuracy_range": [0.0, ACCURACY_SCALES[self.accuracy]],
             "targets": {c: list(self.targets[i]) for i, c in enumerate(self.costs)},
             "exponents": {c: list(self.exponents[i]) for i, c in enumerate(self.costs)},
             "units": {c: get_objective(c).unit for c in self.costs}}
        if self.exponents_below is not None:
            d["exponents_below"] = {c: list(self.exponents_below[i]) for i, c in enumerate(self.costs)}
        return d


@dataclass(frozen=True)
class Preference:
    """One point of a Pareto series, resolved: its name and its complete reward."""

    name: str
    spec: RewardSpec

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, **self.spec.to_dict()}


# ---- series members that would run the same search --------------------------------------------

_MULTIPLIERS = (0.25, 0.5, 0.9, 1.0, 1.1, 2.0, 4.0)
_ACCURACIES = (0.1, 0.5, 0.93)


def _probe_points(a: RewardSpec, b: RewardSpec, stage: int) -> list[tuple[float, dict[str, float]]]:
    """(acc, costs) points around both members' targets: each cost varied alone, then some jointly."""
    ta, tb = a.at_stage(stage)[0], b.at_stage(stage)[0]
    levels = {c: sorted({t * m for t in (ta[c], tb[c]) for m in _MULTIPLIERS}) for c in a.costs}
    base = {c: ta[c] for c in a.costs}
    points = [(acc, dict(base)) for acc in _ACCURACIES]
    for c, values in levels.items():
        points += [(acc, {**base, c: v}) for v in values for acc in _ACCURACIES[:2]]
    rng = random.Random(0)
    points += [(rng.choice(_ACCURACIES), {c: rng.choice(v) for c, v in levels.items()}) for _ in range(64)]
    return points


def _stage_factor(a: RewardSpec, b: RewardSpec, stage: int) -> float | None:
    """k > 0 with R_a = k R_b at every probe point, or None."""
    k = None
    for acc, costs in _probe_points(a, b, stage):
        ra, rb = a.reward(acc, costs, stage), b.reward(acc, costs, stage)
        if rb == 0 or ra == 0:
            if ra != rb:
                return None
            continue
        r = ra / rb
        if k is None:
            if r <= 0:
                return None
            k = r
        elif abs(r - k) > 1e-9 * abs(k):
            return None
    return k if k is not None else 1.0


def _members_differ(a: RewardSpec, b: RewardSpec) -> bool:
    return (set(a.costs) != set(b.costs) or a.energy != b.energy or a.accuracy != b.accuracy
            or len({len(t) for t in a.targets + b.targets}) > 1)


def equivalent_members(prefs: Sequence[Preference]) -> list[tuple[str, str, str]]:
    """Pairs of series members whose rewards differ only by a constant factor in every stage, with why.

    REINFORCE with a moving baseline and Adam cancels such a factor (the advantage R - b and Adam's
    normalised step scale alike), so the two members run the same search; a series should not spend a
    run on each. Checked numerically on points around both members' targets, so any form is covered.
    """
    out = []
    for i, pa in enumerate(prefs):
        for pb in prefs[i + 1:]:
            a, b = pa.spec, pb.spec
            if _members_differ(a, b):
                continue
            n_stages = len(a.targets[0]) if a.costs else 1
            factors = [_stage_factor(a, b, s) for s in range(n_stages)]
            if any(k is None for k in factors):
                continue
            out.append((pa.name, pb.name, _why(a, b, factors)))  # type: ignore[arg-type]
    return out


def _why(a: RewardSpec, b: RewardSpec, factors: list[float]) -> str:
    if all(abs(k - 1.0) <= 1e-9 for k in factors):
        return "identical rewards"
    scale = "/".join(f"{k:.3g}" for k in dict.fromkeys(factors))
    hint = {"soft": "in the soft form a target only rescales the reward; give the members different exponents, "
                    "or use --reward-form absolute (each member is pulled to its own target)",
            "mnas": "their exponents below and above the target are equal, so the target only rescales the "
                    "reward; give different exponents below and above (e.g. -0.07/-1)"}.get(
        a.form, "give the members different targets or exponents")
    return (f"rewards differ only by a factor {scale}, which the policy-gradient update cancels (Adam and the "
            f"moving baseline): both run the same search; {hint}")


def targets_only_hint(prefs: Sequence[Preference]) -> str | None:
    """A hint, not an error: a mnas-form series whose members differ only in their targets. In the mnas form a
    target only pushes *down* where it binds, so a target above where the accurate networks already lie
    moves nothing; the absolute form pulls each member to its own target (benchmarks/RESULTS.md, bench_search
    part 3: derived latencies ordered by target on 3/3 seeds in the absolute form, 2/3 and 1/3 in mnas)."""
    specs = [p.spec for p in prefs]
    if len(specs) < 2 or any(s.form != "mnas" for s in specs):
        return None
    first = specs[0]
    same_rest = all(s.exponents == first.exponents and s.exponents_below == first.exponents_below
                    and not _members_differ(first, s) for s in specs[1:])
    if not same_rest or len({s.targets for s in specs}) < len(specs):
        return None
    return ("the members differ only in their targets: in the mnas form a target pulls a member only where it "
            "binds (one above the accurate networks' cost moves nothing); --reward-form absolute (reward.form: "
            "absolute) pulls each member to its own target")


def equivalence_message(prefs: Sequence[Preference]) -> str | None:
    """One line for a warning or a refusal, or None when every member is distinct."""
    pairs = equivalent_members(prefs)
    if not pairs:
        return None
    first = pairs[0]
    more = f" (and {len(pairs) - 1} more pair(s))" if len(pairs) > 1 else ""
    return f"preferences '{first[0]}' and '{first[1]}' would run the same search{more}: {first[2]}"
