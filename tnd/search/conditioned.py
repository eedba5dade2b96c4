"""A preference- and device-conditioned policy: alpha = f(z), one network in place of one alpha table.

z = (preference weights over the objectives, device features). MODNAS (Sukthanker et al.) conditions a
hypernetwork on the same two inputs but trains it through differentiable proxies of the hardware costs;
here f is trained by REINFORCE, so a cost only has to be *read* (a measured latency, a table's energy):
each alpha step draws preference vectors over the simplex (and a device, when several are trained on),
samples architectures from softmax(f(z)), and rewards each under its own preference. After the search
any member is derived in microseconds: argmax of f(z) for the z asked for, no data and no training.

The maths are pure functions (the scalarisation, the advantages, the simplex grid, the device features);
``ConditionedPolicy`` holds f and the alive masks. With f's head zero-initialised, f(z) = bias for every
z at the start, and for one fixed z the bias receives exactly the plain ``Policy``'s REINFORCE gradient.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import torch

from tnd.errors import TndError
from tnd.search.normalised_hv import pareto_front
from tnd.search.policy import masked_log_softmax, sample_ops, shrink_alive

ACCURACY = "acc"
SCALARISATION = "augmented Tchebycheff over normalised objectives"   # how a member's weights score a cell
TCHEBYCHEFF_RHO = 0.05   # the augmentation term: breaks ties of the max between the weighted objectives




@dataclass
class ConditionedSettings:
    """The conditioned policy's settings; the defaults were chosen on val_cifar10 x latency_ms_1080ti_1. The
    supernet search (``tnd.search.conditioned_supernet``) reads them from the config's ``conditioned``
    section; the fit after the budget (``refine_*``) and the aimed last phase (``gap_share``) are the tabular
    search's alone."""

    hidden: int = 32                   # f's hidden width (0: f is linear in z)
    preferences_per_step: int = 4      # weight vectors (and devices) drawn per alpha step
    samples_per_preference: int = 3    # cells drawn per weight vector (the leave-one-out group)
    lr: float = 0.02                   # Adam on f (0.05 and 0.01 found less of the front)
    grad_clip: float = 5.0
    shrink_grid: int = 11              # preferences shrinking serves (tabular: union_top_k; supernet: best_top_k)
    grid: int = 5                      # members per training device at the end (tabular: placed by place_members)
    refine_steps: int = 3000           # at most: the fit of f to the best cell read per preference, after the budget
    refine_grid: int = 21              # preferences (per training device) the fit makes derive their best read cell
    # tabular only: the last share of the training reads draws each preference aimed at a gap of the front read
    # so far (gap_weights; two objectives only). 0.5 chosen on val_cifar10, 10 latency columns, 5-member HV
    # fraction, mean over columns: 0 -> 0.9795 (seeds 0-4) / 0.9784 (seeds 5-9); 0.4 -> 0.9813; 0.5 -> 0.9814 /
    # 0.9800; 0.8 -> 0.9810; half the preferences aimed (0.5 or 0.8 of the reads) 0.9808 / 0.9798
    gap_share: float = 0.5
    # tabular only: the weight of a pull towards each drawn preference's incumbent (the best cell read so far
    # under that preference's reward, ``incumbents``) added to every alpha step's REINFORCE loss as the
    # cross-entropy of that cell (``reinforce_conditioned``'s ``anchor``); the conditioned counterpart of the
    # series' warm start. 0: no pull (the search as before, exactly). bench_conditioned, seeds 0-4, 10 columns,
    # 5 members' mean HV fraction / columns >= the warm-started series / zero-shot 5 members: 0 -> 0.9814, 6/10,
    # 0.961-0.971; 0.05 -> 0.9872, 9/10, 0.951-0.969; 0.1 -> 0.9880, 9/10, 0.954-0.977; 0.2 -> 0.9886, 10/10,
    # but zero-shot pixel3 0.944 (< 0.95); 1.0 -> 0.9879, 9/10, pixel3 0.948
    incumbent_pull: float = 0.1
    # supernet only: a preference that gives accuracy no weight (latency=1) has a reward the cost model alone
    # decides, exactly, with no supernet and no data. Shrinking keeps each edge's cheapest alive op by each
    # rewarded cost (``cheapest_alive``, beside f's ranking), and such a member is the best network within
    # single changes of f(z)'s argmax under its reward (``tnd.search.local_search``). On the digits demo f's
    # own argmax there was 2-13 us above the cheapest network its alive ops allowed (a saturated f samples no
    # alternative), and a shrink by f alone could drop every cheap op of an edge. False: f alone
    exact_cost_ends: bool = True
    # supernet only: each alpha step samples the front's ends exactly (``with_ends``: for two objectives the two
    # extreme strata's draws become (1, 0) and (0, 1)), so the members at the ends are learned where they are
    # derived, not extrapolated from draws ~1/8 inside them. Digits demo, seeds 0-5: docs/design-decisions.md
    # ("Digits: the front's ends pinned, the cost-only end exact")
    pin_ends: bool = True

    def check(self, where: str, n_objectives: int, tabular: bool) -> None:
        """One error naming every setting out of its range, for the search that reads them (``tabular``: the
        tabular search's fields too; else the supernet search's ``pin_ends``, which needs a preference a step
        per objective). The one check both searches and the tabular loop call."""
        bad = [f"samples_per_preference {self.samples_per_preference} (>= 2: the leave-one-out group)"
               ] if self.samples_per_preference < 2 else []
        counts = ("preferences_per_step", "grid", "shrink_grid") + (("refine_grid",) if tabular else ())
        bad += [f"{n} {getattr(self, n)} (>= 1)" for n in counts if getattr(self, n) < 1]
        bad += [f"{n} {getattr(self, n)} (> 0)" for n in ("lr", "grad_clip") if not getattr(self, n) > 0]
        bad += [f"hidden {self.hidden} (>= 0)"] if self.hidden < 0 else []
        if tabular:
            bad += [f"refine_steps {self.refine_steps} (>= 0)"] if self.refine_steps < 0 else []
            bad += [f"gap_share {self.gap_share} (in [0, 1))"] if not 0 <= self.gap_share < 1 else []
            bad += [f"incumbent_pull {self.incumbent_pull} (>= 0)"] if not self.incumbent_pull >= 0 else []
        elif self.pin_ends and self.preferences_per_step < n_objectives:
            bad.append(f"preferences_per_step {self.preferences_per_step} (>= {n_objectives} with pin_ends, which "
                       f"puts the front's {n_objectives} ends among each step's preferences; or pin_ends: false)")
        if bad:
            raise TndError(f"{where}: conditioned settings out of range: {'; '.join(bad)}")


