"""TND-NAS on a tabular benchmark (issue 11): a synthetic NB201 sub-space table with known optima."""

from __future__ import annotations

import csv
import itertools
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from tnd.data.tabular import TabularBenchmark
from tnd.errors import TndError
from tnd.result_file import load_result
from tnd.search.config import PreferenceConfig, RewardConfig
from tnd.search.policy import Policy, reinforce_step
from tnd.search.reward import soft_reward
from tnd.search.spaces import derive_nb201
from tnd.search.tabular import (CELL, TabularPolicy, TabularSearchConfig, _relative_target, _Series, gap_target,
                                new_policy, run_tabular_search, tabular_search)
from tnd.space.nb201 import NB201_OPS, NB201Arch

# 2 x 5 x 5 = 50 cells: edge 0 is a 3x3 conv or a skip, edges 1 and 2 take any op, edges 3-5 are fixed.
EDGE_OPS = [["skip_connect", "nor_conv_3x3"], list(NB201_OPS), list(NB201_OPS),
            ["skip_connect"], ["nor_conv_1x1"], ["skip_connect"]]
ACC_GAIN = {"none": 0.0, "skip_connect": 6.0, "nor_conv_1x1": 8.0, "nor_conv_3x3": 12.0, "avg_pool_3x3": 3.0}
LATENCY = {"none": 0.0, "skip_connect": 0.1, "nor_conv_1x1": 1.5, "nor_conv_3x3": 3.0, "avg_pool_3x3": 0.8}


def accuracy(a: NB201Arch) -> float:
    """In %: conv-heavy cells are accurate; edge 2 counts double so the optimum is unique."""
    return 40.0 + sum(ACC_GAIN[op] * (2 if e == 2 else 1) for e, op in enumerate(a.ops[:3]))


def latency(a: NB201Arch) -> float:
    return 1.0 + sum(LATENCY[op] for op in a.ops)


CELLS = [NB201Arch(ops) for ops in itertools.product(*EDGE_OPS)]


@pytest.fixture
def table(tmp_path):
    path = tmp_path / "bench.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["arch", "val_acc", "lat_ms", "params"])
        for a in CELLS:
            w.writerow([str(a), accuracy(a), latency(a), 1000 + 10 * a.ops.count("nor_conv_3x3")])
    assert len(CELLS) == 50
    return path


def load(table) -> TabularBenchmark:
    return TabularBenchmark.load(table, "val_acc", {"latency": "lat_ms"}, NB201Arch.parse)


def config(**kw) -> TabularSearchConfig:
    return TabularSearchConfig(**{"costs": {"latency": "lat_ms"}, **kw})


SERIES = dict(reward=RewardConfig(objectives=["acc", "latency"], form="soft", targets={"latency": 1.0}),
              preferences=[PreferenceConfig("accurate", exponents={"latency": 0.0}),
                           PreferenceConfig("fast", exponents={"latency": -2.0})])


