"""Issue 10's bugs, each pinned: shrink before reset, mixture scored through the mixture, keep counts per
cell type with no shrink before learning, derivation that never loses a finished search, and samples of
the form derivation outputs."""

import pytest
import torch

from tnd.costs import CostSuite, CountingCosts
from tnd.errors import TndError
from tnd.search.config import load_search_config
from tnd.search.derive import derive_genotype, node_edges
from tnd.search.policy import Policy
from tnd.search.progressive import ProgressiveSearch, one_hot_weights
from tnd.space.genotype import CANDIDATE_EDGES, N_NODES
from tnd.space.ops import PRIMITIVES

pytestmark = pytest.mark.usefixtures("single_thread")


def tiny(**over):
    cfg = {"dataset": "digits", "channels": 8, "network": {"channels": 8, "layers": 5},
           "stages": [{"cells": 2, "ops": 8, "epochs": 1, "warmup_epochs": 0},
                      {"cells": 3, "ops": {"normal": 5, "reduce": 3}, "epochs": 1, "warmup_epochs": 0}],
           "weights": {"lr": 0.1, "steps_per_epoch": 2}, "policy": {"samples": 2, "alpha_every": 1},
           "reward": {"objectives": ["acc", "params"], "targets": {"params": "20k"}}}
    for k, v in over.items():
        node, *rest = k.split(".")
        if rest:
            cfg[node] = {**cfg.get(node, {}), rest[0]: v}
        else:
            cfg[node] = v
    return load_search_config(None, cfg)


def make_search(cfg, digits, tmp_path):
    return ProgressiveSearch(cfg, cfg.resolve_preferences(), digits, CostSuite([CountingCosts(cfg.target_shape())]),
                             tmp_path, progress=False)


def learned(policy, seed=3):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in policy.alpha.values():
            p.copy_(torch.randn(p.shape, generator=g) * 3)
    return {c: policy.alpha[c].detach().clone() for c in policy.cells}


def top_k(alpha, k, ops):
    return [[ops[j] for j in sorted(row.topk(k).indices.tolist())] for row in alpha]


def test_shrink_uses_the_learned_alpha_and_only_then_resets(tmp_path, digits):
    cfg = tiny(**{"policy.reset_between_stages": True})
    search = make_search(cfg, digits, tmp_path)
    policy = search._new_policy()
    alpha = learned(policy)
    search._start_stage(policy, 0, 1)
    assert policy.alive_ops("normal") == top_k(alpha["normal"], 5, cfg.ops.normal)
    assert policy.alive_ops("reduce") == top_k(alpha["reduce"], 3, cfg.ops.reduce)
    assert all(float(policy.alpha[c].detach().abs().max()) < 0.1 for c in policy.cells)   # then reset


def test_keep_counts_per_cell_type_and_no_shrink_before_learning(tmp_path, digits):
    cfg = tiny()
    search = make_search(cfg, digits, tmp_path)
    policy = search._new_policy()
    search._start_stage(policy, 0, 0)
    assert all(len(ops) == 8 for c in policy.cells for ops in policy.alive_ops(c))   # stage 1: nothing dropped
    learned(policy)
    search._start_stage(policy, 0, 1)
    assert {len(ops) for ops in policy.alive_ops("normal")} == {5}
    assert {len(ops) for ops in policy.alive_ops("reduce")} == {3}
    with pytest.raises(TndError, match="nothing has been learned"):
        tiny(stages=[{"cells": 2, "ops": 5, "epochs": 1, "warmup_epochs": 0}])


def test_mixture_mode_scores_through_the_mixture_with_one_hot_weights(tmp_path, digits):
    cfg = tiny(**{"weights.mode": "mixture"})
    search = make_search(cfg, digits, tmp_path)
    stage = search._start_stage(search._new_policy(), 0, 0)
    x, y = digits.val.x[:64], digits.val.y[:64]
    stage.supernet.train()
    g = torch.Generator().manual_seed(0)
    for _ in range(3):
        choice = stage.policy.sample(g)
        with torch.no_grad():
            acc, _ = search._score(stage, choice, x, y)
            mixture = stage.supernet(x, weights=one_hot_weights(stage.policy, choice))
        assert acc == pytest.approx((mixture.argmax(1) == y).float().mean().item())


def test_derivation_relaxes_the_skip_cap_instead_of_crashing():
    ops = ["none", "skip_connect", "sep_conv_3x3"]
    alive = torch.zeros(len(CANDIDATE_EDGES), 3, dtype=torch.bool)
    alive[:, :2] = True                                   # only none and skip_connect left on every edge
    probs = {c: torch.full((len(CANDIDATE_EDGES), 3), 1 / 3) for c in ("normal", "reduce")}
    warnings = []
    g = derive_genotype(probs, {"normal": ops, "reduce": ops}, {"normal": alive, "reduce": alive.clone()},
                        max_skip=2, warnings=warnings)
    assert [op for op, _ in g.normal] == ["skip_connect"] * 2 * N_NODES
    assert warnings and "skip" in warnings[0]


def test_default_samples_have_the_derived_form():
    policy = Policy({"normal": list(PRIMITIVES), "reduce": list(PRIMITIVES)}, nodes=node_edges(), sampling="derived")
    learned(policy)
    g = torch.Generator().manual_seed(1)
    for _ in range(20):
        names = policy.op_names(policy.sample(g))
        for cell in policy.cells:
            for edges in node_edges():
                real = [k for k in edges if names[cell][k] != "none"]
                assert len(real) == 2   # two distinct inputs per node, each through a real op
