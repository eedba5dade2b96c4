"""The conditioned search on a tabular benchmark: one policy f(preference, device) for the whole front.

Per alpha step: ``preferences_per_step`` weight vectors w drawn uniformly over the simplex of the
objectives (accuracy first, then the costs) and, for each, a device drawn among the training ones; z =
(w, that device's features); ``samples_per_preference`` cells drawn from softmax(f(z)); each rewarded
by the augmented Tchebycheff scalarisation of its normalised objectives under its own w; REINFORCE with
a leave-one-out baseline within each z's group. Progressive shrinking keeps, per edge, the union over a
grid of preferences (and every training device) of each one's top-k ops. After the budget, f is fitted
so that each of a finer grid of preferences derives the best cell read for it (no new reads; see
``fit_to_best_read``). Then ``grid`` members are placed per training device (``place_members``): of that
finer grid's preferences, the ``grid`` whose derived cells (already read) have the largest hypervolume by
the objective values the run read; f itself is returned, so any other member, or a device never trained
on, is derived later from its reference networks' costs alone (``tnd derive``).

Normalisation, per device: error and each cost are mapped to [0, 1] over the min and max of the
reference networks' values on that device (``tnd.space.nb201.reference``), which is all a new device
provides, so training and zero-shot derivation scale costs the same way.

The last ``gap_share`` of the training reads (two objectives) aims each step's preferences at the gaps of
the front read so far, per device (``gap_weights``): the same REINFORCE steps on cells sampled from f, only
the preferences they are drawn for change, towards the regions where a new cell would add most area.

Each alpha step also pulls f towards the incumbent of each of its drawn (preference, device) pairs, the best
cell read so far under that preference's reward on that device (``incumbents``): ``incumbent_pull`` times the
cross-entropy of that cell is added to the REINFORCE loss (the counterpart of the series' warm start, which
starts each member at its own incumbent; 0 turns it off).

Budget: distinct cells read (the reference networks included; one read gives a cell's row on every
training device, as a tabular benchmark does), with one read per derived member kept back.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import torch

from tnd.errors import TndError
from tnd.search.normalised_hv import hypervolume_2d, hypervolume_subset
from tnd.search.pareto import hypervolume
from tnd.search.conditioned import (ACCURACY, ConditionedPolicy, ConditionedSettings, device_features, draw_weights,
                                    fit_to_best_read, gap_weights, incumbents, normalise, preference_input,
                                    reinforce_conditioned, simplex_grid, tchebycheff)
from tnd.search.progressive import seed_of
from tnd.space.nb201 import N_EDGES, NB201_OPS, NB201Arch
from tnd.space.nb201.reference import REFERENCE_ARCHS

FEATURE_COST = "latency"   # the device-dependent cost whose reference values describe a device
DEVICE_SEP = "@"           # a table's cost key of one training device's latency: latency@NAME


def device_cost_key(device: str) -> str:
    return f"{FEATURE_COST}{DEVICE_SEP}{device}"


def is_device_cost(key: str) -> bool:
    return DEVICE_SEP in key


@dataclass
class DeviceScale:
    """How one device's objectives are normalised and described: from its reference networks' rows."""

    reference_costs: list[float]                   # the feature cost of each reference network
    ranges: dict[str, tuple[float, float]]         # objective -> (lo, hi): accuracy in %, costs canonical

    def features(self) -> torch.Tensor:
        return device_features(self.reference_costs)

    def normalised(self, accuracy: float, costs: Mapping[str, float]) -> list[float]:
        """[error, cost...] on [0, 1] (0: the best reference value)."""
        lo, hi = self.ranges[ACCURACY]
        return [normalise(hi - accuracy, 0.0, hi - lo)] + [normalise(costs[c], *self.ranges[c]) for c in costs]

    def to_dict(self) -> dict[str, Any]:
        return {"reference_costs": self.reference_costs, "ranges": {k: list(v) for k, v in self.ranges.items()}}

    @classmethod
    def of(cls, accuracies: Sequence[float], costs: Mapping[str, Sequence[float]]) -> "DeviceScale":
        ranges = {ACCURACY: (min(accuracies), max(accuracies))}
        ranges.update({c: (min(v), max(v)) for c, v in costs.items()})
        return cls([float(v) for v in costs.get(FEATURE_COST, [])], ranges)


@dataclass
class ConditionedOutcome:
    objectives: list[str]                          # acc, then the costs: the order of a weight vector
    members: list[tuple[str, tuple[float, ...], NB201Arch]]   # (device, weights, derived cell)
    policy: ConditionedPolicy
    scales: dict[str, DeviceScale]                 # training device -> its normalisation and features
    log: list[dict[str, Any]] = field(default_factory=list)
    placements: dict[str, "Placement"] = field(default_factory=dict)   # training device -> how its members were placed

    def record(self) -> dict[str, Any]:
        """What result.json keeps to derive again: f, the objectives, each device's scale and placement."""
        return {"objectives": self.objectives, "reference_archs": [str(a) for a in REFERENCE_ARCHS],
                "feature_cost": FEATURE_COST, "policy": self.policy.to_dict(),
                "devices": {d: s.to_dict() for d, s in self.scales.items()},
                "uses_device_features": len(self.scales) > 1,
                "placement": {d: p.to_dict() for d, p in self.placements.items()}}


