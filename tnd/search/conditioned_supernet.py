"""The conditioned search on a supernet: one policy alpha = f(preference) for the whole front, one supernet.

The supernet is shared and trained once through the stages, as a series' member's is; only the alpha
steps differ from ``ProgressiveSearch``:

  weight step   (after warm-up) the path is drawn from softmax(f(z)) for a preference w drawn uniformly
                over the simplex, so the weights are trained on paths from the whole front; every path
                (warm-up's too) obeys derivation's caps (``SearchSpace.sampling_caps``: DARTS's
                ``derive.max_skip``), so what is rewarded is what the members can be
  alpha step    ``preferences_per_step`` weight vectors w (stratified over the simplex of the reward's
                objectives; ``pin_ends``: the ends of the front among them exactly, ``with_ends``),
                ``samples_per_preference`` paths from f(z) each, z = w centred; each path
                scored on the validation batch through the supernet and costed by the cost model; each
                rewarded by the augmented Tchebycheff scalarisation of its normalised objectives under its
                own w; error and each cost are mapped to [0, 1] on the ranges the run's hypervolume uses
                (error on [0, 1], each cost over the cheapest and dearest derivable network, or
                ``derive.hv_range``), resolved once per run and logged, so a sample's reward is its own and
                not stretched by how alike the step's samples are; REINFORCE with a leave-one-out baseline
                within each w's group (``tnd.search.conditioned``)
  shrinking     each edge keeps the stage's k ops, those most probable under some preference of a grid of
                ``shrink_grid`` (each op ranked by its largest probability over them; a cost-only end ranks
                the edge's cheapest alive op first, ``exact_cost_ends``): an end of the front
                keeps the ops it needs, and the stage has the op count its config asks for (a union of
                per-preference top-k kept 4.6 of 3 per edge on the digits demo, which left the convolutions
                of the shared supernet undertrained and the accurate end with nothing to choose)
  the end       a grid of ``grid`` members derived (argmax of f(z), the space's derivation rules; a member
                whose preference gives accuracy no weight then climbs to the cost model's best network within
                single changes, ``exact_cost_ends``: its reward needs no supernet), each
                scored through the supernet on the whole validation split and costed by the cost model;
                f, the alive ops and the final supernet's weights are kept, so ``tnd derive RUN`` derives
                and scores any other member later without training

f is one ``ConditionedPolicy`` whose rows are the space's cell types' edges stacked and whose columns
are the union of their op sets; the space's own ``Policy`` (its sampling form and derivation rules) is
set to f(z) whenever a z's paths are sampled or derived. Checkpoints and resume are the progressive
search's (every epoch boundary, and mid-epoch on a stop request); torchrun is refused.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
from torch import nn

from tnd import atomic
from tnd.errors import TndError
from tnd.run_folder import load_state
from tnd.search.conditioned import (SCALARISATION, ConditionedPolicy, ConditionedSettings, RewardRanges,
                                    best_top_k, cheapest_alive, draw_weights, preference_input, preference_record,
                                    reinforce_conditioned, scalarised_rewards, simplex_grid, tchebycheff,
                                    with_ends)
from tnd.search.config import SearchConfig, conditioned_objectives
from tnd.search.cost_range import ERROR_RANGE, ERROR_SOURCE, CostRange
from tnd.search.local_search import RECORD_KEY, Climb, hill_climb
from tnd.search.policy import Policy
from tnd.search.progressive import ProgressiveSearch, SearchOutcome, Stage, seed_of
from tnd.search.reward import Preference

RECORD_NAME = "conditioned.json"     # f and its layout: what `tnd derive` rebuilds the policy from
SUPERNET_NAME = "supernet.pt"        # the final stage's shared weights: what `tnd derive` scores members with
SUPERNET_FORMAT = "tnd-conditioned-supernet/1"
COST_ONLY_CLIMB = ("accuracy has no weight in this preference, so its reward is the cost model's alone: the "
                   "member is the best network within single changes of f's argmax under it (a hill climb, no "
                   "data)")
NORMALISATION = ("error and each cost on fixed ranges, the hypervolume's (error over [0, 1], each cost over the "
                 "cheapest and dearest derivable network or derive.hv_range), resolved once per run")


class ConditionedCells(nn.Module):
    """f over every cell type of a space: alpha_c(z) = the cell type's rows and ops of one ConditionedPolicy.

    ``template`` is the space's policy (its cell types, op sets, sampling form, derivation rules); ``at(z)``
    sets its alpha to f(z) and returns it. Every Policy method the progressive loop calls on a stage's
    policy is here too, so the loop runs unchanged."""

    def __init__(self, template: Policy, n_objectives: int, settings: ConditionedSettings,
                 generator: torch.Generator | None = None):
        super().__init__()
        self.__dict__["template"] = template     # not a submodule: its alpha is set from f, never trained
        self.cells, self.op_sets = template.cells, template.op_sets
        self.ops = list(dict.fromkeys(op for c in self.cells for op in self.op_sets[c]))
        self.rows, start = {}, 0
        for c in self.cells:
            n = template.alpha[c].shape[0]
            self.rows[c] = (start, start + n)
            start += n
        self.cols = {c: torch.tensor([self.ops.index(op) for op in self.op_sets[c]]) for c in self.cells}
        self.f = ConditionedPolicy(self.ops, start, n_objectives, settings.hidden, generator=generator)
        with torch.no_grad():   # an op not in a cell type's set is dead on its rows
            self.f.alive.zero_()
            for c in self.cells:
                r0, r1 = self.rows[c]
                self.f.alive[r0:r1, self.cols[c]] = template.alive(c)
        self.n_objectives = n_objectives
        self.shrink_zs = [preference_input(w) for w in simplex_grid(n_objectives, settings.shrink_grid)]
        # per rewarded cost, its (edges x ops) prices per cell type: the cost-only ends' exact ranking for
        # shrinking (``exact_cost_ends``; set by the search, empty: f alone ranks the ops)
        self.edge_costs: list[dict[str, torch.Tensor]] = []

    # ---- f(z) per cell type --------------------------------------------------------------------
    def split(self, table: torch.Tensor) -> dict[str, torch.Tensor]:
        """One (edges x ops) table per cell type from f's stacked (all edges x union of ops) table."""
        return {c: table[self.rows[c][0]:self.rows[c][1]][:, self.cols[c]] for c in self.cells}

    def alpha_at(self, z: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.split(self.f.alpha(z))

    def at(self, z: torch.Tensor) -> Policy:
        """The space's policy with alpha = f(z) (detached) and f's alive ops."""
        with torch.no_grad():
            for c, a in self.alpha_at(z).items():
                self.template.alpha[c].copy_(a)
        return self.template

    def _sync_alive(self) -> None:
        with torch.no_grad():
            for c, alive in self.split(self.f.alive).items():
                self.template.alive(c).copy_(alive)

    def load_state_dict(self, state: Any, strict: bool = True, assign: bool = False) -> Any:
        out = super().load_state_dict(state, strict=strict, assign=assign)
        self._sync_alive()
        return out

    # ---- what the progressive loop asks of a policy ------------------------------------------------
    def sample(self, generator: torch.Generator | None = None, uniform: bool = False) -> dict[str, torch.Tensor]:
        """A path for a preference drawn uniformly over the simplex (``uniform``: every alive choice alike)."""
        if uniform:
            return self.template.sample(generator, uniform=True)
        w = draw_weights(1, self.n_objectives, generator)[0]
        return self.at(preference_input(w.tolist())).sample(generator)

    def log_probs(self, zs: torch.Tensor, choices: Sequence[dict[str, torch.Tensor]]) -> torch.Tensor:
        """log pi(choice_i | z_i), differentiable in f (``reinforce_conditioned`` calls it)."""
        return torch.stack([self.template.log_prob(ch, alpha=self.alpha_at(z)) for z, ch in zip(zs, choices)])

    def entropy(self) -> torch.Tensor:
        """The policy's entropy at the uniform preference."""
        return self.at(torch.zeros(self.n_objectives)).entropy().detach()

    def op_names(self, choice: dict[str, torch.Tensor]) -> dict[str, list[str]]:
        return self.template.op_names(choice)

    def architecture(self, choice: dict[str, torch.Tensor]) -> Any:
        return self.template.architecture(choice)

    def alive_ops(self, cell: str) -> list[list[str]]:
        return self.template.alive_ops(cell)

    def shrink(self, keep: int | dict[str, int]) -> dict[str, list[list[str]]]:
        """Keep, per edge, the k ops most probable under some preference of the shrink grid (``best_top_k``, k
        per cell type), each cost-only end ranking its cheapest alive op first (``edge_costs``); returns the
        dropped op names per edge, as ``Policy.shrink`` does."""
        before = {c: self.alive_ops(c) for c in self.cells}
        with torch.no_grad():
            alphas = [self.alpha_at(z) for z in self.shrink_zs]
            for c in self.cells:
                r0, r1 = self.rows[c]
                k = keep if isinstance(keep, int) else keep[c]
                alive = self.template.alive(c)
                exact = [cheapest_alive(prices[c], alive) for prices in self.edge_costs]
                self.f.alive[r0:r1, self.cols[c]] = best_top_k((a[c] for a in alphas), alive, k, exact)
        self._sync_alive()
        return {c: [[op for op in was if op not in now] for was, now in zip(before[c], self.alive_ops(c))]
                for c in self.cells}

    # ---- a JSON record (no pickles) ---------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"policy": self.f.to_dict(), "cells": list(self.cells), "op_sets": self.op_sets,
                "rows": {c: list(r) for c, r in self.rows.items()}}

    def load_record(self, record: dict[str, Any]) -> None:
        """f as a finished run recorded it (its layout must be this one's: the same config)."""
        if record.get("rows") != {c: list(r) for c, r in self.rows.items()} or record.get("op_sets") != self.op_sets:
            raise TndError("conditioned record: its cell layout differs from the run's config; re-run the search")
        f = ConditionedPolicy.from_dict(record["policy"])
        self.load_state_dict({f"f.{k}": v for k, v in f.state_dict().items()})