def test_accuracy_only_search_finds_the_best_cell_and_writes_a_result(table, tmp_path):
    best = max(CELLS, key=accuracy)
    assert sorted(map(accuracy, CELLS))[-2] < accuracy(best)  # a unique optimum
    out = tmp_path / "run"
    result = run_tabular_search(table, "val_acc", {"latency": "lat_ms"}, out, budget=40, seed=0, echo=lambda s: None)
    (entry,) = result["genotypes"]
    assert NB201Arch.from_dict(entry["genotype"]) == best
    assert entry["objectives"] == {"accuracy": pytest.approx(accuracy(best) / 100),
                                   "latency_ms": pytest.approx(latency(best))}
    assert entry["sources"] == {"accuracy": "tabular", "latency_ms": "tabular"}
    assert load_result(out / "result.json") == json.loads(json.dumps(result))
    assert result["hypervolume"]["objectives"] == ["error", "latency_ms"]  # accuracy-only reward: the table's cost
    assert (out / "pareto.png").stat().st_size > 0 and (out / "config.yaml").is_file()
    queried = list(csv.DictReader((out / "queried.csv").open()))
    assert 0 < len(queried) <= 40 and len({q["arch"] for q in queried}) == len(queried)
    assert str(best) in {q["arch"] for q in queried}
    # the front of everything read, marked in queried.csv, is non-dominated among what was read
    front = [q for q in queried if q["pareto"] == "1"]
    for q in front:
        assert not any(float(o["accuracy"]) >= float(q["accuracy"]) and float(o["latency_ms"]) <= float(q["latency_ms"])
                       and (float(o["accuracy"]), float(o["latency_ms"])) != (float(q["accuracy"]), float(q["latency_ms"]))
                       for o in queried)
    events = [json.loads(line)["event"] for line in (out / "log.jsonl").read_text().splitlines()]
    assert events.count("stage") == 3 and events.count("derived") == 1 and "alpha" in events


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_latency_heavy_preference_finds_a_fast_cell_near_its_optimum(table, seed):
    def reward(a):
        return soft_reward(accuracy(a) / 100, {"latency": latency(a)}, {"latency": 1.0}, {"latency": -2.0})

    ranked = sorted(CELLS, key=reward)
    outcome = tabular_search(load(table), config(budget=48, seed=seed, **SERIES))
    accurate, fast = (NB201Arch.from_dict(e["genotype"]) for e in outcome.entries)
    assert accurate == max(CELLS, key=accuracy)
    # the fast member ends among the 3 best cells for its reward (the best one, by about 3%, on seeds 0 and 2)
    assert fast in ranked[-3:] and reward(fast) > 0.95 * reward(ranked[-1]) > reward(ranked[-4])
    assert latency(fast) < 0.5 * latency(accurate) and latency(fast) <= sorted(map(latency, CELLS))[5]


@pytest.mark.parametrize("budget,probe", [(2, 0), (3, 1), (7, 0), (20, 5), (45, 10)])
def test_the_budget_counts_distinct_rows_read_and_is_never_exceeded(table, budget, probe):
    bench = load(table)
    outcome = tabular_search(bench, config(budget=budget, seed=3, probe=probe, **SERIES))
    assert bench.queries <= budget
    assert len(outcome.queried) == len(set(outcome.queried)) == bench.queries == len(outcome.queried_by)
    assert outcome.queried_by[:probe] == ["probe"] * probe
    derived = [NB201Arch.from_dict(e["genotype"]) for e in outcome.entries]
    assert len(derived) == 2 and set(derived) <= set(outcome.queried)


def test_same_seed_same_result_and_seeds_matter(table):
    def run(seed):
        o = tabular_search(load(table), config(budget=30, seed=seed, probe=4, **SERIES))
        return [e["genotype"] for e in o.entries], [str(a) for a in o.queried], o.log

    assert run(5) == run(5)
    assert run(5)[1] != run(6)[1]


def test_chained_preferences_start_from_the_previous_alpha(table):
    # Two identical accuracy-only members: chained, the second starts from the first's settled policy, re-reads
    # its rows (free) and settles at once; unchained, it starts from uniform and spends its share exploring
    # (no warm start here: it would start the unchained one at the first's best cell too, the next test).
    twins = [PreferenceConfig("first"), PreferenceConfig("second")]

    def second_member_new_rows(chain, warm_start=0.0):
        o = tabular_search(load(table), config(budget=50, seed=0, chain=chain, preferences=twins,
                                               policy=TabularPolicy(warm_start=warm_start)))
        assert [e["genotype"]["arch"] for e in o.entries] == [str(max(CELLS, key=accuracy))] * 2
        return o.queried_by.count("second")

    chained, unchained = second_member_new_rows(True), second_member_new_rows(False)
    assert chained <= unchained / 2, (chained, unchained)
    # warm start: unchained, the second member starts at the best cell read so far and explores less
    assert second_member_new_rows(False, 4.0) <= unchained / 2