PLACEMENT_RULE = ("of the candidate grid's preferences, the K whose derived cells have the largest hypervolume "
                  "by the objective values the run read (normalised as in training; reference point: the worst "
                  "read value of each objective plus 10% of its read range); K evenly spread preferences when "
                  "fewer than K of the candidates' read cells are distinct and non-dominated")
REFERENCE_MARGIN = 0.1   # the placement's reference point: 10% beyond the worst value read of each objective


@dataclass
class Placement:
    """Where one training device's members sit: the candidate preferences (the refine grid), the cell f
    derives for each and, where that cell was read, its normalised objectives as read; the reference point
    of the hypervolume that chooses among them. ``weights(K)`` is what ``tnd derive --grid K`` gives."""

    grid: list[tuple[float, ...]]
    cells: list[str]
    read: list[list[float] | None]                 # None: the candidate's cell was not read (not a candidate)
    reference: list[float]
    decision: dict[str, Any] = field(default_factory=dict)   # the run's own K: what was chosen, by which numbers

    def chosen(self, k: int) -> list[int] | None:
        """Indices into ``grid`` of the ``k`` members of the largest read hypervolume (grid order); None when
        fewer than ``k`` distinct non-dominated read cells are among the candidates."""
        known = [i for i, p in enumerate(self.read) if p is not None]
        if not known or k >= len(self.grid):
            return None
        picked = hypervolume_subset([self.read[i] for i in known], self.reference, k)
        return sorted(known[int(j)] for j in picked) if len(picked) == k else None

    def weights(self, k: int) -> list[tuple[float, ...]]:
        """The members' preferences for ``--grid K``: as many as the evenly spread grid of K has (K for two
        objectives), placed by ``chosen``, or that evenly spread grid when ``chosen`` gives none."""
        even = simplex_grid(len(self.reference), k)
        chosen = self.chosen(len(even))
        return even if chosen is None else [self.grid[i] for i in chosen]

    def read_hypervolume(self, indices: Sequence[int]) -> float:
        """Hypervolume, by the read values, of the candidates at ``indices`` (those read)."""
        pts = [self.read[i] for i in indices if self.read[i] is not None]
        if not pts:
            return 0.0
        return hypervolume_2d(pts, self.reference) if len(self.reference) == 2 else hypervolume(pts, self.reference)

    def to_dict(self) -> dict[str, Any]:
        return {"rule": PLACEMENT_RULE, "grid": [list(w) for w in self.grid], "cells": self.cells,
                "read": self.read, "reference": self.reference, **self.decision}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Placement":
        return cls([tuple(w) for w in d["grid"]], list(d["cells"]), list(d["read"]), list(d["reference"]))


def read_reference(points: Sequence[Sequence[float]]) -> list[float]:
    """The placement's reference point: per objective, the worst read value plus 10% of the read range."""
    worst = [max(col) for col in zip(*points)]
    best = [min(col) for col in zip(*points)]
    return [w + REFERENCE_MARGIN * (w - b) for w, b in zip(worst, best)]


def row_point(row: Any, scale: DeviceScale, costs: Sequence[str], key: Callable[[str, str], str],
              device: str) -> list[float]:
    """A read row's normalised [error, cost...] on ``device``: its accuracy and that device's cost columns
    (``key(cost, device)``), on the device's scale."""
    return scale.normalised(row.accuracy, {c: row.costs[key(c, device)] for c in costs})


