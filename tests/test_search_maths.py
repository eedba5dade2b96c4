"""The pure maths of the search: policy gradient, shrinking, derivation, reward, Pareto."""

import math

import pytest
import torch

from tnd.costs.objectives import get_objective
from tnd.errors import TndError
from tnd.search.config import RewardConfig
from tnd.search.derive import derive_genotype
from tnd.search.pareto import dominates, hypervolume, pareto_front
from tnd.search.policy import (Policy, entropy, grad_log_prob, log_prob, masked_log_softmax, reinforce_loss,
                               sample_ops, shrink_alive, update_baseline)
from tnd.search.reward import RewardSpec, hard_reward, soft_reward, sum_reward
from tnd.space import PRIMITIVES
from tnd.space.genotype import CANDIDATE_EDGES, N_EDGES


def test_bandit_policy_gradient_finds_best_arm():
    """REINFORCE with an EMA baseline on a 6-armed bandit drives alpha to the best arm."""
    torch.manual_seed(0)
    means = torch.tensor([0.2, 0.5, 0.3, 0.9, 0.4, 0.1])
    alpha = torch.zeros(1, 6, requires_grad=True)
    alive = torch.ones(1, 6, dtype=torch.bool)
    opt = torch.optim.Adam([alpha], lr=0.05, betas=(0.5, 0.999))
    g = torch.Generator().manual_seed(1)
    baseline = None
    for _ in range(300):
        arms = [sample_ops(alpha, alive, g) for _ in range(8)]
        rewards = torch.stack([means[a[0]] + 0.1 * torch.randn(1, generator=g)[0] for a in arms])
        b = baseline if baseline is not None else float(rewards.mean())
        loss = reinforce_loss(torch.stack([log_prob(alpha, alive, a) for a in arms]), rewards, b)
        opt.zero_grad()
        loss.backward()
        opt.step()
        baseline = update_baseline(baseline, float(rewards.mean()), 0.95)
    probs = masked_log_softmax(alpha.detach(), alive).exp()[0]
    assert int(probs.argmax()) == 3
    assert probs[3] > 0.9


def test_closed_form_gradient_matches_autograd_and_ignores_dead_ops():
    alpha = torch.randn(N_EDGES, 8, requires_grad=True)
    alive = torch.rand(N_EDGES, 8) > 0.3
    alive[:, 0] = True
    choice = sample_ops(alpha, alive, torch.Generator().manual_seed(0))
    assert alive.gather(1, choice[:, None]).all(), "a dead op was sampled"
    log_prob(alpha, alive, choice).backward()
    assert torch.allclose(alpha.grad, grad_log_prob(alpha, alive, choice), atol=1e-6)
    assert (alpha.grad[~alive] == 0).all()


def test_entropy_is_maximal_for_uniform_and_drops_when_peaked():
    alive = torch.ones(2, 4, dtype=torch.bool)
    assert math.isclose(float(entropy(torch.zeros(2, 4), alive)), 2 * math.log(4), rel_tol=1e-6)
    assert float(entropy(torch.tensor([[10.0, 0, 0, 0]] * 2), alive)) < 0.01


def test_baseline_is_an_exponential_moving_average():
    b = update_baseline(None, 0.5, 0.95)
    assert b == 0.5
    assert math.isclose(update_baseline(b, 1.0, 0.95), 0.5 + 0.95 * 0.5)


def test_shrink_keeps_exactly_the_strongest_alive_ops():
    alpha = torch.tensor([[0.1, 0.9, 0.5, 0.3, 0.7], [5.0, 4.0, 3.0, 2.0, 1.0]])
    alive = torch.tensor([[True, True, True, True, True], [False, True, True, True, True]])
    new = shrink_alive(alpha, alive, 2)
    assert new.tolist() == [[False, True, False, False, True], [False, True, True, False, False]]
    # Shrinking never revives a dead op and keeps at most what was alive.
    assert not (new & ~alive).any()
    assert shrink_alive(alpha, new, 3).sum(1).tolist() == [2, 2]


def test_policy_shrink_reports_dropped_ops_and_keeps_survivor_alpha():
    pol = Policy({"normal": list(PRIMITIVES), "reduce": list(PRIMITIVES)})
    with torch.no_grad():
        pol.alpha["normal"].copy_(torch.arange(8.0).repeat(N_EDGES, 1))
    before = pol.alpha["normal"].detach().clone()
    dropped = pol.shrink(3)
    assert dropped["normal"][0] == list(PRIMITIVES[:5])
    assert pol.alive_ops("normal")[0] == list(PRIMITIVES[5:])
    assert torch.equal(pol.alpha["normal"].detach(), before)
    assert all(len(ops) == 3 for ops in pol.alive_ops("reduce"))


def _probs_favouring(op_scores: dict[str, float]) -> torch.Tensor:
    row = torch.tensor([op_scores.get(op, 0.0) for op in PRIMITIVES])
    return torch.softmax(row, 0).repeat(N_EDGES, 1)


