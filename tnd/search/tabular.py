"""TND-NAS on a tabular benchmark: the accuracy and costs of a sample come from a table, not a supernet.

The algorithm is the supernet search's with the table in place of the supernet and the cost models:
for each preference of a Pareto series, a ``Policy`` over the NB201 cell (one cell type, 6 edges) samples
architectures, the preference's ``RewardSpec`` scores them (accuracy from the table as a fraction, costs
in their canonical units), REINFORCE with the EMA baseline steps alpha with Adam, and progressive
shrinking keeps each edge's top-k ops by alpha at the start of every stage; each preference ends with
its derived cell (the most probable op of each edge).

Budget: distinct architectures whose row was read, over the whole series (NAS-Bench papers' count of
"trained" architectures); reading a row again is free. An optional probe of uniformly random cells is
read first; the rest is split equally over the preferences (what one leaves unspent passes on) and,
within one, over its stages by their ``share``; one query of each preference's share is kept for its
derived cell. A stage also ends after ``patience`` steps in a row that read no new row (the policy has
settled), so a run always ends.

Three things the supernet loop does not do (docs/design-decisions.md, issue 11): the series is *chained*
by default (each preference starts from the previous one's alpha, so it begins on the front instead of
from uniform) and *warm-started* (that alpha is tilted towards the best cell read so far under the
preference's own reward, ``TabularPolicy.warm_start``), and a target may be *relative* to the rows read so
far (``r30``: 30% of the way from the smallest to the largest value read, which spreads a series along any
device's latency range without knowing its scale; ``gap``: the middle of the largest gap of the front read
so far).

The space is the table's: the ops that appear on each edge, every combination of which must have a row
(the full NB201 table gives the full space; a table of a sub-space gives that sub-space).
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import random
import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Literal, Mapping, Sequence

import numpy as np
import torch
import yaml

from tnd import atomic
from tnd.costs.objectives import by_field, get_objective
from tnd.data.tabular import TabularBenchmark
from tnd.errors import TndError
from tnd.result_file import RESULT_NAME
from tnd.run_folder import open_run_folder
from tnd.schema import to_data
from tnd.search.conditioned import ConditionedSettings, preference_record
from tnd.search.conditioned_tabular import FEATURE_COST, conditioned_series, device_cost_key, is_device_cost
from tnd.search.config import PreferenceConfig, RewardConfig
from tnd.search.normalised_hv import pareto_front
from tnd.search.plots import plot_front
from tnd.search.policy import Policy, reinforce_step
from tnd.search.progressive import seed_of
from tnd.search.reward import Preference, RewardSpec
from tnd.search.cost_range import CostRange
from tnd.search.spaces import derive_nb201 as derive_arch
from tnd.search.spaces import nb201_arch_of as _arch
from tnd.search.run import write_result
from tnd.space.nb201 import CELL_TYPES, N_EDGES, NB201_OPS, NB201Arch

SOURCE = "tabular"
RELATIVE = re.compile(r"r(\d+(?:\.\d*)?)")
GAP = "gap"                      # a target at the middle of the largest gap of the front read so far
(CELL,) = CELL_TYPES
QUERIED_NAME = "queried.csv"


@dataclass
class TabularStage:
    ops: int          # candidate ops kept per edge in this stage (the top-k by alpha at its start)
    share: float      # fraction of each preference's budget this stage may spend


@dataclass
class TabularPolicy:
    """REINFORCE settings; the defaults were tuned on one column (val_cifar10 x latency_ms_1080ti_1)."""

    samples: int = 4                   # architectures sampled per alpha step
    lr: float = 0.3                    # Adam on alpha (every new sample costs a query: few, large steps)
    betas: tuple[float, float] = (0.5, 0.999)
    weight_decay: float = 1e-3
    baseline_decay: float = 0.95       # b <- b + decay * (mean R - b)
    entropy: float = 0.0               # entropy bonus weight (any bonus lowered the hypervolume found)
    grad_clip: float = 5.0
    patience: int = 20                 # a stage ends after this many steps in a row that read no new row
    # each preference starts at the best cell read so far under its own reward: this is added to the logit of
    # that cell's op on every edge (0: off; docs/design-decisions.md, "Tabular search on NB201")
    warm_start: float = 4.0
    max_steps: int = 2000              # a stage's step cap, whatever its budget


@dataclass
class TabularSearchConfig:
    name: str = "tabular"
    space: Literal["nb201"] = "nb201"
    table: str = ""                                      # CSV (or .csv.gz) with an 'arch' column
    accuracy: str = ""                                   # the table's accuracy column (in %)
    costs: dict[str, str] = field(default_factory=dict)  # objective (latency, energy, params, flops) -> column
    budget: int = 300                                    # distinct architectures read, whole series
    seed: int = 0
    probe: int = 0                 # uniformly random cells read first (in the budget), e.g. for relative targets
    chain: bool = True             # each preference starts from the previous one's alpha
    # tnd: the policy-gradient series; random: the baseline at equal budget, ``budget`` distinct cells read
    # uniformly at random (without replacement), each member the best cell read under its own reward;
    # conditioned: one policy f(preference, device) for the whole front (tnd.search.conditioned_tabular).
    strategy: Literal["tnd", "random", "conditioned"] = "tnd"
    # conditioned only: training device -> its latency column, to train one policy across devices (the first
    # is the one result.json's front is on; `tnd derive --device` gives the others')
    devices: dict[str, str] = field(default_factory=dict)
    conditioned: ConditionedSettings = field(default_factory=ConditionedSettings)
    stages: list[TabularStage] = field(default_factory=lambda: [
        TabularStage(ops=5, share=0.5), TabularStage(ops=3, share=0.3), TabularStage(ops=2, share=0.2)])
    policy: TabularPolicy = field(default_factory=TabularPolicy)
    reward: RewardConfig = field(default_factory=RewardConfig)
    preferences: list[PreferenceConfig] = field(default_factory=list)

    def __post_init__(self) -> None:
        validate(self)

    def members(self) -> list[PreferenceConfig]:
        return self.preferences or [PreferenceConfig("default")]

    def resolve(self, member: PreferenceConfig, seen: Mapping[str, Sequence[float]] | None,
                accuracy: Sequence[float] | None = None) -> Preference:
        """One member's reward; relative targets (``r30``, ``gap``) are read against ``seen`` (cost -> the values
        of the rows read so far) and ``accuracy`` (the same rows' accuracy, for ``gap``), or replaced by a
        placeholder when ``seen`` is None (validation)."""
        reward = member.applied_to(self.reward)
        targets = {c: _relative_target(c, v, None if seen is None else seen.get(c, []), accuracy)
                   for c, v in reward.targets.items()}
        return Preference(member.name, RewardSpec.from_config(replace(reward, targets=targets), len(self.stages)))

    def to_dict(self) -> dict[str, Any]:
        return to_data(self)


def _relative_target(cost: str, value: Any, seen: Sequence[float] | None,
                     accuracy: Sequence[float] | None = None) -> Any:
    """``"r30"`` -> 30% of the way from the smallest to the largest ``cost`` read so far (per stage for a
    list); ``"gap"`` -> the middle of the largest gap of the front read so far (``gap_target``; ``accuracy``
    holds the accuracy of the rows whose ``cost`` values are ``seen``); anything else unchanged
    (``RewardSpec`` reads it)."""
    if isinstance(value, list):
        return [_relative_target(cost, v, seen, accuracy) for v in value]
    text = value.strip() if isinstance(value, str) else None
    m = RELATIVE.fullmatch(text) if text is not None else None
    if m is None and text != GAP:
        return value
    if m is not None and float(m[1]) > 100:
        raise TndError(f"tabular search: target {cost}={value} must be between r0 and r100")
    if seen is None:
        return 1.0
    if not len(seen):
        raise TndError(f"tabular search: target {cost}={value} is relative to the rows read so far, but none has "
                       "been read when that preference starts; add --probe N (e.g. 20) or give it a number")
    v = np.asarray(seen, dtype=np.float64)
    if m is not None:
        target = float(v.min() + float(m[1]) / 100 * (v.max() - v.min()))
    else:
        if accuracy is None or len(accuracy) != len(v):
            raise TndError(f"tabular search: target {cost}=gap needs the accuracy of every row read "
                           f"({0 if accuracy is None else len(accuracy)} given for {len(v)} {cost} values)")
        target = gap_target(v, accuracy)
    if not target > 0:
        raise TndError(f"tabular search: target {cost}={value} resolves to {target:g}; relative targets need "
                       f"positive {cost} values in the table")
    return target


def gap_target(costs: Sequence[float], accuracy: Sequence[float]) -> float:
    """The cost at the middle of the largest gap of the front of the rows read so far (``gap`` targets).

    The front is that of (error, cost), both minimised; a gap is the rectangle between two neighbouring front
    points, the most hypervolume a new cell between them could add. The target is the middle, in cost, of the
    gap with the largest area (the cheapest such gap on a tie): with a hard reward the member then looks for
    the most accurate cell below that cost, which fills the gap if one exists. Scaling either objective (the
    hypervolume's normalisation to [0, 1]) multiplies every area alike, so the choice is the same normalised
    or not. With fewer than two distinct front points (no gap) it is the middle of the range read (``r50``).
    """
    c = np.asarray(costs, dtype=np.float64)
    acc = np.asarray(accuracy, dtype=np.float64)
    if c.ndim != 1 or c.shape != acc.shape or not len(c):
        raise ValueError("gap_target needs one accuracy per cost value, at least one of each")
    pts = np.column_stack([c, -acc])
    front = np.unique(pts[pareto_front(pts)], axis=0)            # by cost ascending, so error descending
    if len(front) < 2:
        return float(c.min() + 0.5 * (c.max() - c.min()))
    area = (front[1:, 0] - front[:-1, 0]) * (front[:-1, 1] - front[1:, 1])
    i = int(np.argmax(area))
    return float((front[i, 0] + front[i + 1, 0]) / 2)


def validate(cfg: TabularSearchConfig) -> None:
    if cfg.strategy not in ("tnd", "random", "conditioned"):
        raise TndError(f"tabular search: unknown strategy {cfg.strategy!r}; choose tnd, random or conditioned")
    if cfg.strategy == "conditioned":
        _validate_conditioned(cfg)
    elif cfg.devices:
        raise TndError("tabular search: --devices trains one policy across devices, which only --strategy "
                       "conditioned does; add it, or name one latency column with --cost")
    for name in cfg.costs:
        get_objective(name)  # a one-line error for an unknown objective
    n_prefs = len(cfg.members())
    if cfg.budget < n_prefs:
        raise TndError(f"tabular search: --budget {cfg.budget} cannot cover {n_prefs} preference(s); each derives "
                       "one cell, so the budget must be at least the number of preferences")
    if not 0 <= cfg.probe <= cfg.budget - n_prefs:
        raise TndError(f"tabular search: probe ({cfg.probe}) must be between 0 and the budget less one query per "
                       f"preference ({cfg.budget - n_prefs})")
    if not cfg.stages:
        raise TndError("tabular search: 'stages' is empty; give at least one stage")
    prev = len(NB201_OPS)
    for i, st in enumerate(cfg.stages):
        if not 2 <= st.ops <= prev:
            raise TndError(f"tabular search: stages[{i}].ops must be between 2 and {prev} (ops kept per edge "
                           "only shrink)")
        if not st.share > 0:
            raise TndError(f"tabular search: stages[{i}].share must be positive")
        prev = st.ops
    p = cfg.policy
    if p.samples < 2 or p.patience < 1 or p.max_steps < 1:
        raise TndError("tabular search: policy.samples must be >= 2, policy.patience and policy.max_steps >= 1")
    if not p.lr > 0 or p.entropy < 0 or not 0 < p.baseline_decay <= 1 or not p.warm_start >= 0:
        raise TndError("tabular search: policy.lr must be > 0, policy.entropy >= 0, policy.baseline_decay in (0, 1], "
                       "policy.warm_start >= 0")
    names = [q.name for q in cfg.preferences]
    if len(set(names)) != len(names):
        raise TndError("tabular search: preference names must be unique")
    prefs = [cfg.resolve(m, None) for m in cfg.members()]  # units, stages and targets, in full
    missing = sorted({c for pref in prefs for c in pref.spec.costs} - set(cfg.costs))
    if missing:
        raise TndError(f"tabular search: the reward uses {', '.join(missing)} but no table column is named for it; "
                       f"add --cost {missing[0]}=COLUMN")


def _validate_conditioned(cfg: TabularSearchConfig) -> None:
    if cfg.preferences:
        raise TndError("tabular search: --strategy conditioned learns every preference in one run; leave "
                       "--preferences out and derive members with --grid K or `tnd derive RUN --preference ...`")
    r = cfg.reward
    if r.targets or r.exponents or r.form not in ("auto",):
        raise TndError("tabular search: --strategy conditioned scores each sample by its own preference weights "
                       "(augmented Tchebycheff over normalised objectives); leave --target, --exponent and "
                       "--reward-form out")
    if cfg.probe:
        raise TndError("tabular search: --probe is for a series' relative targets; --strategy conditioned reads "
                       "its reference networks first instead")
    if cfg.devices:
        first = next(iter(cfg.devices.values()))
        if cfg.costs.get(FEATURE_COST, first) != first:
            raise TndError(f"tabular search: --cost {FEATURE_COST}={cfg.costs[FEATURE_COST]} and --devices (whose "
                           f"first column is {first}) disagree; leave {FEATURE_COST} out of --cost with --devices")
        if len(cfg.devices) < 2:
            raise TndError("tabular search: --devices needs at least two NAME=COLUMN pairs (one device: --cost "
                           f"{FEATURE_COST}=COLUMN)")
    elif not cfg.costs:
        raise TndError("tabular search: --strategy conditioned needs at least one cost (e.g. --cost "
                       "latency=COLUMN) to trade accuracy against")
    cfg.conditioned.check("tabular search", 1 + len(cfg.costs), tabular=True)


def cost_names(cfg: TabularSearchConfig) -> dict[str, str]:
    """Objective -> table column, the training devices' latencies included (``latency@NAME``)."""
    if not cfg.devices:
        return dict(cfg.costs)
    first = next(iter(cfg.devices.values()))
    return {**cfg.costs, FEATURE_COST: first, **{device_cost_key(d): c for d, c in cfg.devices.items()}}


# ---- the space a table covers -------------------------------------------------------------------

def table_space(bench: TabularBenchmark) -> list[list[str]]:
    """The ops that appear on each edge of the table's cells; every combination must have a row."""
    ops = [sorted({a.ops[e] for a in bench.archs}, key=NB201_OPS.index) for e in range(N_EDGES)]
    size = int(np.prod([len(o) for o in ops]))
    if size != len(bench):
        for combo in itertools.product(*ops):
            if NB201Arch(combo) not in bench:
                raise TndError(f"tabular benchmark {bench.path}: its cells use {'/'.join(map(str, map(len, ops)))} "
                               f"ops on the 6 edges ({size} combinations) but it has {len(bench)} rows; no row for "
                               f"{NB201Arch(combo)}: the table must cover every combination of the ops it uses")
    return ops


# ---- the search -------------------------------------------------------------------------------

@dataclass
class TabularOutcome:
    entries: list[dict[str, Any]]        # one per preference: result.json's genotypes
    queried: list[NB201Arch]             # every distinct architecture read, in the order of first reading
    queried_by: list[str]                # the preference (or "probe") that first read each of them
    prefs: list[Preference]              # the series' rewards as resolved (relative targets as numbers)
    log: list[dict[str, Any]]
    conditioned: dict[str, Any] | None = None   # strategy conditioned: what `tnd derive` rebuilds f from


def table_ranges(bench: TabularBenchmark) -> dict[str, CostRange]:
    """Each cost normalised over the whole table's min and max (the space's, as NAS-Bench papers do)."""
    return {c: CostRange(float(v.min()), float(v.max()), f"min and max over the {len(bench)} rows of {bench.path.name}")
            for c, v in bench.costs.items() if not is_device_cost(c)}


def scored(row: Any, keys: Mapping[str, str]) -> dict[str, Any]:
    """A row's accuracy (as a fraction) and costs as result.json's ``objectives`` and ``sources``; ``keys``
    maps each objective to its cost key in the row (a training device's latency: ``latency@NAME``)."""
    fields = {c: get_objective(c).field for c in keys}
    return {"objectives": {"accuracy": row.accuracy / 100.0, **{fields[c]: row.costs[k] for c, k in keys.items()}},
            "sources": {"accuracy": SOURCE, **{fields[c]: SOURCE for c in keys}}}


def entry_of(bench: TabularBenchmark, arch: NB201Arch, preference: Preference) -> dict[str, Any]:
    """A result.json genotype entry (accuracy as a fraction, costs in canonical units); reading is a query."""
    row = bench.query(arch)
    keys = {k: k for k in row.costs if not is_device_cost(k)}
    return {"genotype": arch.to_dict(), "preference": preference.to_dict(), **scored(row, keys)}


def conditioned_entry(bench: TabularBenchmark, arch: NB201Arch, objectives: Sequence[str], weights: Sequence[float],
                      device: str | None, devices: Mapping[str, str] | None) -> dict[str, Any]:
    """A result.json entry of a conditioned member: its preference is its weight vector (and device); its
    latency is the device's own column."""
    row = bench.query(arch)
    keys = {c: devices[device] if devices and c == FEATURE_COST else c for c in row.costs if not is_device_cost(c)}
    return {"genotype": arch.to_dict(), "preference": preference_record(objectives, weights, device),
            **scored(row, keys)}


def new_policy(space: list[list[str]], generator: torch.Generator) -> Policy:
    """A policy over NB201's ops with, on each edge, only the ops the table has alive."""
    policy = Policy({CELL: list(NB201_OPS)}, n_edges=N_EDGES, generator=generator)
    alive = torch.tensor([[op in edge for op in NB201_OPS] for edge in space])
    policy.alive(CELL).copy_(alive)
    return policy


def tabular_search(bench: TabularBenchmark, cfg: TabularSearchConfig) -> TabularOutcome:
    """Run the series on ``bench`` (no query read yet) and return what it derived and everything it read."""
    if bench.queries:
        raise ValueError("tabular_search needs a benchmark with no query read yet (reset_queries())")
    missing = sorted(set(cost_names(cfg)) - set(bench.costs))
    if missing:
        raise TndError(f"tabular search: the table was loaded without the cost(s) {', '.join(missing)}")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # 6x5 tensors: extra threads only add contention (30x slower on a busy 2-core box)
    try:
        return _Series(bench, cfg).run()
    finally:
        torch.set_num_threads(threads)


class _Series:
    def __init__(self, bench: TabularBenchmark, cfg: TabularSearchConfig):
        self.bench, self.cfg = bench, cfg
        self.space = table_space(bench)
        self.queried_by: list[str] = []
        self.seen: dict[str, list[float]] = {c: [] for c in cfg.costs}
        self.seen_accuracy: list[float] = []          # the same rows' accuracy (for gap targets)
        self.log: list[dict[str, Any]] = []

    def best_read(self, pref: Preference, stage: int) -> NB201Arch:
        """The cell read so far with the largest reward under ``pref`` at ``stage`` (the first read on a tie);
        re-reading a row is free: no query counted."""
        def reward(arch: NB201Arch) -> float:
            row = self.bench.query(arch)
            return pref.spec.reward(row.accuracy / 100.0, row.costs, stage)

        return max(self.bench.queried, key=reward)

    def read(self, arch: NB201Arch, by: str):
        """The row of ``arch`` (a new one counts towards the budget)."""
        new = not self.bench.was_queried(arch)
        row = self.bench.query(arch)
        if new:
            self.queried_by.append(by)
            for c in self.seen:
                self.seen[c].append(row.costs[c])
            self.seen_accuracy.append(row.accuracy)
        return row

    def run(self) -> TabularOutcome:
        return {"random": self._random, "conditioned": self._conditioned, "tnd": self._tnd}[self.cfg.strategy]()

    def _conditioned(self) -> TabularOutcome:
        """One conditioned policy for the whole front; its members are a grid of preferences on the first
        training device (every device's are in the record), each entry's reward its weight vector."""
        cfg, bench = self.cfg, self.bench
        costs = list(cfg.costs) if not cfg.devices else list(dict.fromkeys([*cfg.costs, FEATURE_COST]))
        devices = {d: device_cost_key(d) for d in cfg.devices} or None
        out = conditioned_series(bench, self.space, costs, devices, cfg.budget, cfg.seed, cfg.stages, cfg.conditioned,
                                 cfg.policy.patience, cfg.policy.max_steps, self.read,
                                 device_name=cfg.costs.get(FEATURE_COST, "table"))
        self.log += out.log
        members = [conditioned_entry(bench, arch, out.objectives, w, d if cfg.devices else None, devices)
                   for d, w, arch in out.members]
        first = next(iter(cfg.devices), None)
        entries = [e for e, (d, _, _) in zip(members, out.members) if first is None or d == first]
        record = {**out.record(), "members": members}
        return TabularOutcome(entries, bench.queried, self.queried_by, [], self.log, record)

    def _random(self) -> TabularOutcome:
        """Random search at equal budget: the space shuffled once per seed and read in that order (so a smaller
        budget reads a prefix of a larger one's cells), then each member the best read cell by its reward."""
        cfg, bench = self.cfg, self.bench
        order = [NB201Arch(combo) for combo in itertools.product(*self.space)]
        random.Random(seed_of(cfg.seed, 0, 0, 0, 7)).shuffle(order)
        for arch in order[: cfg.budget]:
            self.read(arch, "random")
        entries, prefs = [], []
        for member in cfg.members():
            pref = cfg.resolve(member, self.seen, self.seen_accuracy)
            prefs.append(pref)
            best = self.best_read(pref, len(cfg.stages) - 1)
            entries.append(entry_of(bench, best, pref))
            self.log.append({"event": "derived", "preference": pref.name, "queries": bench.queries,
                             "strategy": "random", **entries[-1]})
        return TabularOutcome(entries, bench.queried, self.queried_by, prefs, self.log)

    def _tnd(self) -> TabularOutcome:
        cfg, bench = self.cfg, self.bench
        rng = random.Random(seed_of(cfg.seed, 0, 0, 0, 6))
        while bench.queries < cfg.probe:
            self.read(NB201Arch(tuple(rng.choice(ops) for ops in self.space)), "probe")
        members = cfg.members()
        spend = cfg.budget - cfg.probe
        entries, prefs, policy = [], [], None
        for p, member in enumerate(members):
            pref = cfg.resolve(member, self.seen, self.seen_accuracy)
            prefs.append(pref)
            self.log.append({"event": "preference", "preference": pref.name, "queries": bench.queries,
                             **pref.spec.to_dict()})
            end = cfg.probe + spend * (p + 1) // len(members)     # > bench.queries, as spend >= len(members)
            previous = policy if cfg.chain else None
            policy = new_policy(self.space, torch.Generator().manual_seed(seed_of(cfg.seed, p, 0, 0, 1)))
            if previous is not None:
                with torch.no_grad():
                    policy.alpha[CELL].copy_(previous.alpha[CELL])
            self._warm_start(pref, policy)
            self._preference(p, pref, policy, end)
            arch = derive_arch(policy)
            self.read(arch, pref.name)
            entries.append(entry_of(bench, arch, pref))
            self.log.append({"event": "derived", "preference": pref.name, "queries": bench.queries, **entries[-1]})
        return TabularOutcome(entries, bench.queried, self.queried_by, prefs, self.log)

    def _warm_start(self, pref: Preference, policy: Policy) -> None:
        """Start a preference at the best cell read so far under its own reward: ``policy.warm_start`` added to
        the logit of that cell's op on every edge (on top of the chained alpha). Nothing when no row was read."""
        strength, bench = self.cfg.policy.warm_start, self.bench
        if not strength or not bench.queries:
            return
        best = self.best_read(pref, 0)
        with torch.no_grad():
            for e, op in enumerate(best.ops):
                policy.alpha[CELL][e, NB201_OPS.index(op)] += strength
        self.log.append({"event": "warm_start", "preference": pref.name, "arch": str(best), "queries": bench.queries})

    def _preference(self, p: int, pref: Preference, policy: Policy, end: int) -> None:
        """The stages of one preference, reading at most up to ``end`` distinct rows less one (its derived cell)."""
        cfg, pc, bench = self.cfg, self.cfg.policy, self.bench
        gen = torch.Generator().manual_seed(seed_of(cfg.seed, p, 0, 0, 4))
        start, span = bench.queries, end - bench.queries - 1
        total, done = sum(st.share for st in cfg.stages), 0.0
        for s, stage in enumerate(cfg.stages):
            done += stage.share
            stage_end = start + (span if s == len(cfg.stages) - 1 else int(span * done / total))
            dropped = policy.shrink(stage.ops)
            optimiser = torch.optim.Adam(policy.parameters(), lr=pc.lr, betas=tuple(pc.betas),
                                         weight_decay=pc.weight_decay)
            self.log.append({"event": "stage", "preference": pref.name, "stage": s, "ops_per_edge": stage.ops,
                             "dropped": sum(len(d) for d in dropped[CELL]), "alive": policy.alive_ops(CELL),
                             "queries": bench.queries})
            baseline, idle = None, 0
            for step in range(pc.max_steps):
                if bench.queries >= stage_end:
                    break
                choices, rewards, new = [], [], 0
                for _ in range(pc.samples):
                    choice = policy.sample(gen)
                    arch = _arch(policy, choice)
                    if not bench.was_queried(arch):
                        if bench.queries >= stage_end:
                            continue          # no budget left in this stage for a new row
                        new += 1
                    row = self.read(arch, pref.name)
                    choices.append(choice)
                    rewards.append(pref.spec.reward(row.accuracy / 100.0, row.costs, s))
                if len(choices) >= 2:
                    r = torch.tensor(rewards, dtype=torch.float64)
                    b, baseline = reinforce_step(policy, optimiser, choices, r, baseline, pc.entropy,
                                                 pc.grad_clip, pc.baseline_decay)
                    self.log.append({"event": "alpha", "preference": pref.name, "stage": s, "step": step,
                                     "reward": float(r.mean()), "reward_max": float(r.max()), "baseline": b,
                                     "new": new, "queries": bench.queries,
                                     "entropy": round(policy.entropy().item(), 4)})
                idle = 0 if new else idle + 1
                if idle >= pc.patience:
                    break


# ---- one run end to end (what `tnd search --tabular` calls) ------------------------------------

def run_tabular_search(path: str | Path, accuracy_column: str, cost_columns: Mapping[str, str], out: str | Path,
                       *, reward: RewardConfig | None = None, preferences: Sequence[PreferenceConfig] = (),
                       budget: int = 300, seed: int = 0, probe: int = 0, chain: bool = True, strategy: str = "tnd",
                       name: str = "tabular", policy: TabularPolicy | None = None,
                       stages: Sequence[TabularStage] | None = None, plot: bool = True,
                       devices: Mapping[str, str] | None = None, conditioned: ConditionedSettings | None = None,
                       echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Search a table and write ``out``: result.json (the shape of a supernet search's), queried.csv (every
    architecture read, with the front of all of them marked), log.jsonl, config.yaml and pareto.png.

    Args:
        path: the table (CSV or .csv.gz) with an ``arch`` column of NB201 strings.
        accuracy_column: the column holding accuracy in %.
        cost_columns: objective name (latency, energy, params, flops) -> column, in that objective's
            canonical unit (ms, mJ, count, MACs).
        out: the run folder (refused if it already holds a result).
        reward: the reward (objectives, form, targets, exponents); default: accuracy only.
        preferences: a Pareto series (one member per preference); targets may be relative (``r30``).
        budget: distinct architectures read in all (default 300); probe: random cells read first.
        strategy: ``tnd`` (the policy-gradient series), ``random`` (``budget`` uniformly random distinct
            cells, each member the best of them under its reward: the baseline at equal queries) or
            ``conditioned`` (one policy for every preference; ``devices`` trains it across devices).

    Returns:
        The contents of result.json.
    """
    out = Path(out)
    open_run_folder(out, False, "checkpoint.pt", (RESULT_NAME,), "search")
    optional: dict[str, Any] = {"stages": list(stages)} if stages is not None else {}
    cfg = TabularSearchConfig(
        name=name, table=str(path), accuracy=accuracy_column, costs=dict(cost_columns), budget=budget, seed=seed,
        probe=probe, chain=chain, strategy=strategy, reward=reward or RewardConfig(), preferences=list(preferences),
        policy=policy or TabularPolicy(), devices=dict(devices or {}), conditioned=conditioned or ConditionedSettings(),
        **optional)
    bench = TabularBenchmark.load(path, accuracy_column, cost_names(cfg), NB201Arch.parse)
    t0 = time.perf_counter()
    outcome = tabular_search(bench, cfg)
    seconds = time.perf_counter() - t0
    out.mkdir(parents=True, exist_ok=True)
    atomic.write_text(out / "config.yaml", yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    atomic.write_text(out / "log.jsonl", "".join(json.dumps(r) + "\n" for r in outcome.log))
    front = write_queried(out / QUERIED_NAME, bench, outcome)
    result = write_result(out, cfg, outcome.prefs, outcome.entries, seconds, table_ranges(bench),
                          write=outcome.conditioned is None)
    if outcome.conditioned is not None:
        result["conditioned"] = outcome.conditioned
        atomic.write_json(out / RESULT_NAME, result)
    plot_path = plot_front(result, out / "pareto.png") if plot else None
    echo(summary(result, bench.queries, budget, len(front)))
    echo(f"results: {out / RESULT_NAME}, every architecture read: {out / QUERIED_NAME}"
         + (f", plot: {plot_path}" if plot_path else "") + f", log: {out / 'log.jsonl'}")
    return result


def write_queried(path: Path, bench: TabularBenchmark, outcome: TabularOutcome) -> list[int]:
    """queried.csv: every architecture read, in reading order, with who read it first and whether it is on
    the Pareto front of everything read (error and every cost of the table, minimised). Returns that front."""
    costs = [c for c in bench.costs if not is_device_cost(c)]
    rows = [bench.index(a) for a in outcome.queried]
    points = np.column_stack([100.0 - bench.accuracy[rows]] + [bench.costs[c][rows] for c in costs])
    front = set(pareto_front(points).tolist())
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["order", "arch", "read_by", "accuracy", *(get_objective(c).field for c in costs), "pareto"])
    for i, (arch, by, r) in enumerate(zip(outcome.queried, outcome.queried_by, rows)):
        writer.writerow([i, str(arch), by, f"{bench.accuracy[r] / 100:.6g}",
                         *(f"{bench.costs[c][r]:.6g}" for c in costs), int(i in front)])
    atomic.write_text(path, buf.getvalue())
    return sorted(front)


def summary_table(result: dict[str, Any]) -> str:
    """The members of a result as a table: preference, accuracy, every cost, on the front, arch."""
    entries = result["genotypes"]
    fields = [f for f in result["hypervolume"]["objectives"] if f != "error"]
    extra = [f for f in entries[0]["objectives"] if f not in ("accuracy", *fields)] if entries else []
    header = ["#", "preference", "accuracy", *fields, *extra, "pareto", "arch"]
    rows = [[str(i), e["preference"]["name"], f"{e['objectives']['accuracy']:.4f}",
             *(by_field(f).format(e["objectives"][f]) for f in fields + extra),
             "*" if i in result["pareto"] else "", e["genotype"]["arch"]] for i, e in enumerate(entries)]
    widths = [max(len(h), *(len(r[k]) for r in rows)) for k, h in enumerate(header)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths))  # noqa: E731
    return "\n".join(["", line(header), line(["-" * w for w in widths]), *map(line, rows)])


def summary(result: dict[str, Any], queries: int, budget: int, front_size: int) -> str:
    return "\n".join([summary_table(result),
                      f"accuracy and costs read from the table; {queries} distinct architectures read (budget "
                      f"{budget}); {front_size} of them are on the front of everything read (queried.csv)"])