def test_each_preference_starts_at_the_best_cell_read_under_its_own_reward(table):
    # a probe, then a fast member: it starts with the fastest probe cell's ops favoured by warm_start
    reward = RewardConfig(objectives=["acc", "latency"], form="hard", exponents={"latency": -3.0})
    cfg = config(budget=30, seed=0, probe=10, reward=reward, preferences=[PreferenceConfig("fast", targets={
        "latency": "r0"})], policy=TabularPolicy(warm_start=3.0, samples=2))
    outcome = tabular_search(load(table), cfg)
    probe = outcome.queried[:10]
    fastest = min(latency(a) for a in probe)
    best = max((a for a in probe if latency(a) <= fastest), key=accuracy)   # hard form: acc up to the target
    (event,) = [r for r in outcome.log if r["event"] == "warm_start"]
    assert event["arch"] == str(best) and event["queries"] == 10
    # the policy it starts from: its alpha plus 3 on the best cell's op of every edge, so it derives that cell
    series = _Series(load(table), cfg)
    for a in probe:
        series.read(a, "probe")
    policy = new_policy(series.space, torch.Generator().manual_seed(0))
    before = policy.alpha[CELL].detach().clone()
    series._warm_start(cfg.resolve(cfg.preferences[0], series.seen, series.seen_accuracy), policy)
    added = torch.zeros_like(before)
    for e, op in enumerate(best.ops):
        added[e, NB201_OPS.index(op)] = 3.0
    assert torch.allclose(policy.alpha[CELL].detach() - before, added) and derive_nb201(policy) == best
    # nothing read yet (no probe): the first member starts as before
    none = tabular_search(load(table), config(budget=30, seed=0, policy=TabularPolicy(warm_start=3.0)))
    assert not [r for r in none.log if r["event"] == "warm_start"]
    # off, or refused when negative
    off = tabular_search(load(table), replace(cfg, policy=TabularPolicy(warm_start=0.0)))
    assert not [r for r in off.log if r["event"] == "warm_start"]
    with pytest.raises(TndError, match="warm_start >= 0"):
        replace(cfg, policy=TabularPolicy(warm_start=-1.0))


def test_relative_targets_follow_the_rows_read(table):
    assert _relative_target("latency", "r25", [2.0, 4.0, 10.0]) == pytest.approx(4.0)
    assert _relative_target("latency", "r0", [2.0, 4.0, 10.0]) == pytest.approx(2.0)
    assert _relative_target("latency", ["r100", "3ms"], [2.0, 10.0]) == [pytest.approx(10.0), "3ms"]
    cfg = config(budget=30, seed=0, probe=6, reward=RewardConfig(objectives=["acc", "latency"], form="hard",
                                                                  exponents={"latency": -3.0}),
                 preferences=[PreferenceConfig("fast", targets={"latency": "r0"})])
    outcome = tabular_search(load(table), cfg)
    probe_latencies = [latency(a) for a in outcome.queried[:6]]
    assert outcome.prefs[0].spec.targets == ((min(probe_latencies),) * 3,)
    with pytest.raises(TndError, match="add --probe"):
        tabular_search(load(table), config(budget=30, reward=cfg.reward, preferences=cfg.preferences))


def test_gap_target_is_the_middle_of_the_largest_gap_of_the_front_read():
    # front by latency: (1 ms, 50%), (2 ms, 60%), (10 ms, 70%); (5 ms, 55%) and (12 ms, 65%) are dominated
    lat, acc = [1.0, 2.0, 5.0, 10.0, 12.0], [50.0, 60.0, 55.0, 70.0, 65.0]
    # gaps: (2 - 1) x (60 - 50) = 10 and (10 - 2) x (70 - 60) = 80: the second, whose middle is 6 ms
    assert gap_target(lat, acc) == pytest.approx(6.0)
    # the order of the rows and a repeated front point do not matter
    assert gap_target(lat[::-1] + [2.0], acc[::-1] + [60.0]) == pytest.approx(6.0)
    # a cell inside that gap splits it: now (2, 60)-(4, 68) is 2 x 8 = 16, (4, 68)-(10, 70) is 6 x 2 = 12
    assert gap_target(lat + [4.0], acc + [68.0]) == pytest.approx(3.0)
    # scaling either objective (the hypervolume's normalisation) changes no choice
    assert gap_target([1000 * x for x in lat], [a / 100 for a in acc]) == pytest.approx(6000.0)
    # equal areas: the cheapest gap
    assert gap_target([1.0, 2.0, 3.0], [10.0, 20.0, 30.0]) == pytest.approx(1.5)
    # one front point (it dominates every other row): the middle of the range read, as r50
    assert gap_target([1.0, 3.0, 5.0], [90.0, 80.0, 70.0]) == pytest.approx(3.0)
    assert gap_target([2.0], [50.0]) == pytest.approx(2.0)
    with pytest.raises(ValueError):
        gap_target([1.0, 2.0], [50.0])