def test_derivation_obeys_darts_rules():
    g_ = torch.Generator().manual_seed(3)
    probs = {c: torch.softmax(torch.randn(N_EDGES, 8, generator=g_) * 3, 1) for c in ("normal", "reduce")}
    alive = {c: torch.ones(N_EDGES, 8, dtype=torch.bool) for c in probs}
    ops = {c: list(PRIMITIVES) for c in probs}
    g = derive_genotype(probs, ops, alive, max_skip=2)
    for cell in ("normal", "reduce"):
        edges = g.edges(cell)
        assert len(edges) == 8
        for node in range(4):
            srcs = [e.src for e in edges if e.dst == node]
            assert len(srcs) == 2 and len(set(srcs)) == 2, "two distinct inputs per node"
        assert all(e.op != "none" for e in edges)
        # Each chosen edge carries its strongest non-none op, and the chosen edges beat the others.
        for node in range(4):
            cand = [(k, s) for k, (s, d) in enumerate(CANDIDATE_EDGES) if d == node]
            strength = {s: float(probs[cell][k, 1:].max()) for k, s in cand}
            chosen = {e.src for e in edges if e.dst == node}
            assert min(strength[s] for s in chosen) >= max(
                [strength[s] for s in strength if s not in chosen], default=-1)
            for e in edges:
                if e.dst == node:
                    k = CANDIDATE_EDGES.index((e.src, node))
                    assert PRIMITIVES[1 + int(probs[cell][k, 1:].argmax())] == e.op


def test_derivation_ignores_none_and_caps_skip_connections():
    probs = {"normal": _probs_favouring({"none": 9.0, "skip_connect": 5.0, "sep_conv_3x3": 1.0}),
             "reduce": _probs_favouring({"max_pool_3x3": 2.0})}
    alive = {c: torch.ones(N_EDGES, 8, dtype=torch.bool) for c in probs}
    ops = {c: list(PRIMITIVES) for c in probs}
    g = derive_genotype(probs, ops, alive, max_skip=2)
    normal_ops = [op for op, _ in g.normal]
    assert normal_ops.count("skip_connect") == 2
    assert "none" not in normal_ops
    assert normal_ops.count("sep_conv_3x3") == 6
    assert derive_genotype(probs, ops, alive, max_skip=0).normal.count(("skip_connect", 0)) == 0


def test_reward_forms():
    costs, targets = {"params": 2.0}, {"params": 1.0}
    assert math.isclose(soft_reward(0.9, costs, targets, {"params": -0.5}), 0.9 * 2 ** -0.5)
    assert hard_reward(0.9, {"params": 0.5}, targets, {"params": -1.0}) == 0.9
    assert math.isclose(hard_reward(0.9, costs, targets, {"params": -1.0}), 0.45)
    assert math.isclose(sum_reward(0.9, costs, targets, {"params": -0.1}), 0.7)


def test_reward_spec_parses_units_and_per_stage_targets():
    spec = RewardSpec.from_config(RewardConfig(["acc", "params", "latency"], targets={
        "params": ["6.4M", "5.4M", "4.4M"], "latency": "1.5ms"}, exponents={"params": [-0.45, -0.2, -0.25]}), 3)
    assert spec.targets[0] == (6.4e6, 5.4e6, 4.4e6)
    assert spec.targets[1] == (1.5, 1.5, 1.5)
    assert math.isclose(spec.reward(0.9, {"params": 12.8e6, "latency": 1.5}, 0), 0.9 * 2 ** -0.45)
    assert get_objective("energy").parse("2J") == 2000.0
    assert get_objective("latency").parse("300us") == pytest.approx(0.3)


@pytest.mark.parametrize("cfg, message", [
    (RewardConfig(["params"]), "must start with 'acc'"),
    (RewardConfig(["acc", "speed"], targets={"speed": 1}), "unknown"),
    (RewardConfig(["acc", "params"]), "needs a target"),
    (RewardConfig(["acc", "params"], targets={"params": "1.5Q"}), "cannot read params"),
    (RewardConfig(["acc", "params"], targets={"params": [1, 2]}), "one per stage"),
    (RewardConfig(["acc"], targets={"latency": "1ms"}), "not in the reward"),
])
def test_bad_reward_specs_are_clear_errors(cfg, message):
    with pytest.raises(TndError, match=message):
        RewardSpec.from_config(cfg, 3)


def test_pareto_front_has_no_dominated_point():
    g = torch.Generator().manual_seed(0)
    pts = torch.rand(40, 3, generator=g).tolist()
    front = pareto_front(pts)
    assert front
    for i in front:
        assert not any(dominates(pts[j], pts[i]) for j in range(len(pts)))
    for j in set(range(len(pts))) - set(front):
        assert any(dominates(pts[i], pts[j]) for i in front)


def test_hypervolume_matches_hand_computation():
    # Points (1,3), (2,2), (3,1) with reference (4,4): staircase area 3 + 2 + 1 = 6.
    assert hypervolume([[1, 3], [2, 2], [3, 1]], [4, 4]) == pytest.approx(6.0)
    # A dominated point adds nothing; a point outside the reference adds nothing.
    assert hypervolume([[1, 3], [2, 2], [3, 1], [3, 3], [5, 0]], [4, 4]) == pytest.approx(6.0)
    # 3-D: one point (1,1,1) against (2,3,4): box 1*2*3.
    assert hypervolume([[1, 1, 1]], [2, 3, 4]) == pytest.approx(6.0)
    # 3-D, two boxes overlapping: (0,0,1) & (0,1,0) against (1,2,2): 1*2*1 + 1*1*2 - 1*1*1 = 3.
    assert hypervolume([[0, 0, 1], [0, 1, 0]], [1, 2, 2]) == pytest.approx(3.0)