def z_of(weights: Sequence[float], scale: DeviceScale | None) -> torch.Tensor:
    """f's input: the centred weights (``preference_input``), then (when devices are trained on) the
    device's features."""
    w = preference_input(weights)
    return w if scale is None else torch.cat([w, scale.features()])


def conditioned_series(bench: Any, space: list[list[str]], costs: Sequence[str], devices: Mapping[str, str] | None,
                       budget: int, seed: int, stages: Sequence[Any], settings: ConditionedSettings,
                       patience: int, max_steps: int, read: Callable[[NB201Arch, str], Any],
                       device_name: str = "table") -> ConditionedOutcome:
    """Train one conditioned policy on ``bench`` within ``budget`` distinct reads and derive its grid.

    ``costs``: the cost objectives in reward order; ``devices``: training device -> the table's cost key of
    its latency (None: one device, the table's own ``costs``, called ``device_name``); ``read(arch, by)`` reads a
    row (counted)."""
    s = settings
    if devices and FEATURE_COST not in costs:
        raise TndError(f"a conditioned search over several devices needs '{FEATURE_COST}' among the costs (its "
                       "reference values describe each device)")
    s.check("conditioned", 1 + len(costs), tabular=True)
    names = list(devices) if devices else [device_name]
    key = (lambda c, d: devices[d] if c == FEATURE_COST else c) if devices else (lambda c, d: c)
    objectives = [ACCURACY, *costs]
    reserve = len(simplex_grid(len(objectives), s.grid)) * len(names)   # one read per derived member
    refs = [a for a in REFERENCE_ARCHS if a in bench]
    if len(refs) < 2 or len(refs) + reserve + s.samples_per_preference > budget:
        raise TndError(f"conditioned: a budget of {budget} cannot cover the {len(refs)} reference networks, "
                       f"{reserve} derived members and one alpha step; raise --budget")
    ref_rows = [read(a, "reference") for a in refs]
    scales = {d: DeviceScale.of([r.accuracy for r in ref_rows],
                                {c: [r.costs[key(c, d)] for r in ref_rows] for c in costs}) for d in names}
    multi = len(names) > 1
    n_inputs = len(objectives) + (len(refs) if multi else 0)
    gen = torch.Generator().manual_seed(seed_of(seed, 0, 0, 0, 11))
    policy = ConditionedPolicy(NB201_OPS, N_EDGES, n_inputs, s.hidden, generator=gen)
    with torch.no_grad():
        policy.alive.copy_(torch.tensor([[op in edge for op in NB201_OPS] for edge in space]))
    device_rng = random.Random(seed_of(seed, 0, 0, 0, 12))
    shrink_zs = [z_of(w, scales[d] if multi else None) for w in simplex_grid(len(objectives), s.shrink_grid)
                 for d in names]
    log: list[dict[str, Any]] = []
    train_end = budget - reserve
    start, span = bench.queries, train_end - bench.queries
    gap_start = start + span - int(span * s.gap_share) if len(objectives) == 2 and s.gap_share > 0 else budget + 1
    total, done = sum(st.share for st in stages), 0.0
    read_points: dict[str, dict[NB201Arch, list[float]]] = {d: {} for d in names}   # normalised, per device
    for stage_index, stage in enumerate(stages):
        done += stage.share
        stage_end = start + (span if stage_index == len(stages) - 1 else int(span * done / total))
        dropped = policy.shrink(shrink_zs, stage.ops)
        optimiser = torch.optim.Adam(policy.parameters(), lr=s.lr)
        log.append({"event": "stage", "stage": stage_index, "ops_per_edge": stage.ops, "dropped": dropped,
                    "alive": int(policy.alive.sum()), "queries": bench.queries})
        idle = 0
        for step in range(max_steps):
            groups = min(s.preferences_per_step, (stage_end - bench.queries) // s.samples_per_preference)
            if groups < 1:
                break
            weights = draw_weights(groups, len(objectives), gen).tolist()
            drawn = [names[device_rng.randrange(len(names))] for _ in weights]
            aimed = bench.queries >= gap_start   # the last phase: preferences aimed at the read front's gaps
            if aimed:
                rows = [bench.query(a) for a in bench.queried]   # re-reading is free
                weights = [_gap_weight(rows, costs, d, key, scales[d], gen) or w for w, d in zip(weights, drawn)]
            zs, choices, rewards, new = [], [], [], 0
            for w, d in zip(weights, drawn):
                z = z_of(w, scales[d] if multi else None)
                for _ in range(s.samples_per_preference):
                    choice = policy.sample(z, gen)
                    arch = NB201Arch(tuple(NB201_OPS[int(i)] for i in choice))
                    new += not bench.was_queried(arch)
                    row = read(arch, "conditioned")
                    f = row_point(row, scales[d], costs, key, d)
                    zs.append(z)
                    choices.append(choice)
                    rewards.append(tchebycheff(f, w))
            r = torch.tensor(rewards, dtype=torch.float64)
            anchor = (_incumbent_anchor(policy, bench, costs, key, scales, read_points, weights, drawn,
                                        zs[::s.samples_per_preference]) if s.incumbent_pull > 0 else None)
            loss = reinforce_conditioned(policy, optimiser, zs, choices, r, s.samples_per_preference, s.grad_clip,
                                         anchor, s.incumbent_pull)
            log.append({"event": "alpha", "stage": stage_index, "step": step, "reward": float(r.mean()),
                        "loss": loss, "new": new, "queries": bench.queries,
                        **({"aimed_at_gaps": True} if aimed else {})})
            idle = 0 if new else idle + 1
            if idle >= patience:
                break
    if s.refine_steps:
        _refine(policy, bench, objectives, costs, names, key, scales, multi, s, log)
    members, placements = [], {}
    for d in names:
        placements[d] = place_members(policy, bench, objectives, costs, d, key, scales[d], multi, s.refine_grid,
                                      s.grid)
        for w in placements[d].weights(s.grid):
            arch = NB201Arch(tuple(policy.derive(z_of(w, scales[d] if multi else None))))
            read(arch, "derived")   # already read when placed by the read hypervolume: no query then
            members.append((d, w, arch))
    return ConditionedOutcome(objectives, members, policy, scales, log, placements)


def place_members(policy: ConditionedPolicy, bench: Any, objectives: list[str], costs: Sequence[str], device: str,
                  key: Callable[[str, str], str], scale: DeviceScale, multi: bool, grid: int, k: int) -> Placement:
    """The candidates for ``device``'s members: f's cell for each preference of the ``grid`` and, for a cell
    already read, its objectives as read (re-reading a row is free; an unread cell is not read here); and
    the decision for the run's members (``--grid k``), with the evenly spread grid's read hypervolume beside it."""
    norm = lambda row: row_point(row, scale, costs, key, device)  # noqa: E731
    known = lambda cells: [norm(bench.query(a)) if bench.was_queried(a) else None for a in cells]  # noqa: E731
    derive = lambda ws: [NB201Arch(tuple(policy.derive(z_of(w, scale if multi else None)))) for w in ws]  # noqa: E731
    weights = simplex_grid(len(objectives), grid)
    cells = derive(weights)
    placement = Placement(weights, [str(a) for a in cells], known(cells),
                          read_reference([norm(bench.query(a)) for a in bench.queried]))
    even = simplex_grid(len(objectives), k)
    chosen = placement.chosen(len(even))
    even_read = known(derive(even))
    even_hv = (Placement(even, [], even_read, placement.reference).read_hypervolume(range(len(even)))
               if all(p is not None for p in even_read) else None)
    placement.decision = {
        "members": len(even), "chosen": chosen, "chosen_weights": [list(w) for w in placement.weights(k)],
        "read_hypervolume": placement.read_hypervolume(chosen) if chosen is not None else even_hv,
        "evenly_spread": {"weights": [list(w) for w in even], "read_hypervolume": even_hv},
        "why": ("the largest read hypervolume of any K of the candidates" if chosen is not None else
                "fewer than K distinct non-dominated read cells among the candidates: evenly spread")}
    return placement


def _incumbent_anchor(policy: ConditionedPolicy, bench: Any, costs: Sequence[str], key: Callable[[str, str], str],
                      scales: Mapping[str, DeviceScale], read_points: dict[str, dict[NB201Arch, list[float]]],
                      weights: Sequence[Sequence[float]], drawn: Sequence[str],
                      zs: Sequence[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The step's pull (``incumbent_pull``): for each drawn (preference, device), its z and its incumbent, the
    best cell read so far (this step's samples included) under that preference's Tchebycheff reward on that
    device (``incumbents``), among the cells f can still sample (every op alive: shrinking may have dropped
    one of a cell read earlier). ``read_points`` caches each device's normalised points (re-reading is free)."""
    alive = policy.alive
    cells = [a for a in bench.queried if all(bool(alive[e, NB201_OPS.index(op)]) for e, op in enumerate(a.ops))]
    if not cells:
        return [], []
    idx = torch.tensor([[NB201_OPS.index(op) for op in a.ops] for a in cells], dtype=torch.long)
    points: dict[str, torch.Tensor] = {}       # per device drawn this step, the cells' normalised points
    out_z, out_c = [], []
    for w, d, z in zip(weights, drawn, zs):
        if d not in points:
            cache = read_points[d]
            for a in cells:
                if a not in cache:
                    cache[a] = row_point(bench.query(a), scales[d], costs, key, d)
            points[d] = torch.tensor([cache[a] for a in cells], dtype=torch.float64)
        best = incumbents(points[d], torch.tensor([list(w)], dtype=torch.float64))
        out_z.append(z)
        out_c.append(idx[int(best[0])])
    return out_z, out_c


def _gap_weight(rows: Sequence[Any], costs: Sequence[str], device: str, key: Callable[[str, str], str],
                scale: DeviceScale, gen: torch.Generator) -> list[float] | None:
    """One preference aimed at a gap of ``device``'s front of the ``rows`` read so far (``gap_weights``)."""
    points = [row_point(r, scale, costs, key, device) for r in rows]
    w = gap_weights(points, 1, gen)
    return None if w is None else w[0].tolist()


def _refine(policy: ConditionedPolicy, bench: Any, objectives: list[str], costs: Sequence[str], names: list[str],
            key: Callable[[str, str], str], scales: Mapping[str, DeviceScale], multi: bool,
            s: ConditionedSettings, log: list[dict[str, Any]]) -> None:
    """After the budget: fit f to the cells already read (all of them), for a grid of preferences on
    every training device, so each derived member is the best cell read for its preference."""
    read = bench.queried
    rows = [bench.query(a) for a in read]      # re-reading is free
    cells = torch.tensor([[NB201_OPS.index(op) for op in a.ops] for a in read], dtype=torch.long)
    zs, rewards = [], []
    for d in names:
        points = [row_point(r, scales[d], costs, key, d) for r in rows]   # once per device, not per preference
        for w in simplex_grid(len(objectives), s.refine_grid):
            zs.append(z_of(w, scales[d] if multi else None))
            rewards.append([tchebycheff(p, w) for p in points])
    optimiser = torch.optim.Adam(policy.parameters(), lr=s.lr)
    hit = fit_to_best_read(policy, optimiser, zs, cells, torch.tensor(rewards), s.refine_steps, s.grad_clip)
    log.append({"event": "refine", "cells": len(read), "preferences": len(zs), "steps": s.refine_steps,
                "fit": hit, "queries": bench.queries})


def derive_members(record: Mapping[str, Any], weights: Sequence[Sequence[float]],
                   device: str | None = None, reference_costs: Sequence[float] | None = None) -> list[NB201Arch]:
    """Cells derived from a finished run's record for each weight vector, on a training ``device`` or on a
    new one described by its reference networks' ``reference_costs`` (in REFERENCE_ARCHS order)."""
    policy = ConditionedPolicy.from_dict(record["policy"])
    scale = None
    if record.get("uses_device_features"):
        if reference_costs is not None:
            if len(reference_costs) != len(record["reference_archs"]):
                raise TndError(f"device features: {len(reference_costs)} reference costs given, the run's policy "
                               f"reads {len(record['reference_archs'])} (one per reference network)")
            scale = DeviceScale([float(v) for v in reference_costs], {})
        else:
            trained = record["devices"]
            if device not in trained:
                raise TndError(f"the run was trained on devices {', '.join(trained)}; name one with --device, or "
                               "give a new device's reference measurements with --device-features FILE")
            scale = DeviceScale(list(trained[device]["reference_costs"]), {})
    return [NB201Arch(tuple(policy.derive(z_of(w, scale)))) for w in weights]


def placed_weights(record: Mapping[str, Any], k: int, device: str | None) -> list[tuple[float, ...]]:
    """``tnd derive --grid K``'s preferences: on a training device whose placement the run recorded, the K of
    its candidate grid of the largest read hypervolume (``Placement.weights``; K members or more than the
    grid has, or too few distinct read cells: K evenly spread); on a new device (``device`` None: no cell
    was read on it) or for a run recorded without placements, K evenly spread."""
    placement = record.get("placement", {}).get(device) if device is not None else None
    if placement is None:
        return simplex_grid(len(record["objectives"]), k)
    return Placement.from_dict(placement).weights(k)