def test_gap_targets_resolve_against_the_rows_read(table):
    lat, acc = [1.0, 2.0, 5.0, 10.0, 12.0], [50.0, 60.0, 55.0, 70.0, 65.0]
    assert _relative_target("latency", "gap", lat, acc) == pytest.approx(6.0)
    assert _relative_target("latency", " gap ", lat, acc) == pytest.approx(6.0)
    assert _relative_target("latency", ["r0", "gap", "3ms"], lat, acc) == [pytest.approx(1.0), pytest.approx(6.0),
                                                                            "3ms"]
    assert _relative_target("latency", "gap", None) == 1.0       # validation: a placeholder
    with pytest.raises(TndError, match="needs the accuracy of every row read"):
        _relative_target("latency", "gap", lat, acc[:2])
    # in a search: the member's target is the gap of what was read before it started (here the probe)
    cfg = config(budget=30, seed=0, probe=8, reward=RewardConfig(objectives=["acc", "latency"], form="hard",
                                                                  exponents={"latency": -3.0}),
                 preferences=[PreferenceConfig("gap", targets={"latency": "gap"})])
    outcome = tabular_search(load(table), cfg)
    probe = outcome.queried[:8]
    expected = gap_target([latency(a) for a in probe], [accuracy(a) for a in probe])
    assert outcome.prefs[0].spec.targets == ((pytest.approx(expected),) * 3,)
    # a second gap member reads the front as it stands after the first one
    two = replace(cfg, preferences=[PreferenceConfig("g1", targets={"latency": "gap"}),
                                    PreferenceConfig("g2", targets={"latency": "gap"})])
    outcome = tabular_search(load(table), two)
    before = [i for i, by in enumerate(outcome.queried_by) if by in ("probe", "g1")]
    read = [outcome.queried[i] for i in before]
    assert outcome.prefs[1].spec.targets[0][0] == pytest.approx(gap_target([latency(a) for a in read],
                                                                            [accuracy(a) for a in read]))
    # misuse: nothing read yet when a gap member starts, or a gap target outside a tabular search
    with pytest.raises(TndError, match="add --probe"):
        tabular_search(load(table), config(budget=30, reward=cfg.reward, preferences=cfg.preferences))
    from tnd.search.reward import RewardSpec
    with pytest.raises(TndError, match="only a tabular search"):
        RewardSpec.from_config(RewardConfig(objectives=["acc", "latency"], form="hard", targets={"latency": "gap"}), 3)


