"""TND-NAS progressive search: sample a path, train its weights, score samples, step alpha by REINFORCE.

For each preference (one point of a Pareto series) and each stage:
  start of stage  (from the second stage) shrink every edge to its top-k ops by alpha, optionally reset
                  alpha, build a deeper supernet (fresh weights)
  every step      sample an architecture (uniformly during warm-up, from alpha after), train its weights
                  on a training batch
  after warm-up   every k steps: sample M architectures, reward = f(accuracy on a validation batch, costs),
                  ascend (R - b) * grad log pi(a) with AdamW, move the baseline b
  end of search   derive the space's architecture (a DARTS genotype, an NB201 cell), score it, record its
                  costs beside the policy's expected costs
Randomness is re-seeded from (seed, stage, epoch): every member of a series sees the same random streams
(common random numbers, so members differ by their preference alone), and a run resumed from a
checkpoint is bit-identical to one that was never interrupted. Checkpoints are written at every epoch
boundary and, when a stop is requested (SIGTERM from a batch system, ``tnd.preemption``), at the next
step boundary: the epoch's streams are replayed to that step on resume.

Everything that differs between cell spaces (supernet, policy, derivation, cost record, result format) is
asked of the config's space (``tnd.search.spaces``); the loop is the same for all.

``strategy: random`` is the baseline at equal budget: the same supernet schedule trained on uniform samples,
no shrinking, then as many uniform samples scored as the policy would have scored, the best one kept.

``strategy: conditioned`` (``tnd.search.conditioned_supernet``) runs this loop once with one policy f(preference)
for the whole front in place of a series' alpha tables: it overrides the policy, the alpha step and the end
(a grid of members), nothing else.

Under torchrun (a joined process group, ``tnd.distributed``) the same loop trains one search data-parallel:
every rank draws the same streams (so samples the same path), trains on its rank-strided shard of each batch
(the global batch stays ``weights.batch_size``), averages the weight gradients, scores its share of each alpha
step's samples (all on the same validation batch) and gathers the accuracies, so every rank takes the same
alpha step. A stop request is agreed across ranks before each step. Rank 0 alone writes the log and the
checkpoints, and derives and evaluates each member, whose entry it sends to the others. BN uses each rank's
shard's batch statistics; its running statistics (never read by the search) stay per rank, rank 0's are saved.
With one process nothing of this runs and the numbers are those of a plain run.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import torch
from torch import nn

from tnd import atomic, distributed, preemption
from tnd.compute import amp_policy, configure_backends, resolve_compute
from tnd.costs.base import CostSuite
from tnd.costs.objectives import get_objective
from tnd.errors import TndError
from tnd.progress import Progress
from tnd.run_folder import load_state
from tnd.search.config import SearchConfig, StageConfig
from tnd.search.policy import Policy, one_hot_weights, reinforce_step
from tnd.search.reward import Preference
from tnd.search.spaces import genotype_choice

__all__ = ["ProgressiveSearch", "SearchOutcome", "choice_of", "cosine_lr", "genotype_choice", "one_hot_weights",
           "seed_of"]

CHECKPOINT_FORMAT = "tnd-search-checkpoint/1"


def seed_of(*parts: int) -> int:
    """A distinct, stable seed for each (seed, preference, stage, epoch, stream) position."""
    s = 0
    for p in parts:
        s = (s * 1_000_003 + int(p) + 1) % (2**62)
    return s


def cosine_lr(base: float, minimum: float, step: int, total: int) -> float:
    return minimum + 0.5 * (base - minimum) * (1 + math.cos(math.pi * min(step, total) / max(total, 1)))


def choice_of(policy: Policy, names: dict[str, list[str]]) -> dict[str, torch.Tensor]:
    """Op names per edge (``none`` = unused) back to the policy's indices."""
    return {c: torch.tensor([policy.op_sets[c].index(n) if n in policy.op_sets[c] else -1 for n in names[c]])
            for c in policy.cells}


@dataclass(frozen=True)
class Position:
    """One unit of work: an epoch of a stage of a preference, or (``epoch`` None) deriving its genotype."""

    pref: int
    stage: int
    epoch: int | None