# ---- pure maths -------------------------------------------------------------------------------

def tchebycheff(f: Sequence[float], weights: Sequence[float], rho: float = TCHEBYCHEFF_RHO) -> float:
    """Augmented weighted Tchebycheff reward of normalised objectives ``f`` (lower is better, 0 = ideal):
    -(max_k w_k f_k + rho * sum_k w_k f_k). Unlike a weighted sum, every Pareto-optimal point (also on a
    non-convex part of the front) is the maximiser for some weight vector; the augmentation prefers, of two
    cells with the same max, the one better in the other weighted objectives (an objective of weight 0
    is ignored, as the preference asks)."""
    terms = [w * v for w, v in zip(weights, f)]
    return -(max(terms) + rho * sum(terms))


def normalise(value: float, lo: float, hi: float) -> float:
    """``value`` on [lo, hi] -> [0, 1] (outside the range it extrapolates; a flat range maps to 0)."""
    return 0.0 if hi <= lo else (value - lo) / (hi - lo)


@dataclass(frozen=True)
class RewardRanges:
    """The fixed values each objective of a reward point (error, then each cost) maps to 0 and 1, resolved
    once per run, so that a sample's reward depends on it alone and not on the other samples of its step:
    normalised over a step's own samples, converged samples' tiny differences are stretched to [0, 1] and
    the preference no longer decides which of them is better. ``sources`` says where each range came from."""

    names: tuple[str, ...]            # "error", then each cost
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    sources: tuple[str, ...]

    def __post_init__(self) -> None:
        if not (len(self.names) == len(self.lower) == len(self.upper) == len(self.sources)) or not self.names:
            raise TndError("reward ranges: give one lower, upper and source per objective")
        bad = [n for n, lo, hi in zip(self.names, self.lower, self.upper)
               if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo)]
        if bad:
            raise TndError(f"reward ranges: {', '.join(bad)} needs a finite range with upper > lower")

    def normalise(self, point: Sequence[float]) -> list[float]:
        """``point`` (error, costs...) on the ranges: 0 at each lower end, 1 at each upper (extrapolated outside)."""
        if len(point) != len(self.names):
            raise TndError(f"reward point has {len(point)} objectives, the ranges {len(self.names)}")
        return [normalise(v, lo, hi) for v, lo, hi in zip(point, self.lower, self.upper)]

    def to_dict(self) -> dict[str, Any]:
        return {n: {"range": [lo, hi], "source": src}
                for n, lo, hi, src in zip(self.names, self.lower, self.upper, self.sources)}