class ConditionedReward:
    """The conditioned search's reward, as a series member's spec shows it: the objectives weighed by a
    preference drawn per sample (there are no targets)."""

    def __init__(self, objectives: Sequence[str]):
        self.objectives = list(objectives)
        self.costs = tuple(self.objectives[1:])

    def describe(self) -> str:
        return (f"{SCALARISATION} ({', '.join(self.objectives)}), each sample under its own preference weights "
                "drawn over the simplex")

    def to_dict(self) -> dict[str, Any]:
        return {"form": SCALARISATION, "objectives": self.objectives, "normalisation": NORMALISATION}


def conditioned_preference(cfg: SearchConfig) -> Preference:
    return Preference("conditioned", ConditionedReward(conditioned_objectives(cfg)))  # type: ignore[arg-type]


def reward_ranges(costs: Sequence[str], ranges: Mapping[str, CostRange]) -> RewardRanges:
    """The reward's fixed ranges: error over ``ERROR_RANGE`` and each cost over its hypervolume range."""
    missing = [c for c in costs if c not in ranges]
    if missing:
        raise TndError(f"reward ranges: no range for {', '.join(missing)}")
    return RewardRanges(("error", *costs), (ERROR_RANGE[0], *(ranges[c].lower for c in costs)),
                        (ERROR_RANGE[1], *(ranges[c].upper for c in costs)),
                        (ERROR_SOURCE, *(ranges[c].source for c in costs)))