@dataclass
class Stage:
    """Everything that lives for one stage of one preference."""

    pref: int
    index: int
    preference: Preference
    config: StageConfig
    policy: Policy
    supernet: nn.Module
    w_opt: torch.optim.SGD
    a_opt: torch.optim.AdamW
    scaler: torch.amp.GradScaler       # fp16 loss scaling on GPUs without bf16; passes through otherwise
    baseline: float | None = None
    epochs_done: int = 0


@dataclass
class EpochStreams:
    """The random streams of one epoch, seeded from its position so a resumed run replays them exactly."""

    data: torch.Generator
    arch: torch.Generator
    val: torch.Generator

    @classmethod
    def at(cls, seed: int, stage: int, epoch: int) -> EpochStreams:
        return cls(*(torch.Generator().manual_seed(seed_of(seed, stage, epoch, k)) for k in (3, 4, 5)))


@dataclass
class SearchOutcome:
    entries: list[dict[str, Any]]  # one per preference, result.json's genotypes
    conditioned: dict[str, Any] | None = None   # strategy conditioned: what `tnd derive` rebuilds f from


class ProgressiveSearch:
    def __init__(self, cfg: SearchConfig, prefs: list[Preference], data: Any, costs: CostSuite,
                 out_dir: str | Path, resume: bool = False, progress: bool = True,
                 tensorboard: str | Path | None = None, preemptible: bool = False):
        self.cfg, self.prefs, self.costs = cfg, prefs, costs
        # The supernet, batches and scoring run on the compute device; the policy (a few hundred logits whose
        # samples pick Python-side modules) stays on the CPU, so its random streams are the same everywhere.
        env = distributed.dist_env()
        self.device = resolve_compute(cfg.compute, env.local_rank if env.launched else None)
        # Data-parallel under torchrun when the caller joined the process group; one process otherwise.
        self.rank, self.world = distributed.rank(), distributed.world_size()
        self.main = self.rank == 0
        configure_backends(self.device)
        self.amp = amp_policy(self.device, cfg.amp)
        self.data = data.to(self.device)
        # SIGTERM -> checkpoint at the next step and raise preemption.Preempted (the CLI exits 75). Off for
        # library callers: the handler is process-wide, so only the command that owns the process sets it.
        self.preemptible = preemptible
        self._partial: dict[str, Any] | None = None   # where an epoch stopped mid-way (from the checkpoint)
        self._entries: list[dict[str, Any]] = []
        self.space = cfg.search_space()
        self.learns_alpha = cfg.strategy != "random"   # the random baseline trains on uniform samples throughout
        self.out = Path(out_dir)
        self.resume, self.progress = resume, progress and self.main
        self.tensorboard = tensorboard  # also send the epoch and alpha records there (TensorBoardSink)
        self._tb: Any = None
        costs.require([c for p in prefs for c in p.spec.costs])
        self.ckpt_path = self.out / "checkpoint.pt"
        self.log_path = self.out / "log.jsonl"
        self._log_lines = 0
        self.cost_seconds = 0.0  # time spent in the cost model (benchmarks report its share)

    # ---- the loop ----------------------------------------------------------------------------
    def positions(self) -> list[Position]:
        """Every epoch of every stage of every preference, each preference closed by its derivation."""
        last = len(self.cfg.stages) - 1
        return [pos for p in range(len(self.prefs))
                for pos in [Position(p, s, e) for s, st in enumerate(self.cfg.stages) for e in range(st.epochs)]
                + [Position(p, last, None)]]

    def run(self, stop_after_epochs: int | None = None) -> SearchOutcome | None:
        """Run (or continue) the search. Returns None if stopped early by ``stop_after_epochs``."""
        if self.main:
            self.out.mkdir(parents=True, exist_ok=True)
            preemption.clear_stopped(self.out)   # a resumed run is going again
        if self.world > 1:
            distributed.shared_seed(self.cfg.seed)   # refused on every rank if the ranks were given different seeds
        entries, stage, todo = self._restore() if self.resume else self._start()
        epochs = sum(st.epochs for st in self.cfg.stages) * len(self.prefs)
        # A bar on a terminal; in a log, one line per epoch.
        bar = Progress(epochs, "search", "epoch", initial=epochs - sum(p.epoch is not None for p in todo),
                       enabled=self.progress, plain_every=1)
        if self.tensorboard is not None and self.main:
            from tnd.sinks import TensorBoardSink

            self._tb = TensorBoardSink(self.tensorboard, step_key="step")
        epochs_run = 0
        self._entries = entries
        if self.preemptible:
            preemption.install()
        try:
            for pos in todo:
                if pos.epoch is None:
                    assert stage is not None
                    entries.extend(self._finished_entries(stage))
                    self._test_rank_hash(stage)
                    stage = None
                    self._save_checkpoint(Position(pos.pref + 1, 0, 0), None, entries)
                    continue
                stage = self._stage_at(pos, stage)
                stats = self._run_epoch(stage, pos.epoch)
                bar.update(1, preference=stage.preference.name, stage=f"{pos.stage + 1}/{len(self.cfg.stages)}",
                           **stats)
                stage.epochs_done = pos.epoch + 1
                self._save_checkpoint(Position(pos.pref, pos.stage, stage.epochs_done), stage, entries)
                epochs_run += 1
                if stop_after_epochs is not None and epochs_run >= stop_after_epochs:
                    return None
        finally:
            if self.preemptible:
                preemption.uninstall()
            bar.close()
            if self._tb is not None:
                self._tb.close()
                self._tb = None
        return SearchOutcome(entries)

    def _start(self) -> tuple[list[dict[str, Any]], Stage | None, list[Position]]:
        if self.main:
            self.log_path.write_text("")
        return [], None, self.positions()

    def _stage_at(self, pos: Position, current: Stage | None) -> Stage:
        """The stage ``pos`` runs in: the current one, or the next one built from the current policy."""
        if current is not None and (current.pref, current.index) == (pos.pref, pos.stage):
            return current
        policy = current.policy if current is not None and current.pref == pos.pref else self._new_policy()
        return self._start_stage(policy, pos.pref, pos.stage)

    def _new_policy(self) -> Policy:
        """The same initial alpha for every member of a series (common random numbers)."""
        return self.space.new_policy(self.cfg, torch.Generator().manual_seed(seed_of(self.cfg.seed, 0, 0, 1)))

    # ---- stages and epochs -------------------------------------------------------------------
    def _start_stage(self, policy: Policy, p: int, s: int) -> Stage:
        """From the second stage on, shrink every edge to the stage's top-k ops by the alpha just learned
        (then reset alpha if asked); then a deeper supernet with fresh weights. The random baseline never
        shrinks: it has no alpha to shrink by."""
        cfg, stage = self.cfg, self.cfg.stages[s]
        n_dropped = 0
        if s > 0 and self.learns_alpha:
            dropped = policy.shrink({c: stage.keep(c) for c in policy.cells})
            n_dropped = sum(len(d) for cell in dropped.values() for d in cell)
            if cfg.policy.reset_between_stages:
                policy.reset_alpha(generator=torch.Generator().manual_seed(seed_of(cfg.seed, s, 0, 1)))
        self._log({"event": "stage", "preference": self.prefs[p].name, "stage": s, "cells": stage.cells,
                   "ops_per_edge": stage.ops, "dropped": n_dropped,
                   "alive": {c: policy.alive_ops(c) for c in policy.cells}})
        return self._build_stage(policy, p, s)

    def _build_stage(self, policy: Policy, p: int, s: int) -> Stage:
        cfg, stage = self.cfg, self.cfg.stages[s]
        torch.manual_seed(seed_of(cfg.seed, s, 0, 2))
        alive = {c: policy.alive_ops(c) for c in policy.cells}
        supernet = self.space.build_supernet(cfg, alive, stage)
        w = cfg.weights
        a_opt = self._alpha_optimiser(policy)
        supernet.to(self.device)      # built on the CPU first: the same initial weights on every device
        if self.world > 1:
            distributed.broadcast_module(supernet)   # seeded alike on every rank; rank 0's, to be sure
        w_opt = torch.optim.SGD(supernet.parameters(), lr=w.lr, momentum=w.momentum, weight_decay=w.weight_decay)
        return Stage(p, s, self.prefs[p], stage, policy, supernet, w_opt, a_opt, self.amp.grad_scaler())

    def _alpha_optimiser(self, policy: Any) -> torch.optim.Optimizer:
        """A stage's optimiser of alpha. Decoupled weight decay: its pull on alpha does not depend on the reward's
        scale (accuracy in [0, 1])."""
        a = self.cfg.policy
        return torch.optim.AdamW(policy.parameters(), lr=a.lr, betas=tuple(a.betas), weight_decay=a.weight_decay)

    def _steps_per_epoch(self) -> int:
        n = math.ceil(len(self.data.train) / self.cfg.weights.batch_size)
        cap = self.cfg.weights.steps_per_epoch
        return min(n, cap) if cap else n

    def _val_batches(self, gen: torch.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        while True:
            yield from self.data.val.batches(self.cfg.policy.val_batch_size, shuffle=True, generator=gen)

    def _run_epoch(self, stage: Stage, e: int) -> dict[str, float]:
        """Weight steps on training batches; after warm-up, an alpha step every ``alpha_every`` of them.

        Before each step a requested stop is honoured: checkpoint (with where this epoch stands) and raise
        ``preemption.Preempted``. An epoch resumed from such a checkpoint replays its data and validation
        streams to the step it stopped at and restores the architecture stream, so it goes on bit-identically."""
        cfg = self.cfg
        streams = EpochStreams.at(cfg.seed, stage.index, e)
        val = self._val_batches(streams.val)
        steps = self._steps_per_epoch()
        total_steps = steps * stage.config.epochs
        learn_alpha = e >= stage.config.warmup_epochs and self.learns_alpha
        stage.supernet.train()
        losses: list[torch.Tensor] = []
        restored: list[float] = []     # losses of the steps run before a stop (already averaged over ranks)
        rewards: list[float] = []
        batches = self.data.train.batches(cfg.weights.batch_size, shuffle=True, generator=streams.data, augment=True)
        start, val_drawn = 0, 0
        partial, self._partial = self._partial, None
        if partial is not None:
            start, val_drawn = partial["step"], partial["val_drawn"]
            restored = list(partial["losses"])
            rewards = list(partial["rewards"])
            for _ in zip(range(start), batches):
                pass
            for _ in range(val_drawn):
                next(val)
            streams.arch.set_state(partial["arch_state"])
        lr = cosine_lr(cfg.weights.lr, cfg.weights.lr_min, e * steps + start, total_steps)
        for step, (x, y) in zip(range(start, steps), batches):
            if self._stop_requested():
                where = {"step": step, "val_drawn": val_drawn, "losses": restored + self._rank_mean(losses),
                         "rewards": rewards, "arch_state": streams.arch.get_state()}
                self._save_checkpoint(Position(stage.pref, stage.index, e), stage, self._entries, partial=where)
                at = (f"step {step} of epoch {e + 1} (stage {stage.index + 1}, preference "
                      f"'{stage.preference.name}')")
                if self.main:
                    preemption.mark_stopped(self.out, self.ckpt_path, at)
                distributed.barrier()   # no rank exits (and gets the others killed) before the checkpoint is written
                raise preemption.Preempted(f"checkpoint written at {at} in {self.ckpt_path}; run the same "
                                           "command with --resume")
            lr = cosine_lr(cfg.weights.lr, cfg.weights.lr_min, e * steps + step, total_steps)
            for group in stage.w_opt.param_groups:
                group["lr"] = lr
            losses.append(self._weight_step(stage, x, y, streams.arch, uniform=not learn_alpha))
            if learn_alpha and (step + 1) % cfg.policy.alpha_every == 0:
                xv, yv = next(val)
                val_drawn += 1
                rewards.append(self._alpha_step(stage, xv, yv, streams.arch, e, step))
        with torch.no_grad():
            values = restored + self._rank_mean(losses)   # one sync
            stats = {"loss": round(sum(values) / len(values), 4), "entropy": round(stage.policy.entropy().item(), 3)}
        if rewards:
            stats["reward"] = round(sum(rewards) / len(rewards), 4)
        self._log({"event": "epoch", "preference": stage.preference.name, "stage": stage.index, "epoch": e,
                   "alpha_learning": learn_alpha, "lr": lr, **stats})
        return stats

    def _stop_requested(self) -> bool:
        """A stop asked of this process, or under torchrun of any rank (one tiny collective per step), so that
        every rank stops at the same step."""
        if self.world == 1:
            return preemption.stop_requested()
        return distributed.any_rank(preemption.stop_requested())

    def _rank_mean(self, losses: list[torch.Tensor]) -> list[float]:
        """The step losses as floats (one host sync), each averaged over the ranks' shards under torchrun."""
        if not losses:
            return []
        t = torch.stack(losses)
        if self.world > 1:
            import torch.distributed as dist

            t = t.float()
            dist.all_reduce(t, op=dist.ReduceOp.SUM)
            t = t / self.world
        return t.tolist()

    def _weight_step(self, stage: Stage, x: torch.Tensor, y: torch.Tensor, g_arch: torch.Generator,
                     uniform: bool) -> torch.Tensor:
        """One SGD step on the weights of a sampled path (``uniform`` during warm-up, so a stage's fresh
        weights are not trained only on the last stage's winners) or of the mixture."""
        policy = stage.policy
        if self.world > 1:   # this rank's shard; every rank drew the same batch and samples the same path
            if x.shape[0] < self.world:
                raise TndError(f"a training batch of {x.shape[0]} cannot be split over {self.world} processes; "
                               "use weights.batch_size (and a training split) of at least the process count")
            x, y = x[self.rank::self.world], y[self.rank::self.world]
        with self.amp.autocast():
            if self.cfg.weights.mode == "sampled":
                logits = stage.supernet(x, choice=policy.op_names(policy.sample(g_arch, uniform=uniform)))
            else:
                logits = stage.supernet(x, weights={c: policy.probs(c).detach().to(self.device) for c in policy.cells})
            loss = nn.functional.cross_entropy(logits, y)
        # The optimiser's list of the supernet's parameters: supernet.parameters() walks thousands of modules
        # (every op on every edge) each step, and on a GPU the step is bound by the host's time to launch it.
        weights = stage.w_opt.param_groups[0]["params"]
        stage.w_opt.zero_grad(set_to_none=True)
        stage.scaler.scale(loss).backward()
        distributed.average_gradients(weights)   # no-op with one process
        stage.scaler.unscale_(stage.w_opt)
        nn.utils.clip_grad_norm_(weights, self.cfg.weights.grad_clip)
        stage.scaler.step(stage.w_opt)
        stage.scaler.update()
        return loss.detach()   # no host sync per step: the epoch reads its losses once

    def _alpha_step(self, stage: Stage, xv: torch.Tensor, yv: torch.Tensor, g_arch: torch.Generator,
                    e: int, step: int) -> float:
        """REINFORCE: score M sampled architectures, ascend (R - b) grad log pi(a), move the baseline."""
        policy, spec = stage.policy, stage.preference.spec
        choices = [policy.sample(g_arch) for _ in range(self.cfg.policy.samples)]
        mine = distributed.split_work(range(len(choices)))   # all of them with one process
        with torch.no_grad():  # BN in train mode (batch statistics), as the authors score samples
            scored = [self._score(stage, choices[i], xv, yv) for i in mine]
        if self.world == 1:
            accs = torch.stack([acc for acc, _ in scored]).tolist()   # the samples run back to back: one sync
            values_of = [values for _, values in scored]
        else:
            accs, values_of = self._gather_scores(scored, len(choices), spec.costs)
        rewards, cost_log = [], {c: 0.0 for c in spec.costs}
        for acc, values in zip(accs, values_of):
            rewards.append(spec.reward(acc, values, stage.index))
            for c in spec.costs:
                cost_log[c] += values[c] / len(choices)
        r = torch.tensor(rewards)
        p = self.cfg.policy
        b, stage.baseline = reinforce_step(policy, stage.a_opt, choices, r, stage.baseline, p.entropy, p.grad_clip,
                                           p.baseline_decay)
        self._log({"event": "alpha", "preference": stage.preference.name, "stage": stage.index, "epoch": e,
                   "step": step, "reward": float(r.mean()), "reward_max": float(r.max()), "baseline": b,
                   "accuracy": sum(accs) / len(accs), "costs": cost_log,
                   "entropy": policy.entropy().detach().item()})
        return float(r.mean())

    def _gather_scores(self, scored: list[tuple[torch.Tensor, dict[str, float]]], n: int,
                       names: tuple[str, ...] | list[str]) -> tuple[list[float], list[dict[str, float]]]:
        """Every rank's (accuracy, costs) of its share of the ``n`` samples, in sample order, on every rank: one
        float64 all-gather (exact for float32 accuracies and Python-float costs) and one host sync."""
        rows = [torch.cat([acc.double().reshape(1), torch.tensor([values[c] for c in names], dtype=torch.float64,
                                                                  device=acc.device)]) for acc, values in scored]
        local = torch.stack(rows) if rows else torch.zeros((0, 1 + len(names)), dtype=torch.float64,
                                                           device=self.device)
        table = distributed.gather_work(local, n).tolist()
        return [row[0] for row in table], [dict(zip(names, row[1:])) for row in table]

    def _score(self, stage: Stage, choice: dict[str, torch.Tensor], xv: torch.Tensor,
               yv: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """A sample's accuracy on one validation batch (a 0-d tensor on the compute device, read by the
        caller with the other samples'), and its costs as the deployed network."""
        acc = (self._forward(stage, xv, choice).argmax(1) == yv).float().mean()
        t0 = time.perf_counter()
        costs = self.costs(self.space.sample_record(stage.policy, choice))
        self.cost_seconds += time.perf_counter() - t0
        return acc, {c: costs[c].value for c in stage.preference.spec.costs}

    def _forward(self, stage: Stage, x: torch.Tensor, choice: dict[str, torch.Tensor]) -> torch.Tensor:
        """A sample's logits through the forward its weights were trained with: the sampled path, or the
        mixture with one-hot weights."""
        policy = stage.policy
        with self.amp.autocast():
            if self.cfg.weights.mode == "mixture":
                weights = {c: w.to(self.device) for c, w in one_hot_weights(policy, choice).items()}
                return stage.supernet(x, weights=weights)
            return stage.supernet(x, choice=policy.op_names(choice))

    # ---- the end of a preference -------------------------------------------------------------
    def _finished_entries(self, stage: Stage) -> list[dict[str, Any]]:
        """``_finish`` on rank 0, its entries sent to every rank (one process: simply computed)."""
        entries = self._finish(stage) if self.main else None
        return distributed.broadcast_object(entries) if self.world > 1 else entries

    def _finish(self, stage: Stage) -> list[dict[str, Any]]:
        """The members a finished stage schedule gives: here its preference's one."""
        return [self._finish_preference(stage)]

    def _test_rank_hash(self, stage: Stage) -> None:
        """Test hook (``tnd.distributed.write_rank_hash``): each rank's policy state and supernet parameters at
        the end of each preference (BN running statistics are per rank and left out)."""
        named = [(f"policy.{k}", v) for k, v in stage.policy.state_dict().items() if torch.is_tensor(v)]
        named += [(f"supernet.{k}", v) for k, v in stage.supernet.named_parameters()]
        distributed.write_rank_hash(stage.preference.name, named)

    def _finish_preference(self, stage: Stage) -> dict[str, Any]:
        """The member's architecture (derived from alpha, or the random baseline's best sample), its accuracy
        on the whole validation split, its costs, and those costs against the target and the policy."""
        policy, warnings = stage.policy, []
        if self.cfg.strategy == "random":
            arch, sampled = self._best_random_sample(stage)
            warnings.append(f"random baseline: best of {sampled} uniform samples by the reward")
        else:
            arch = self.space.derive(self.cfg, policy, warnings)
        entry = self._member_entry(stage, arch, stage.preference.to_dict(), warnings)
        entry["targets"] = self._against_targets(stage, {k: entry["objectives"][get_objective(k).field]
                                                         for k in stage.preference.spec.costs})
        self._log({"event": "derived", "preference": stage.preference.name, **entry})
        return entry

    def _member_entry(self, stage: Stage, arch: Any, preference: dict[str, Any],
                      warnings: list[str]) -> dict[str, Any]:
        """A derived member's result.json entry: its accuracy on the whole validation split through the
        supernet and its costs as the deployed network (with each figure's source)."""
        accuracy = self.evaluate(stage, arch)
        costs = self.costs(self.space.cost_record(arch))
        fields = {k: get_objective(k).field for k in costs}
        for w in warnings:
            self._log({"event": "warning", "preference": preference["name"], "message": w})
        return {
            "genotype": self.space.arch_to_dict(arch),
            "preference": preference,
            "objectives": {"accuracy": accuracy, **{fields[k]: v.value for k, v in costs.items()}},
            "sources": {"accuracy": "supernet-validation", **{fields[k]: v.source for k, v in costs.items()}},
            "warnings": warnings,
        }

    def _against_targets(self, stage: Stage, derived: dict[str, float], n: int = 64) -> dict[str, Any]:
        """Each rewarded cost of the derived network beside the last stage's target and the final policy's
        expected cost (mean and range over ``n`` samples): is what is deployed what was optimised?"""
        spec, policy = stage.preference.spec, stage.policy
        g = torch.Generator().manual_seed(seed_of(self.cfg.seed, len(self.cfg.stages), 0, 6))
        samples = [self.costs(self.space.sample_record(policy, policy.sample(g))) for _ in range(n)]
        out = {}
        for i, c in enumerate(spec.costs):
            values = [s[c].value for s in samples]
            out[c] = {"target": spec.targets[i][-1], "derived": derived[c], "policy_mean": sum(values) / n,
                      "policy_min": min(values), "policy_max": max(values)}
        return out

    def random_budget(self) -> int:
        """How many samples the policy scores over the whole search: the random baseline scores as many."""
        steps = self._steps_per_epoch()
        per_epoch = steps // self.cfg.policy.alpha_every * self.cfg.policy.samples
        return sum((st.epochs - st.warmup_epochs) * per_epoch for st in self.cfg.stages)

    def _best_random_sample(self, stage: Stage) -> tuple[Any, int]:
        """Random search with weight sharing: uniform samples scored on validation batches as the policy's
        are, the best under the member's reward kept."""
        spec, policy = stage.preference.spec, stage.policy
        g = torch.Generator().manual_seed(seed_of(self.cfg.seed, len(self.cfg.stages), 0, 7))
        val = self._val_batches(torch.Generator().manual_seed(seed_of(self.cfg.seed, len(self.cfg.stages), 0, 8)))
        best, best_reward, k = None, float("-inf"), self.random_budget()
        stage.supernet.train()
        with torch.no_grad():
            for _ in range(k):
                choice = policy.sample(g, uniform=True)
                xv, yv = next(val)
                acc, values = self._score(stage, choice, xv, yv)
                r = spec.reward(acc.item(), values, stage.index)
                if r > best_reward:
                    best, best_reward = choice, r
        assert best is not None
        return self.space.from_sample(self.cfg, policy, best), k

    def evaluate(self, stage: Stage, arch: Any) -> float:
        """Accuracy of the derived path on the whole validation split, with the shared weights, through the
        same forward the samples were scored with."""
        choice = choice_of(stage.policy, self.space.choice(arch))
        correct = 0
        stage.supernet.train()  # batch statistics: shared BN running stats belong to no single path
        with torch.no_grad():
            for x, y in self.data.val.batches(self.cfg.policy.val_batch_size):
                correct += int((self._forward(stage, x, choice).argmax(1) == y).sum())
        return correct / len(self.data.val)

    # ---- checkpoint and log ------------------------------------------------------------------
    def _log(self, record: dict[str, Any]) -> None:
        self._log_lines += 1    # rank 0's count goes into the checkpoints, as its lines into the log
        if not self.main:
            return
        with self.log_path.open("a") as f:
            f.write(json.dumps(record) + "\n")
        if self._tb is not None and record.get("event") in ("epoch", "alpha"):
            # Tags PREFERENCE/EVENT/FIELD. x axis: the preference's epoch counted across its stages (epoch
            # records), or its alpha update counted across stages (alpha records: epochs x alpha steps).
            epoch = sum(st.epochs for st in self.cfg.stages[: record["stage"]]) + record["epoch"]
            x = epoch if record["event"] == "epoch" else epoch * 10_000 + record["step"]
            fields = {k: v for k, v in record.items() if k not in ("event", "preference", "stage", "epoch", "step")}
            self._tb({"step": x, f"{record['preference']}/{record['event']}": fields})

    def _save_checkpoint(self, done: Position, stage: Stage | None, entries: list[dict[str, Any]],
                         partial: dict[str, Any] | None = None) -> None:
        """``done``: the stage's preference and index and how many of its epochs have run; ``partial``: how far
        the next epoch got (steps, validation batches drawn, the architecture stream's state). Rank 0 alone
        writes it (every rank holds the same policy, weights and optimiser states)."""
        if not self.main:
            return
        state: dict[str, Any] = {"format": CHECKPOINT_FORMAT, "config": json.dumps(self.cfg.to_dict()),
                                 "pref": done.pref, "stage": done.stage, "epoch": done.epoch,
                                 "log_lines": self._log_lines, "finished": json.dumps(entries)}
        if stage is not None:
            state.update(policy=stage.policy.state_dict(), supernet=stage.supernet.state_dict(),
                         w_opt=stage.w_opt.state_dict(), a_opt=stage.a_opt.state_dict(), baseline=stage.baseline,
                         scaler=stage.scaler.state_dict())
        if partial is not None:
            state["partial"] = partial   # plain floats and the stream's state: a weights-only load reads them
        atomic.torch_save(self.ckpt_path, state)

    def _restore(self) -> tuple[list[dict[str, Any]], Stage | None, list[Position]]:
        """The finished entries, the stage in progress (as saved) and the positions still to run."""
        state = load_state(self.ckpt_path, CHECKPOINT_FORMAT, "tnd search checkpoint")
        if json.loads(state["config"]) != json.loads(json.dumps(self.cfg.to_dict())):
            raise TndError(f"--resume: the settings differ from those {self.ckpt_path} was started with; "
                           "resume with the same config and flags, or use a new --out")
        if self.main:
            lines = self.log_path.read_text().splitlines(keepends=True) if self.log_path.exists() else []
            self.log_path.write_text("".join(lines[: state["log_lines"]]))
        self._log_lines = state["log_lines"]
        p, s, done = state["pref"], state["stage"], state["epoch"]
        stage = None
        if "policy" in state:
            policy = self._new_policy()
            policy.load_state_dict(state["policy"])
            stage = self._build_stage(policy, p, s)
            stage.supernet.load_state_dict(state["supernet"])
            stage.w_opt.load_state_dict(state["w_opt"])
            stage.a_opt.load_state_dict(state["a_opt"])
            if state.get("scaler"):
                stage.scaler.load_state_dict(state["scaler"])
            stage.baseline, stage.epochs_done = state["baseline"], done
        self._partial = state.get("partial")
        positions = self.positions()
        # Next: the stage's next epoch, else the next stage's first, else the preference's derivation.
        following = [i for i, pos in enumerate(positions)
                     if pos in (Position(p, s, done), Position(p, s + 1, 0), Position(p, s, None))]
        return json.loads(state["finished"]), stage, positions[following[0] if following else len(positions):]