def scalarised_rewards(points: Sequence[Sequence[float]], weights: Sequence[Sequence[float]], group_size: int,
                       ranges: RewardRanges, rho: float = TCHEBYCHEFF_RHO) -> torch.Tensor:
    """Each sample's reward: its point (error, costs...) normalised on the fixed ``ranges``, scalarised by
    ``tchebycheff`` under the weights of its group (consecutive groups of ``group_size`` samples share one)."""
    if group_size < 1 or len(points) != len(weights) * group_size:
        raise TndError(f"rewards: {len(points)} samples do not make {len(weights)} groups of {group_size}")
    return torch.tensor([tchebycheff(ranges.normalise(p), weights[i // group_size], rho)
                         for i, p in enumerate(points)], dtype=torch.float64)


def incumbents(points: torch.Tensor, weights: torch.Tensor, rho: float = TCHEBYCHEFF_RHO) -> torch.Tensor:
    """For each weight vector (``weights``: g x m), the index of its incumbent among ``points`` (n x m normalised
    objectives of the cells read, lower is better): the argmax over the rows of ``tchebycheff(point, w)``, the
    first row on a tie. g indices; an error when no row is given."""
    p, w = points.to(torch.float64), weights.to(torch.float64)
    if p.ndim != 2 or p.shape[0] == 0 or w.ndim != 2 or w.shape[1] != p.shape[1]:
        raise TndError(f"incumbents: need n >= 1 points and weights of the same width, got {tuple(p.shape)} "
                       f"and {tuple(w.shape)}")
    terms = w[:, None, :] * p[None, :, :]                                      # g x n x m
    return (-(terms.max(-1).values + rho * terms.sum(-1))).argmax(1)


def rloo_advantages(rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    """Leave-one-out baseline within each group of samples drawn for one z: R_i - mean of the others.
    Rewards under different preferences are on different scales, so each is compared with its own z's."""
    r = rewards.view(-1, group_size)
    others = (r.sum(-1, keepdim=True) - r) / (group_size - 1)
    return (r - others).reshape(-1)


def draw_weights(n: int, m: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` preference vectors uniformly over the (m-1)-simplex. For two objectives they are stratified
    (one in each n-th of [0, 1]), so every step contrasts preferences from the whole front; for more,
    Dirichlet(1) draws (normalised exponentials)."""
    if m == 2:
        u = (torch.arange(n, dtype=torch.float64) + torch.rand(n, generator=generator, dtype=torch.float64)) / n
        return torch.stack([1 - u, u], -1).float()
    e = -torch.log(torch.rand(n, m, generator=generator, dtype=torch.float64).clamp_min(1e-12))
    return (e / e.sum(-1, keepdim=True)).float()


def with_ends(weights: torch.Tensor) -> torch.Tensor:
    """``weights`` (n x m, from ``draw_weights``) with the simplex's vertices in place of the first draws: for two
    objectives the first and last rows, whose strata hold the ends, become (1, 0) and (0, 1); for more, the
    first m rows become the m single-objective vectors. Every alpha step then samples both ends of the front
    exactly (needs n >= m; with n = m every draw is an end)."""
    n, m = weights.shape
    if n < m:
        raise TndError(f"pinning the front's ends needs at least as many preferences a step ({n}) as objectives "
                       f"({m})")
    out = weights.clone()
    eye = torch.eye(m, dtype=weights.dtype)
    if m == 2:
        out[0], out[-1] = eye[0], eye[1]
    else:
        out[:m] = eye
    return out


def gap_weights(points: Sequence[Sequence[float]], n: int, generator: torch.Generator,
                floor: float = 1e-3) -> torch.Tensor | None:
    """``n`` two-objective preference vectors aimed at the gaps of the front of ``points`` (normalised
    objectives read so far, lower is better): each gap between neighbouring front points is drawn with
    probability proportional to the area a new point inside it could add (its rectangle), and its weights
    point the Tchebycheff ray from the origin at the rectangle's centre t (w proportional to 1/t, each t_k
    at least ``floor``), so the cell that maximises the reward there lies in the gap if one does. None when
    the front has fewer than two points or no gap has area (then draw as usual)."""
    pts = torch.tensor([list(p) for p in points], dtype=torch.float64)
    if pts.ndim != 2 or pts.shape[0] < 2 or pts.shape[1] != 2:
        return None
    front = torch.unique(pts[torch.as_tensor(pareto_front(pts.numpy()))], dim=0)   # sorted by the first objective
    if front.shape[0] < 2:
        return None
    lo, hi = front[:-1], front[1:]                   # neighbours along the front, by the first objective
    area = (hi[:, 0] - lo[:, 0]) * (lo[:, 1] - hi[:, 1])
    if not bool((area > 0).any()):
        return None
    pick = torch.multinomial(area / area.sum(), n, replacement=True, generator=generator)
    centre = ((lo[pick] + hi[pick]) / 2).clamp_min(floor)
    w = 1.0 / centre
    return (w / w.sum(-1, keepdim=True)).float()


def simplex_grid(m: int, k: int) -> list[tuple[float, ...]]:
    """Evenly spread preference vectors: for 2 objectives ``k`` points from (1, 0) to (0, 1); for more, the
    simplex lattice with k-1 divisions (every vector of multiples of 1/(k-1) summing to 1)."""
    if m < 1 or k < 1:
        raise TndError("a preference grid needs at least one objective and one point")
    if m == 1 or k == 1:
        return [tuple([1.0 / m] * m)]
    d = k - 1
    out = [tuple(c / d for c in combo) for combo in itertools.product(range(d + 1), repeat=m) if sum(combo) == d]
    return sorted(out, reverse=True)


def preference_input(weights: Sequence[float]) -> torch.Tensor:
    """f's preference input: the weights centred on the uniform preference (so f's bias holds the average
    policy and its head how a preference moves it)."""
    w = torch.tensor(list(weights), dtype=torch.float32)
    return w - 1.0 / len(w)


def union_top_k(alphas: Iterable[torch.Tensor], alive: torch.Tensor, keep: int) -> torch.Tensor:
    """The alive mask that keeps, on each edge, the union over ``alphas`` (one edges x ops table per
    preference) of each one's top-``keep`` alive ops: an op strong for *some* preference survives."""
    union = torch.zeros_like(alive)
    for alpha in alphas:
        union |= shrink_alive(alpha, alive, keep)
    return union


def cheapest_alive(edge_costs: torch.Tensor, alive: torch.Tensor) -> torch.Tensor:
    """One-hot (edges x ops) on each edge's cheapest alive op by ``edge_costs`` (a row with no finite alive
    price: all zeros): the policy of a preference that weighs that cost alone, exactly."""
    masked = edge_costs.masked_fill(~alive, float("inf"))
    out = torch.zeros(alive.shape, dtype=torch.float32)
    finite = torch.isfinite(masked).any(-1)
    out[finite, masked[finite].argmin(-1)] = 1.0
    return out


def best_top_k(alphas: Iterable[torch.Tensor], alive: torch.Tensor, keep: int,
               exact: Iterable[torch.Tensor] = ()) -> torch.Tensor:
    """The alive mask that keeps, on each edge, exactly ``keep`` alive ops (fewer where fewer are alive): those
    most probable under *some* of ``alphas`` (each op scored by its largest probability over them). An op
    strong for one end of the front survives as in ``union_top_k``, but the stage gets the op count its
    config asks for, so each op's shared weights are trained as often as in a series' supernet. ``exact``:
    probability tables of preferences known without f (``cheapest_alive``), ranked beside f's."""
    best = None
    probs = [masked_log_softmax(alpha.detach(), alive).exp() for alpha in alphas] + [p.float() for p in exact]
    for p in probs:
        best = p if best is None else torch.maximum(best, p)
    if best is None:
        raise TndError("shrinking needs at least one preference's alpha")
    return shrink_alive(best, alive, keep)


def device_features(reference_costs: Sequence[float]) -> torch.Tensor:
    """A device as the shape of its reference networks' latencies: log c - mean(log c). Scale-free (a phone
    and a GPU differ by orders of magnitude; what transfers is which networks are relatively slow)."""
    c = torch.tensor([float(v) for v in reference_costs], dtype=torch.float64)
    if c.numel() == 0 or not bool(torch.isfinite(c).all()) or not bool((c > 0).all()):
        raise TndError("device features: every reference network needs a positive, finite measured cost")
    logc = c.log()
    return (logc - logc.mean()).float()


def preference_name(objectives: Sequence[str], weights: Sequence[float]) -> str:
    """``acc=0.75,latency=0.25``: a weight vector as ``--preference`` reads it."""
    return ",".join(f"{o}={w:.4g}" for o, w in zip(objectives, weights))


def preference_record(objectives: Sequence[str], weights: Sequence[float],
                      device: str | None = None) -> dict[str, Any]:
    """A conditioned member's ``preference`` in result.json: its name, weights and (when known) device."""
    record: dict[str, Any] = {"name": preference_name(objectives, weights), "weights": dict(zip(objectives, weights)),
                              "scalarisation": SCALARISATION}
    if device is not None:
        record["device"] = device
    return record


def parse_preference(text: str, objectives: Sequence[str]) -> tuple[float, ...]:
    """``latency=0.7`` (the rest, 0.3, goes to accuracy) or ``acc=0.2,latency=0.5,energy=0.3`` -> weights in
    the order of ``objectives``; a name the run did not learn is an error naming the ones it did."""
    given: dict[str, float] = {}
    for part in [p for p in str(text).split(",") if p.strip()]:
        name, eq, value = part.partition("=")
        name = name.strip()
        if not eq:
            raise TndError(f"preference {part!r}: write NAME=WEIGHT, e.g. latency=0.7")
        if name not in objectives:
            raise TndError(f"preference over {name!r}, which this run did not learn; it learned "
                           f"{', '.join(objectives)} (e.g. --preference {objectives[-1]}=0.7)")
        try:
            w = float(value)
        except ValueError:
            raise TndError(f"preference {part!r}: {value!r} is not a number") from None
        if not (math.isfinite(w) and w >= 0):
            raise TndError(f"preference {part!r}: a weight must be a number >= 0")
        given[name] = w
    if not given:
        raise TndError(f"empty preference; give weights such as {objectives[-1]}=0.7")
    rest = [o for o in objectives if o not in given]
    total = sum(given.values())
    if total > 1 + 1e-9 or (not rest and total <= 0):
        raise TndError(f"preference {text!r}: the weights must sum to at most 1 (the rest goes to "
                       f"{', '.join(rest) or 'nothing'}) and not all be 0")
    share = (1.0 - total) / len(rest) if rest else 0.0
    weights = [given.get(o, share) for o in objectives]
    s = sum(weights)
    return tuple(w / s for w in weights)


# ---- the policy -------------------------------------------------------------------------------

class ConditionedPolicy(torch.nn.Module):
    """alpha(z) = bias + head(tanh(inner(z))) (``hidden`` > 0) or bias + head(z) (``hidden`` = 0), one row
    of logits per edge over ``ops``; ``alive`` masks the ops progressive shrinking removed."""

    def __init__(self, ops: Sequence[str], n_edges: int, n_inputs: int, hidden: int = 32,
                 generator: torch.Generator | None = None):
        super().__init__()
        self.ops, self.n_edges, self.n_inputs, self.hidden = list(ops), n_edges, n_inputs, hidden
        n_out = n_edges * len(self.ops)
        self.bias = torch.nn.Parameter(torch.zeros(n_edges, len(self.ops)))
        self.inner = torch.nn.Linear(n_inputs, hidden) if hidden else None
        self.head = torch.nn.Linear(hidden or n_inputs, n_out)
        with torch.no_grad():
            if self.inner is not None:
                self.inner.weight.copy_(torch.randn(self.inner.weight.shape, generator=generator)
                                        / math.sqrt(max(n_inputs, 1)))
                self.inner.bias.zero_()
            self.head.weight.zero_()   # f(z) = bias at the start, whatever z
            self.head.bias.zero_()
        self.register_buffer("alive", torch.ones(n_edges, len(self.ops), dtype=torch.bool))

    def alpha(self, z: torch.Tensor) -> torch.Tensor:
        """Logits (edges x ops) for one z, or (batch x edges x ops) for a batch of zs (batch x n_inputs)."""
        h = torch.tanh(self.inner(z)) if self.inner is not None else z
        # (the caller centres z: the bias holds the average policy, the head how z moves it)
        return self.bias + self.head(h).view(*z.shape[:-1], self.n_edges, len(self.ops))

    def log_probs(self, zs: torch.Tensor, choices: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
        """log pi(choice_i | z_i) for a batch: zs (batch x n_inputs), choices (batch x edges, or one row each)."""
        logp = masked_log_softmax(self.alpha(zs), self.alive)
        return logp.gather(-1, torch.stack(list(choices)).unsqueeze(-1)).squeeze(-1).sum(-1)

    def sample(self, z: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return sample_ops(self.alpha(z).detach(), self.alive, generator)

    def probs(self, z: torch.Tensor) -> torch.Tensor:
        return masked_log_softmax(self.alpha(z).detach(), self.alive).exp()

    def derive(self, z: torch.Tensor) -> list[str]:
        """The most probable alive op of each edge for ``z`` (deterministic: no sampling)."""
        return [self.ops[int(i)] for i in self.probs(z).argmax(-1)]

    def shrink(self, zs: Sequence[torch.Tensor], keep: int) -> int:
        """Keep, on each edge, the union over ``zs`` of each z's top-``keep`` alive ops, so no region of the
        front loses the ops it needs. Returns how many ops were dropped."""
        with torch.no_grad():
            union = union_top_k((self.alpha(z) for z in zs), self.alive, keep)
        dropped = int(self.alive.sum() - union.sum())
        self.alive.copy_(union)
        return dropped

    # ---- a JSON record (no pickles): what ``tnd derive`` rebuilds the policy from ----------------
    def to_dict(self) -> dict[str, Any]:
        return {"ops": self.ops, "n_edges": self.n_edges, "n_inputs": self.n_inputs, "hidden": self.hidden,
                "state": {k: v.tolist() for k, v in self.state_dict().items()}}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ConditionedPolicy":
        try:
            policy = cls(d["ops"], int(d["n_edges"]), int(d["n_inputs"]), int(d["hidden"]))
            state = {k: torch.tensor(v, dtype=torch.bool if k == "alive" else torch.float32)
                     for k, v in d["state"].items()}
            policy.load_state_dict(state)
        except (KeyError, TypeError, ValueError, RuntimeError) as e:
            raise TndError(f"conditioned policy record is damaged or from another version ({e}); "
                           "re-run the search") from None
        return policy


def fit_to_best_read(policy: ConditionedPolicy, optimiser: torch.optim.Optimizer, zs: Sequence[torch.Tensor],
                     cells: torch.Tensor, rewards: torch.Tensor, steps: int, grad_clip: float) -> float:
    """After the search, with no new reads: fit f so that, for each z, its most probable cell is the best
    cell read under z's reward. ``cells`` (n x edges op indices) are the cells read, ``rewards`` (len(zs), n)
    their rewards under each z; at most ``steps`` Adam steps, fewer once every z derives its best cell.
    The loss is the cross-entropy of each z's best cell (maximum likelihood on
    the elite, the cross-entropy method's step). Ascending the expected reward over the read cells instead
    stalls: its gradient is proportional to a cell's probability, and the best cell for a z is often one
    the policy gives ~1e-6. Every read cell is a candidate, also one with an op a later stage dropped
    (it was read, so it is known): that op becomes alive again on its edge. Returns the fraction of zs whose
    derived cell is their best read cell."""
    if not len(zs) or cells.shape[0] == 0:
        return float("nan")
    targets = cells[rewards.argmax(1)]                                         # len(zs) x edges
    with torch.no_grad():   # an op shrinking dropped is alive again where a best read cell needs it
        policy.alive.scatter_(1, targets.T, True)

    batch = torch.stack(list(zs))

    def hit_rate() -> float:
        with torch.no_grad():
            derived = masked_log_softmax(policy.alpha(batch), policy.alive).argmax(-1)
            return float((derived == targets).all(-1).float().mean())

    for step in range(steps):
        if step % 50 == 0 and hit_rate() == 1.0:
            break
        loss = -policy.log_probs(batch, targets).mean()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(policy.parameters(), grad_clip)
        optimiser.step()
    return hit_rate()


def reinforce_conditioned(policy: Any, optimiser: torch.optim.Optimizer,
                          zs: Sequence[torch.Tensor], choices: Sequence[torch.Tensor], rewards: torch.Tensor,
                          group_size: int, grad_clip: float,
                          anchor: tuple[Sequence[torch.Tensor], Sequence[torch.Tensor]] | None = None,
                          anchor_weight: float = 0.0) -> float:
    """One REINFORCE step on f: descend -mean(A_i log pi(a_i | z_i)), A the leave-one-out advantages of
    consecutive groups of ``group_size`` samples (one group per z). Returns the loss.
    ``policy`` is a ``ConditionedPolicy`` or anything with its ``log_probs(zs, choices)`` and parameters (the
    supernet search's policy over several cell types, whose choices are one mapping per sample).
    ``anchor`` (zs, cells) with ``anchor_weight`` > 0 adds anchor_weight * -mean(log pi(cell_j | z_j)): a pull
    towards given cells (the incumbents of the step's preferences); without it the step is unchanged."""
    adv = rloo_advantages(rewards, group_size).float()
    loss = -(adv * policy.log_probs(torch.stack(list(zs)), choices)).mean()
    if anchor is not None and anchor_weight > 0 and len(anchor[0]):
        loss = loss - anchor_weight * policy.log_probs(torch.stack(list(anchor[0])), anchor[1]).mean()
    optimiser.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(policy.parameters(), grad_clip)
    optimiser.step()
    return float(loss.detach())