def test_bad_settings_and_tables_are_one_line_errors(table, tmp_path):
    with pytest.raises(TndError, match="no column 'latency_us'"):
        run_tabular_search(table, "val_acc", {"latency": "latency_us"}, tmp_path / "a", echo=lambda s: None)
    with pytest.raises(TndError, match="unknown objective 'speed'"):
        config(costs={"speed": "lat_ms"})
    with pytest.raises(TndError, match="add --cost energy=COLUMN"):
        config(reward=RewardConfig(objectives=["acc", "energy"], targets={"energy": "1mJ"}))
    with pytest.raises(TndError, match="at least the number of preferences"):
        config(budget=1, **SERIES)
    with pytest.raises(TndError, match="between r0 and r100"):
        config(reward=RewardConfig(objectives=["acc", "latency"], targets={"latency": "r150"}))
    # a table that lacks one combination of the ops it uses
    holed = tmp_path / "holed.csv"
    lines = table.read_text().splitlines()
    holed.write_text("\n".join(lines[:10] + lines[11:]) + "\n")
    with pytest.raises(TndError, match="no row for .*every combination"):
        tabular_search(load(holed), config(budget=10))
    bad = tmp_path / "bad.csv"
    bad.write_text(lines[0] + "\n" + lines[1].rsplit(",", 3)[0] + ",fast,2.0,1000\n")
    with pytest.raises(TndError, match="'fast' is not a finite number"):
        run_tabular_search(bad, "val_acc", {"latency": "lat_ms"}, tmp_path / "b", echo=lambda s: None)
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "result.json").write_text("{}")
    with pytest.raises(TndError, match="already holds"):
        run_tabular_search(table, "val_acc", {"latency": "lat_ms"}, tmp_path / "c", echo=lambda s: None)


def test_reinforce_step_moves_probability_to_the_better_sample():
    policy = Policy({"cell": list(NB201_OPS)}, n_edges=6, generator=torch.Generator().manual_seed(0))
    opt = torch.optim.Adam(policy.parameters(), lr=0.1)
    good = {"cell": torch.full((6,), 3)}
    bad = {"cell": torch.full((6,), 0)}
    before = policy.log_prob(good).item()
    b, baseline = reinforce_step(policy, opt, [good, bad], torch.tensor([1.0, 0.0]), None, 0.0, 5.0, 0.95)
    assert b == pytest.approx(0.5) and baseline == pytest.approx(0.5)
    assert policy.log_prob(good).item() > before


# ---- on the shared NB201 data (beside the checkout, never in the repository) -------------------

def test_the_benchmark_scores_tnd_nas_within_its_budget(nb201_bench):
    bench = nb201_bench
    (task,) = bench.load_tasks(bench.DATA, ["val_cifar10"], ["latency_ms_1080ti_1"])
    strategy = bench.tnd_nas(task)
    s = bench.score(task, strategy, [5, 60], [0])
    assert [len(r) for r in s.rows[5]] <= [5] and len(s.rows[60][0]) <= 60
    assert 0 < s.hv[5][0] < s.hv[60][0] < 1
    # the budgeted "queries to 90%" is the smallest budget whose own run gets there
    def rows(b):
        return np.asarray([task.archs.index(a) for a in strategy(b, 0)])

    target = s.hv[5][0] + 1e-9
    reach = bench.budget_to_reach(task, rows, {5: s.hv[5][0], 60: s.hv[60][0]}, target=target, min_budget=5)
    assert 5 < reach <= 60 and bench.hv_fraction(task, rows(reach)) >= target


def test_cli_tabular_journey_and_its_errors(table, tmp_path, capsys):
    from tnd.cli.main import main

    out = tmp_path / "run"
    argv = ["search", "--space", "nb201", "--tabular", str(table), "--accuracy", "val_acc", "--cost",
            "latency=lat_ms", "--reward-form", "soft", "--target", "latency=1ms", "--budget", "40", "--out", str(out),
            "--preferences", "accurate:latency=1ms@0;fast:latency=1ms@-2"]
    assert main(argv) == 0
    result = load_result(out / "result.json")
    assert [e["preference"]["name"] for e in result["genotypes"]] == ["accurate", "fast"]
    assert (out / "pareto.png").is_file() and (out / "queried.csv").is_file()
    best = max(CELLS, key=accuracy)
    assert result["genotypes"][0]["objectives"]["accuracy"] == pytest.approx(accuracy(best) / 100)
    assert 0 < result["hypervolume"]["value"] <= 1
    capsys.readouterr()
    for bad, message in ((["--space", "darts"], "--space nb201"), (["--accuracy", "nope"], "nope"),
                         (["--cost", "latency=missing"], "missing")):
        args = list(argv)
        for flag, value in zip(bad[::2], bad[1::2]):
            args[args.index(flag) + 1] = value
        args[args.index("--out") + 1] = str(tmp_path / f"bad{len(message)}")
        assert main(args) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_cli_gap_target(table, tmp_path, capsys):
    from tnd.cli.main import main

    argv = ["search", "--space", "nb201", "--tabular", str(table), "--accuracy", "val_acc", "--cost", "latency=lat_ms",
            "--reward-form", "hard", "--budget", "40", "--probe", "10", "--out", str(tmp_path / "gap"),
            "--preferences", "accurate:latency=1@0;fill:latency=gap@-3"]
    assert main(argv) == 0
    result = load_result(tmp_path / "gap" / "result.json")
    assert [e["preference"]["name"] for e in result["genotypes"]] == ["accurate", "fill"]
    capsys.readouterr()
    # nothing read when the gap member starts: a one-line error that says what to add
    argv[argv.index("--probe") + 1], argv[argv.index("--out") + 1] = "0", str(tmp_path / "nogap")
    argv[-1] = "fill:latency=gap@-3"
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "latency=gap" in err and "add --probe" in err and len(err.splitlines()) == 1


