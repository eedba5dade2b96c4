"""`tnd search --dry-run`: the resolved plan of a search, printed before anything is trained.

Stages (supernet depth, ops kept per cell type, epochs, warm-up), op sets, each preference's reward, the
cheapest and dearest network the search can derive under the cost models, and the work the search will
do (weight steps, alpha steps, scored samples), counted as the loop counts them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Sequence

from tnd.costs.objectives import get_objective
from tnd.data.datasets import search_split_sizes
from tnd.search.config import SearchConfig, StageConfig, alpha_step_samples
from tnd.search.cost_range import CostsOf
from tnd.search.reward import Preference, equivalence_message, targets_only_hint


def ops_kept(stage: StageConfig, cell: str) -> int:
    """Ops kept per edge of ``cell`` in a stage: one count for both cells, or one per cell type."""
    ops: Any = stage.ops
    if isinstance(ops, int):
        return ops
    if isinstance(ops, Mapping):
        return int(ops[cell])
    return int(getattr(ops, cell))


def stage_steps(cfg: SearchConfig, stage: StageConfig, train_size: int) -> dict[str, int]:
    """Weight steps, alpha steps and scored samples of one stage of one preference (as the loop runs them:
    one weight step per training batch, after warm-up an alpha step every ``alpha_every`` of them)."""
    per_epoch = math.ceil(train_size / cfg.weights.batch_size)
    if cfg.weights.steps_per_epoch:
        per_epoch = min(per_epoch, cfg.weights.steps_per_epoch)
    alpha = (per_epoch // cfg.policy.alpha_every) * (stage.epochs - stage.warmup_epochs)
    return {"weight_steps": per_epoch * stage.epochs, "alpha_steps": alpha, "samples": alpha * alpha_step_samples(cfg),
            "steps_per_epoch": per_epoch}


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[k]) for r in rows)) for k, h in enumerate(header)]
    line = lambda cells: "  " + "  ".join(c.rjust(w) if k else c.ljust(w)  # noqa: E731
                                          for k, (c, w) in enumerate(zip(cells, widths)))
    return [line(header)] + [line(r) for r in rows]


def describe_plan(cfg: SearchConfig, prefs: Sequence[Preference], costs: CostsOf,
                  train_size: int | None = None) -> str:
    """The plan as text. ``costs``: the search's cost models (a ``CostSuite``); ``train_size``: the
    weight-training split's size (default: what ``load_dataset`` gives for ``cfg.dataset``)."""
    if train_size is None:
        train_size = search_split_sizes(cfg.dataset)[0]
    n = len(cfg.stages)
    lines = [f"plan for '{cfg.name}' on {cfg.dataset} (dry run: nothing is trained): {len(prefs)} preference(s) x "
             f"{n} stage(s); weights train on the {cfg.weights.mode} path ({train_size} training images, batch "
             f"{cfg.weights.batch_size}); supernet {cfg.channels} channels"]
    steps = [stage_steps(cfg, st, train_size) for st in cfg.stages]
    space = cfg.search_space()
    cells = space.cell_types
    rows = [[str(i + 1), str(st.cells), "/".join(str(ops_kept(st, c)) for c in cells), str(st.epochs),
             str(st.warmup_epochs), str(s["weight_steps"]), str(s["alpha_steps"]), str(s["samples"])]
            for i, (st, s) in enumerate(zip(cfg.stages, steps))]
    lines += ["", "stages (per preference):"]
    lines += _table(["stage", "cells" if space.name == "darts" else "cells per NB201 stage",
                     f"ops kept {'/'.join(cells)}", "epochs", "warm-up", "weight steps",
                     "alpha steps", "scored samples"], rows)
    lines += ["", "op sets:"] + [f"  {c} ({len(cfg.op_sets()[c])}): {', '.join(cfg.op_sets()[c])}" for c in cells]
    p, c = cfg.policy, cfg.conditioned
    settings = (f"lr {p.lr:g}, weight decay {p.weight_decay:g}, baseline decay {p.baseline_decay:g}; alpha "
                f"{'re-initialised' if p.reset_between_stages else 'kept'} between stages" if cfg.strategy != "conditioned"
                else f"conditioned: {c.preferences_per_step} preferences x {c.samples_per_preference} samples, Adam lr "
                f"{c.lr:g}, hidden {c.hidden}; {c.grid} members derived")
    lines += ["", f"policy: {alpha_step_samples(cfg)} samples per alpha step, one alpha step every {p.alpha_every} "
                  f"weight steps after warm-up; {settings}"]
    lines += ["", "rewards:"] + [f"  {pref.name}: {pref.spec.describe()}" for pref in prefs]
    for note in (equivalence_message(prefs), targets_only_hint(prefs)):
        if note:
            lines.append(f"  WARNING: {note}")
    rewarded = {c for pref in prefs for c in pref.spec.costs}
    names = list(dict.fromkeys(["params", "flops", *(c for pref in prefs for c in pref.spec.costs)]))
    ranges = space.cost_ranges(cfg, costs, names, stated=False)
    lines += ["", f"deployed network ({space.describe_shape(cfg.target_shape())}): the "
                  "cheapest and dearest networks the search can derive, per cost"]
    rows = []
    for name in names:
        r, objective = ranges[name], get_objective(name)
        cheap = costs(space.cost_record(r.cheapest))[name]
        dear = costs(space.cost_record(r.dearest))[name]
        rows.append([name, objective.format(cheap.value, cheap.source), objective.format(dear.value, dear.source),
                     "(rewarded)" if name in rewarded else ""])
    lines += _table(["cost", "smallest", "largest", ""], rows)
    total = {k: sum(s[k] for s in steps) for k in ("weight_steps", "alpha_steps", "samples")}
    lines += ["", f"estimated work: {total['weight_steps']} weight steps, {total['alpha_steps']} alpha steps and "
                  f"{total['samples']} scored samples per preference; x {len(prefs)} preference(s) = "
                  f"{total['weight_steps'] * len(prefs)} weight steps, {total['alpha_steps'] * len(prefs)} alpha "
                  f"steps, {total['samples'] * len(prefs)} scored samples"]
    if cfg.derive.evaluate == "train":
        lines.append(f"then each derived network trains {cfg.derive.train_epochs} epochs from scratch to be scored")
    return "\n".join(lines)
