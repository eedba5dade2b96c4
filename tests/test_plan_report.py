"""The dry-run plan of the demo search: stages, op sets, rewards, extreme networks and step counts."""

import pytest

from tnd.costs.base import CostSuite
from tnd.costs.counting import CountingCosts
from tnd.data.datasets import load_dataset, search_split_sizes
from tnd.search.config import load_search_config
from tnd.search.plan_report import describe_plan, ops_kept, stage_steps
from tnd.search.run import build_costs
from tnd.space.genotype import N_NODES, Architecture, Genotype

pytestmark = pytest.mark.usefixtures("single_thread")


def uniform(op):
    concat = tuple(range(2, N_NODES + 2))
    cell = tuple((op, s) for _ in range(N_NODES) for s in (0, 1))
    return Genotype(cell, concat, cell, concat)


def test_demo_plan():
    cfg = load_search_config("configs/search/demo.yaml")
    prefs = cfg.resolve_preferences()
    costs = build_costs(cfg, prefs)
    text = describe_plan(cfg, prefs, costs)
    train = search_split_sizes("digits")[0]
    per_epoch = -(-train // cfg.weights.batch_size)
    for i, st in enumerate(cfg.stages):
        alpha = per_epoch // cfg.policy.alpha_every * (st.epochs - st.warmup_epochs)
        row = [r for r in text.splitlines() if r.split()[:2] == [str(i + 1), str(st.cells)]]
        assert row and row[0].split()[-3:] == [str(per_epoch * st.epochs), str(alpha), str(alpha * cfg.policy.samples)]
        assert f"{ops_kept(st, 'normal')}/{ops_kept(st, 'reduce')}" in row[0]
    for p in prefs:
        assert f"{p.name}: {p.spec.describe()}" in text
    assert "normal (8): none, max_pool_3x3" in text
    params = [line for line in text.splitlines() if line.strip().startswith("params")][0].split()
    smallest = costs(Architecture.from_genotype(uniform("max_pool_3x3")))["params"].value
    largest = costs(Architecture.from_genotype(uniform("sep_conv_5x5")))["params"].value
    assert params[1:3] == [f"{smallest * 1e-6:.3f}M", f"{largest * 1e-6:.3f}M"]
    assert "latency" in text and "(rewarded)" in text
    total = sum(stage_steps(cfg, st, train)["samples"] for st in cfg.stages)
    assert f"{total} scored samples per preference; x 3 preference(s)" in text
    assert "trains 10 epochs from scratch" in text


def test_plan_warns_of_members_that_run_the_same_search():
    cfg = load_search_config("configs/search/demo.yaml", {
        "reward.objectives": ["acc", "params"], "reward.form": "soft", "reward.targets.params": "60k",
        "preferences": [{"name": "small", "targets": {"params": "30k"}}, {"name": "large", "targets": {"params": "150k"}}]})
    prefs = cfg.resolve_preferences()
    text = describe_plan(cfg, prefs, CostSuite([CountingCosts(cfg.target_shape())]))
    assert "WARNING: preferences 'small' and 'large' would run the same search" in text


def test_split_sizes_match_the_loaded_data():
    d = load_dataset("digits")
    assert search_split_sizes("digits") == (len(d.train), len(d.val))
    assert search_split_sizes("cifar10") == (25000, 25000)
