"""TND-NAS progressive search: sample a path, train its weights, score samples, step alpha by REINFORCE.

For each preference (one point of a Pareto series) and each stage:
  start of stage  shrink every edge to its top-k ops by alpha, build a deeper supernet (fresh weights)
  every step      sample an architecture from alpha, train its weights on a training batch
  after warm-up   every k steps: sample M architectures, reward = f(accuracy on a validation batch, costs),
                  ascend (R - b) * grad log pi(a) with Adam, move the baseline b
  end of search   derive a DARTS genotype, score it, record its costs
Randomness is re-seeded from (seed, preference, stage, epoch), so a run resumed from an epoch-boundary
checkpoint is bit-identical to one that was never interrupted.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator

import torch
from torch import nn
from tqdm.auto import tqdm

from tnd import atomic
from tnd.costs.base import CostSuite
from tnd.errors import TndError
from tnd.search.config import PreferenceConfig, SearchConfig, StageConfig
from tnd.search.derive import derive_genotype
from tnd.search.policy import Policy, reinforce_loss, update_baseline
from tnd.search.reward import RewardSpec
from tnd.search.supernet import Supernet
from tnd.space.genotype import CANDIDATE_EDGES, CELL_TYPES, Architecture, Genotype

CHECKPOINT_FORMAT = "tnd-search-checkpoint/1"
COST_FIELDS = {"params": "params", "flops": "flops", "latency": "latency_ms", "energy": "energy_mj"}


def seed_of(*parts: int) -> int:
    """A distinct, stable seed for each (seed, preference, stage, epoch, stream) position."""
    s = 0
    for p in parts:
        s = (s * 1_000_003 + int(p) + 1) % (2**62)
    return s


def cosine_lr(base: float, minimum: float, step: int, total: int) -> float:
    return minimum + 0.5 * (base - minimum) * (1 + math.cos(math.pi * min(step, total) / max(total, 1)))


def genotype_choice(g: Genotype) -> dict[str, list[str]]:
    """The derived genotype as a supernet path: its ops on its edges, `none` elsewhere."""
    out = {}
    for cell in CELL_TYPES:
        chosen = {(e.src, e.dst): e.op for e in g.edges(cell)}
        out[cell] = [chosen.get(edge, "none") for edge in CANDIDATE_EDGES]
    return out


@dataclass
class Preference:
    name: str
    spec: RewardSpec

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, **self.spec.to_dict()}


def preferences_of(cfg: SearchConfig) -> list[Preference]:
    n = len(cfg.stages)
    if not cfg.preferences:
        return [Preference("default", RewardSpec.from_config(cfg.reward, n))]
    return [Preference(p.name, RewardSpec.from_config(
        replace(cfg.reward, targets={**cfg.reward.targets, **p.targets},
                exponents={**cfg.reward.exponents, **p.exponents}), n)) for p in cfg.preferences]


@dataclass
class _StageRun:
    """What lives for one stage of one preference."""

    supernet: Supernet
    w_opt: torch.optim.SGD
    a_opt: torch.optim.Adam
    baseline: float | None = None


@dataclass
class SearchOutcome:
    entries: list[dict[str, Any]] = field(default_factory=list)  # one per preference, result.json's genotypes


class ProgressiveSearch:
    def __init__(self, cfg: SearchConfig, data, costs: CostSuite, out_dir: str | Path,
                 resume: bool = False, progress: bool = True):
        self.cfg, self.data, self.costs = cfg, data, costs
        self.out = Path(out_dir)
        self.resume, self.progress = resume, progress
        self.prefs = preferences_of(cfg)
        costs.require([c for p in self.prefs for c in p.spec.costs])
        self.ckpt_path = self.out / "checkpoint.pt"
        self.log_path = self.out / "log.jsonl"
        self._log_lines = 0
        self.cost_seconds = 0.0  # time spent in the cost model (benchmarks report its share)

    # ---- public ------------------------------------------------------------------------------
    def run(self, stop_after_epochs: int | None = None) -> SearchOutcome | None:
        """Run (or continue) the search. Returns None if stopped early by ``stop_after_epochs``."""
        self.out.mkdir(parents=True, exist_ok=True)
        state = self._load_checkpoint() if self.resume else None
        if not self.resume:
            self.log_path.write_text("")
        outcome = SearchOutcome(list(state["finished"]) if state else [])
        start = (state["pref"], state["stage"], state["epoch"]) if state else (0, 0, 0)
        epochs_run = 0
        total = sum(st.epochs for st in self.cfg.stages) * len(self.prefs)
        done = sum(st.epochs for st in self.cfg.stages) * start[0] + sum(
            st.epochs for st in self.cfg.stages[: start[1]]) + start[2]
        bar = tqdm(total=total, initial=done, unit="epoch", disable=not self.progress, dynamic_ncols=True)
        try:
            for p in range(start[0], len(self.prefs)):
                policy = Policy(self.cfg.op_sets(), generator=torch.Generator().manual_seed(
                    seed_of(self.cfg.seed, p, 0, 0, 1)))
                resuming_here = state is not None and p == start[0] and (start[1], start[2]) != (0, 0)
                if resuming_here:
                    policy.load_state_dict(state["policy"])
                run = None
                for s, stage in enumerate(self.cfg.stages):
                    if resuming_here and s < start[1]:
                        continue
                    if resuming_here and s == start[1]:
                        run = self._build_stage(policy, p, s, stage, fresh=False)
                        run.supernet.load_state_dict(state["supernet"])
                        run.w_opt.load_state_dict(state["w_opt"])
                        run.a_opt.load_state_dict(state["a_opt"])
                        run.baseline = state["baseline"]
                        first_epoch = start[2]
                    else:
                        run = self._build_stage(policy, p, s, stage, fresh=True)
                        first_epoch = 0
                    for e in range(first_epoch, stage.epochs):
                        bar.set_description(f"{self.prefs[p].name} stage {s + 1}/{len(self.cfg.stages)}")
                        stats = self._run_epoch(policy, run, p, s, e, stage)
                        bar.set_postfix(stats)
                        bar.update(1)
                        self._save_checkpoint(p, s, e + 1, policy, run, outcome)
                        epochs_run += 1
                        if stop_after_epochs is not None and epochs_run >= stop_after_epochs:
                            return None
                assert run is not None
                outcome.entries.append(self._finish_preference(policy, run, p))
                self._save_checkpoint(p + 1, 0, 0, None, None, outcome)
        finally:
            bar.close()
        return outcome

    # ---- stages and epochs -------------------------------------------------------------------
    def _build_stage(self, policy: Policy, p: int, s: int, stage: StageConfig, fresh: bool) -> _StageRun:
        cfg = self.cfg
        if fresh:
            if s > 0 and cfg.policy.reset_between_stages:
                policy.reset_alpha(generator=torch.Generator().manual_seed(seed_of(cfg.seed, p, s, 0, 1)))
            dropped = policy.shrink(stage.ops)
            n_dropped = sum(len(d) for cell in dropped.values() for d in cell)
            self._log({"event": "stage", "preference": self.prefs[p].name, "stage": s, "cells": stage.cells,
                       "ops_per_edge": stage.ops, "dropped": n_dropped,
                       "alive": {c: policy.alive_ops(c) for c in CELL_TYPES}})
        torch.manual_seed(seed_of(cfg.seed, p, s, 0, 2))
        alive = {c: policy.alive_ops(c) for c in CELL_TYPES}
        supernet = Supernet(cfg.op_sets(), alive, cfg.supernet_shape(stage), cfg.weights.mode)
        w = cfg.weights
        w_opt = torch.optim.SGD(supernet.parameters(), lr=w.lr, momentum=w.momentum, weight_decay=w.weight_decay)
        a = cfg.policy
        a_opt = torch.optim.Adam(policy.parameters(), lr=a.lr, betas=tuple(a.betas), weight_decay=a.weight_decay)
        return _StageRun(supernet, w_opt, a_opt)

    def _steps_per_epoch(self) -> int:
        n = math.ceil(len(self.data.train) / self.cfg.weights.batch_size)
        cap = self.cfg.weights.steps_per_epoch
        return min(n, cap) if cap else n

    def _val_batches(self, gen: torch.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        while True:
            yield from self.data.val.batches(self.cfg.policy.val_batch_size, shuffle=True, generator=gen)

    def _run_epoch(self, policy: Policy, run: _StageRun, p: int, s: int, e: int, stage: StageConfig) -> dict:
        cfg = self.cfg
        seed = cfg.seed
        g_data = torch.Generator().manual_seed(seed_of(seed, p, s, e, 3))
        g_arch = torch.Generator().manual_seed(seed_of(seed, p, s, e, 4))
        val = self._val_batches(torch.Generator().manual_seed(seed_of(seed, p, s, e, 5)))
        steps = self._steps_per_epoch()
        total_steps = steps * stage.epochs
        learn_alpha = e >= stage.warmup_epochs
        run.supernet.train()
        losses, rewards = [], []
        batches = self.data.train.batches(cfg.weights.batch_size, shuffle=True, generator=g_data, augment=True)
        for step, (x, y) in zip(range(steps), batches):
            lr = cosine_lr(cfg.weights.lr, cfg.weights.lr_min, e * steps + step, total_steps)
            for group in run.w_opt.param_groups:
                group["lr"] = lr
            losses.append(self._weight_step(policy, run, x, y, g_arch))
            if learn_alpha and (step + 1) % cfg.policy.alpha_every == 0:
                xv, yv = next(val)
                rewards.append(self._alpha_step(policy, run, xv, yv, g_arch, p, s, e, step))
        with torch.no_grad():
            stats = {"loss": round(sum(losses) / len(losses), 4), "entropy": round(policy.entropy().item(), 3)}
        if rewards:
            stats["reward"] = round(sum(rewards) / len(rewards), 4)
        self._log({"event": "epoch", "preference": self.prefs[p].name, "stage": s, "epoch": e,
                   "alpha_learning": learn_alpha, "lr": lr, **stats})
        return stats

    def _weight_step(self, policy: Policy, run: _StageRun, x: torch.Tensor, y: torch.Tensor,
                     g_arch: torch.Generator) -> float:
        if self.cfg.weights.mode == "sampled":
            logits = run.supernet(x, choice=policy.op_names(policy.sample(g_arch)))
        else:
            logits = run.supernet(x, weights={c: policy.probs(c) for c in CELL_TYPES})
        loss = nn.functional.cross_entropy(logits, y)
        run.w_opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(run.supernet.parameters(), self.cfg.weights.grad_clip)
        run.w_opt.step()
        return loss.item()

    def _alpha_step(self, policy: Policy, run: _StageRun, xv: torch.Tensor, yv: torch.Tensor,
                    g_arch: torch.Generator, p: int, s: int, e: int, step: int) -> float:
        spec = self.prefs[p].spec
        choices = [policy.sample(g_arch) for _ in range(self.cfg.policy.samples)]
        rewards, accs, cost_log = [], [], {c: 0.0 for c in spec.costs}
        with torch.no_grad():  # BN in train mode (batch statistics), as the authors score samples
            for choice in choices:
                acc = (run.supernet(xv, choice=policy.op_names(choice)).argmax(1) == yv).float().mean().item()
                t0 = time.perf_counter()
                costs = self.costs(policy.architecture(choice))
                self.cost_seconds += time.perf_counter() - t0
                values = {c: costs[c].value for c in spec.costs}
                rewards.append(spec.reward(acc, values, s))
                accs.append(acc)
                for c in spec.costs:
                    cost_log[c] += values[c] / len(choices)
        r = torch.tensor(rewards)
        b = run.baseline if run.baseline is not None else float(r.mean())
        log_probs = torch.stack([policy.log_prob(c) for c in choices])
        loss = reinforce_loss(log_probs, r, b)
        if self.cfg.policy.entropy > 0:
            loss = loss - self.cfg.policy.entropy * policy.entropy()
        run.a_opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(policy.parameters(), self.cfg.policy.grad_clip)
        run.a_opt.step()
        run.baseline = update_baseline(run.baseline, float(r.mean()), self.cfg.policy.baseline_decay)
        self._log({"event": "alpha", "preference": self.prefs[p].name, "stage": s, "epoch": e, "step": step,
                   "reward": float(r.mean()), "reward_max": float(r.max()), "baseline": b,
                   "accuracy": sum(accs) / len(accs), "costs": cost_log,
                   "entropy": policy.entropy().detach().item()})
        return float(r.mean())

    # ---- the end of a preference -------------------------------------------------------------
    def _finish_preference(self, policy: Policy, run: _StageRun, p: int) -> dict[str, Any]:
        genotype = derive_genotype({c: policy.probs(c) for c in CELL_TYPES}, self.cfg.op_sets(),
                                   {c: policy.alive(c) for c in CELL_TYPES}, self.cfg.derive.max_skip)
        accuracy = self.evaluate(run.supernet, genotype)
        costs = self.costs(Architecture.from_genotype(genotype))
        entry = {
            "genotype": genotype.to_dict(),
            "preference": self.prefs[p].to_dict(),
            "objectives": {"accuracy": accuracy, **{COST_FIELDS[k]: v.value for k, v in costs.items()}},
            "sources": {"accuracy": "supernet-validation",
                        **{COST_FIELDS[k]: v.source for k, v in costs.items()}},
        }
        self._log({"event": "derived", "preference": self.prefs[p].name, **entry})
        return entry

    def evaluate(self, supernet: Supernet, genotype: Genotype) -> float:
        """Accuracy of the derived path on the whole validation split, with the shared weights."""
        choice = genotype_choice(genotype)
        correct = 0
        supernet.train()  # batch statistics: shared BN running stats belong to no single path
        with torch.no_grad():
            for x, y in self.data.val.batches(self.cfg.policy.val_batch_size):
                correct += int((supernet(x, choice=choice).argmax(1) == y).sum())
        return correct / len(self.data.val)

    # ---- checkpoint and log ------------------------------------------------------------------
    def _log(self, record: dict[str, Any]) -> None:
        with self.log_path.open("a") as f:
            f.write(json.dumps(record) + "\n")
        self._log_lines += 1

    def _save_checkpoint(self, p: int, s: int, e: int, policy: Policy | None, run: _StageRun | None,
                         outcome: SearchOutcome) -> None:
        state: dict[str, Any] = {"format": CHECKPOINT_FORMAT, "config": json.dumps(self.cfg.to_dict()),
                                 "pref": p, "stage": s, "epoch": e, "log_lines": self._log_lines,
                                 "finished": json.dumps(outcome.entries)}
        if policy is not None and run is not None:
            state.update(policy=policy.state_dict(), supernet=run.supernet.state_dict(),
                         w_opt=run.w_opt.state_dict(), a_opt=run.a_opt.state_dict(), baseline=run.baseline)
        atomic.torch_save(self.ckpt_path, state)

    def _load_checkpoint(self) -> dict[str, Any] | None:
        if not self.ckpt_path.is_file():
            raise TndError(f"--resume: no checkpoint at {self.ckpt_path}; start without --resume")
        try:
            state = torch.load(self.ckpt_path, weights_only=True)
        except Exception as e:  # truncated, not a torch file, foreign pickle
            raise TndError(f"--resume: {self.ckpt_path} is not a readable checkpoint ({type(e).__name__}); "
                           "delete it and start again") from None
        if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
            raise TndError(f"--resume: {self.ckpt_path} is not a tnd search checkpoint")
        if json.loads(state["config"]) != json.loads(json.dumps(self.cfg.to_dict())):
            raise TndError(f"--resume: the settings differ from those {self.ckpt_path} was started with; "
                           "resume with the same config and flags, or use a new --out")
        lines = self.log_path.read_text().splitlines(keepends=True) if self.log_path.exists() else []
        self.log_path.write_text("".join(lines[: state["log_lines"]]))
        self._log_lines = state["log_lines"]
        state["finished"] = json.loads(state["finished"])
        return state