class ConditionedSupernetSearch(ProgressiveSearch):
    """``ProgressiveSearch`` with one conditioned policy in place of a series' alpha tables (see the module)."""

    def __init__(self, cfg: SearchConfig, data: Any, costs: Any, out_dir: str | Path,
                 ranges: Mapping[str, CostRange] | None = None, **kwargs: Any):
        """``ranges``: each cost's range as the run's hypervolume takes it (``run.hypervolume_ranges``); None:
        resolved from the space and ``costs`` alike, when the search first needs them."""
        super().__init__(cfg, [conditioned_preference(cfg)], data, costs, out_dir, **kwargs)
        if self.world > 1:
            raise TndError("strategy conditioned is not run under torchrun (its alpha steps are not split over "
                           "processes); run it as one process")
        self.objectives = conditioned_objectives(cfg)
        self.settings = cfg.conditioned
        self._cost_ranges = dict(ranges) if ranges is not None else None
        self._reward_ranges: RewardRanges | None = None

    @property
    def reward_ranges(self) -> RewardRanges:
        """The fixed ranges every alpha step's rewards are normalised on (one per run)."""
        if self._reward_ranges is None:
            costs = self.objectives[1:]
            given = self._cost_ranges or self.space.cost_ranges(self.cfg, self.costs, costs)
            self._reward_ranges = reward_ranges(costs, given)
        return self._reward_ranges

    def _start(self) -> tuple[list[dict[str, Any]], Any, list[Any]]:
        out = super()._start()
        self._log({"event": "reward_ranges", "normalisation": NORMALISATION, **self.reward_ranges.to_dict()})
        return out

    def warnings(self) -> list[str]:
        ignored = [name for name, given in (("reward targets/exponents", self.cfg.reward.targets or
                                             self.cfg.reward.exponents),
                                            (f"preference series ({', '.join(p.name for p in self.cfg.preferences)})",
                                             self.cfg.preferences)) if given]
        if not ignored:
            return []
        return [f"strategy conditioned: the config's {' and '.join(ignored)} are not used; each sample is rewarded "
                f"under its own drawn weights, and {self.settings.grid} members are derived from a grid of them"]

    def _new_policy(self) -> ConditionedCells:
        template = super()._new_policy()
        # samples obey derivation's caps (DARTS: derive.max_skip skip connections in the normal cell), so the
        # paths rewarded are of the form the members are derived in; see ``Policy.caps``
        template.caps = self.space.sampling_caps(self.cfg, template)
        cells = ConditionedCells(template, len(self.objectives), self.settings,
                                 generator=torch.Generator().manual_seed(seed_of(self.cfg.seed, 0, 0, 11)))
        if self.settings.exact_cost_ends:
            cells.edge_costs = list(self.space.edge_op_costs(self.cfg, self.costs, self.objectives[1:]).values())
        return cells

    def _alpha_optimiser(self, policy: Any) -> torch.optim.Optimizer:
        return torch.optim.Adam(policy.parameters(), lr=self.settings.lr)

    def _alpha_step(self, stage: Stage, xv: torch.Tensor, yv: torch.Tensor, g_arch: torch.Generator,
                    e: int, step: int) -> float:
        s, policy, costs = self.settings, stage.policy, stage.preference.spec.costs
        drawn = draw_weights(s.preferences_per_step, len(self.objectives), g_arch)
        weights = (with_ends(drawn) if s.pin_ends else drawn).tolist()
        zs, choices = [], []
        for w in weights:
            z = preference_input(w)
            at = policy.at(z)
            for _ in range(s.samples_per_preference):
                zs.append(z)
                choices.append(at.sample(g_arch))
        with torch.no_grad():
            scored = [self._score(stage, c, xv, yv) for c in choices]
        accs = torch.stack([acc for acc, _ in scored]).tolist()
        points = [[1.0 - acc] + [values[c] for c in costs] for acc, (_, values) in zip(accs, scored)]
        k = s.samples_per_preference
        r = scalarised_rewards(points, weights, k, self.reward_ranges)
        loss = reinforce_conditioned(policy, stage.a_opt, zs, choices, r, k, s.grad_clip)
        self._log({"event": "alpha", "preference": stage.preference.name, "stage": stage.index, "epoch": e,
                   "step": step, "reward": float(r.mean()), "loss": loss, "accuracy": sum(accs) / len(accs),
                   "costs": {c: sum(p[i + 1] for p in points) / len(points) for i, c in enumerate(costs)},
                   "entropy": policy.entropy().item(),
                   # per drawn preference: its weights, its samples' (error, costs...) and rewards, and how
                   # many distinct paths it drew: what shows a collapse, and whether the rewards still differ
                   "groups": [{"weights": [round(v, 4) for v in w],
                               "points": [[round(v, 6) for v in p] for p in points[g * k:(g + 1) * k]],
                               "rewards": [round(float(v), 6) for v in r[g * k:(g + 1) * k]],
                               "distinct": len({json.dumps(policy.op_names(c)) for c in choices[g * k:(g + 1) * k]})}
                              for g, w in enumerate(weights)]})
        return float(r.mean())

    def _finish(self, stage: Stage) -> list[dict[str, Any]]:
        """The grid's members, each scored through the supernet; f and the supernet's weights kept for
        ``tnd derive``."""
        atomic.write_json(self.out / RECORD_NAME, self.record(stage.policy))
        atomic.torch_save(self.out / SUPERNET_NAME, {"format": SUPERNET_FORMAT, "stage": stage.index,
                                                     "supernet": stage.supernet.state_dict()})
        return self.members(stage, simplex_grid(len(self.objectives), self.settings.grid))

    def members(self, stage: Stage, weights: Sequence[Sequence[float]]) -> list[dict[str, Any]]:
        """Each weight vector's derived member, scored through ``stage``'s supernet and costed. A weight
        vector that gives accuracy no weight gets the cost model's own optimum near f's argmax
        (``cost_only_member``) when ``conditioned.exact_cost_ends`` is on."""
        entries = []
        for w in weights:
            warnings: list[str] = []
            policy = stage.policy.at(preference_input(w))
            arch = self.space.derive(self.cfg, policy, warnings)
            climb = None
            if placed_by_cost_model(self.settings, w):
                climb = self.cost_only_member(policy, w, arch)
                arch = climb.arch
            entry = self._member_entry(stage, arch, preference_record(self.objectives, w), warnings)
            if climb is not None:
                entry[RECORD_KEY] = {**climb.to_dict(), "why": COST_ONLY_CLIMB}
            self._log({"event": "derived", "preference": entry["preference"]["name"], **entry})
            entries.append(entry)
        return entries

    def cost_only_member(self, policy: Policy, weights: Sequence[float], arch: Any) -> Climb:
        """The best architecture within single changes of ``arch`` (and of each step's) under the reward of
        ``weights``, which give accuracy no weight: the costs alone, from the cost model, on the run's reward
        ranges (the same reward the alpha steps gave, whatever the error)."""
        costs = self.objectives[1:]

        def reward(a: Any) -> float:
            values = self.costs(self.space.cost_record(a))
            return tchebycheff(self.reward_ranges.normalise([0.0, *(float(values[c].value) for c in costs)]),
                               weights)

        return hill_climb(arch, lambda a: self.space.neighbours(self.cfg, policy, a), reward)

    def record(self, policy: ConditionedCells) -> dict[str, Any]:
        return {"kind": "supernet", "objectives": self.objectives, "space": self.cfg.space,
                "scalarisation": SCALARISATION, "normalisation": NORMALISATION,
                "reward_ranges": self.reward_ranges.to_dict(),
                "shrink": f"the top-k ops per edge by their largest probability over {self.settings.shrink_grid} "
                          "preferences",
                "supernet": SUPERNET_NAME, "devices": {}, "uses_device_features": False, **policy.to_dict()}

    def run(self, stop_after_epochs: int | None = None) -> SearchOutcome | None:
        outcome = super().run(stop_after_epochs)
        if outcome is not None:   # (a resumed, already finished run reads what its first run wrote)
            outcome.conditioned = json.loads((self.out / RECORD_NAME).read_text())
        return outcome

    # ---- a finished run's members, again (``tnd derive``) -----------------------------------------
    def final_stage(self, run: Path, record: dict[str, Any]) -> Stage:
        """The finished ``run``'s last stage: f from its ``record``, the supernet's weights from its folder."""
        state = load_state(run / SUPERNET_NAME, SUPERNET_FORMAT, "conditioned run's supernet")
        stage = self._build_stage(policy_of(self.cfg, record), 0, int(state["stage"]))
        stage.supernet.load_state_dict(state["supernet"])
        return stage


def placed_by_cost_model(settings: ConditionedSettings, weights: Sequence[float]) -> bool:
    """Whether the member of ``weights`` is the cost model's own optimum near f's argmax (``exact_cost_ends``
    and no weight on accuracy, the first objective) rather than f's argmax."""
    return settings.exact_cost_ends and weights[0] == 0


def policy_of(cfg: SearchConfig, record: dict[str, Any]) -> ConditionedCells:
    """A finished run's f, over the space's policy its config describes."""
    template = cfg.search_space().new_policy(cfg, torch.Generator().manual_seed(0))   # alpha: set from f
    template.caps = cfg.search_space().sampling_caps(cfg, template)
    cells = ConditionedCells(template, len(record["objectives"]), cfg.conditioned)
    cells.load_record(record)
    return cells