def test_random_strategy_reads_the_budget_uniformly_and_keeps_each_members_best(table):
    def reward(a, w):
        return soft_reward(accuracy(a) / 100, {"latency": latency(a)}, {"latency": 1.0}, {"latency": w})

    bench = load(table)
    outcome = tabular_search(bench, config(budget=20, seed=1, strategy="random", **SERIES))
    assert bench.queries == 20 == len(set(outcome.queried)) and set(outcome.queried_by) == {"random"}
    accurate, fast = (NB201Arch.from_dict(e["genotype"]) for e in outcome.entries)
    assert accurate == max(outcome.queried, key=accuracy)                 # the best read, not the space's best
    assert fast == max(outcome.queried, key=lambda a: reward(a, -2.0))
    # one shuffle per seed: a smaller budget reads a prefix of a larger one's cells; another seed reads others
    small = tabular_search(load(table), config(budget=7, seed=1, strategy="random", **SERIES))
    assert small.queried == outcome.queried[:7]
    assert tabular_search(load(table), config(budget=7, seed=2, strategy="random", **SERIES)).queried != small.queried
    with pytest.raises(TndError, match="strategy"):
        config(strategy="grid")


def test_cli_tabular_random_strategy(table, tmp_path):
    from tnd.cli.main import main

    out = tmp_path / "random"
    assert main(["search", "--space", "nb201", "--tabular", str(table), "--accuracy", "val_acc", "--cost",
                 "latency=lat_ms", "--reward", "acc", "--strategy", "random", "--budget", "50", "--out", str(out)]) == 0
    result = load_result(out / "result.json")
    # the whole 50-cell space read: the accuracy-only member is the space's most accurate cell
    assert NB201Arch.from_dict(result["genotypes"][0]["genotype"]) == max(CELLS, key=accuracy)
    assert result["config"]["strategy"] == "random"
    assert len(list(csv.DictReader((out / "queried.csv").open()))) == 50


def test_cli_absolute_form_series_over_targets_alone_is_ordered_by_target(table, tmp_path):
    """TuNAS's absolute form (--reward-form absolute): members that differ only in their latency target
    derive cells whose latencies follow the targets (the table spans 2.8-11.7 ms)."""
    from tnd.cli.main import main

    out = tmp_path / "targets"
    argv = ["search", "--space", "nb201", "--tabular", str(table), "--accuracy", "val_acc", "--cost",
            "latency=lat_ms", "--reward-form", "absolute", "--budget", "40", "--out", str(out),
            "--preferences", "fast:latency=3ms;mid:latency=7ms;slow:latency=11ms"]
    assert main(argv) == 0
    result = load_result(out / "result.json")
    assert [r["form"] for r in result["reward"]] == ["absolute"] * 3
    derived = [e["objectives"]["latency_ms"] for e in result["genotypes"]]
    assert derived == sorted(derived) and derived[0] < 5 < derived[1] < 9 < derived[2], derived
