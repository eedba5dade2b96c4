"""The whole front from one search (issue 14): a preference- and device-conditioned policy, ``tnd derive``
for any member and any device, and the reference networks that describe a new device."""

from __future__ import annotations

import csv
import itertools
import json
import shutil

import pytest
import torch

from tnd.cli.main import main
from tnd.errors import TndError
from tnd.lut.reference import ReferenceMeasurements
from tnd.result_file import load_result
from tnd.search.conditioned import (ConditionedPolicy, draw_weights, fit_to_best_read, gap_weights, incumbents,
                                    parse_preference, reinforce_conditioned, rloo_advantages, simplex_grid, tchebycheff)
from tnd.search.conditioned_tabular import Placement, placed_weights, z_of
from tnd.search.normalised_hv import hypervolume_2d, hypervolume_subset
from tnd.search.policy import Policy, reinforce_loss
from tnd.space.nb201 import NB201_OPS, NB201Arch
from tnd.space.nb201.reference import REFERENCE_ARCHS

pytestmark = pytest.mark.usefixtures("single_thread")

# ---- pure maths -------------------------------------------------------------------------------


def test_tchebycheff_reaches_a_non_convex_front_point_a_weighted_sum_cannot():
    a, b, mid = (0.0, 1.0), (1.0, 0.0), (0.6, 0.6)       # mid is Pareto-optimal but in a concave dent
    w = (0.5, 0.5)
    assert max((a, b, mid), key=lambda f: tchebycheff(f, w)) == mid
    assert max((a, b, mid), key=lambda f: -sum(x * y for x, y in zip(f, w))) != mid
    # the augmentation breaks ties of the max towards the point better in the other weighted objective
    assert tchebycheff((0.5, 0.2), (0.5, 0.5)) > tchebycheff((0.5, 0.4), (0.5, 0.5))
    assert tchebycheff((0.5, 0.2), (1, 0)) == tchebycheff((0.5, 0.4), (1, 0))   # weight 0: ignored


def test_leave_one_out_advantages_weights_and_grids():
    r = torch.tensor([1.0, 2.0, 3.0, 10.0, 10.0, 13.0])
    adv = rloo_advantages(r, 3)
    assert torch.allclose(adv, torch.tensor([-1.5, 0.0, 1.5, -1.5, -1.5, 3.0]))
    w = draw_weights(4, 2, torch.Generator().manual_seed(0))
    assert torch.allclose(w.sum(-1), torch.ones(4)) and bool((w >= 0).all())
    assert sorted(int(x * 4) for x in w[:, 1]) == [0, 1, 2, 3]         # stratified: one per quarter
    w3 = draw_weights(50, 3, torch.Generator().manual_seed(0))
    assert torch.allclose(w3.sum(-1), torch.ones(50)) and bool((w3 > 0).all())
    assert simplex_grid(2, 3) == [(1.0, 0.0), (0.5, 0.5), (0.0, 1.0)]
    assert len(simplex_grid(3, 3)) == 6 and all(abs(sum(g) - 1) < 1e-12 for g in simplex_grid(3, 4))


def test_gap_weights_aim_the_tchebycheff_optimum_into_the_front_s_largest_gap():
    gen = torch.Generator().manual_seed(0)
    read = [(0.1, 0.9), (0.2, 0.8), (0.8, 0.2), (0.9, 0.9), (0.2, 0.8)]   # one dominated, one repeated
    w = gap_weights(read, 200, gen)
    # gaps (0.1,0.9)-(0.2,0.8), area 0.01, and (0.2,0.8)-(0.8,0.2), area 0.36: drawn in proportion
    big = torch.isclose(w[:, 0], torch.tensor(0.5))
    small = torch.isclose(w[:, 0], torch.tensor(0.85), atol=1e-3)        # 1/0.15 : 1/0.85, normalised
    assert bool((big | small).all()) and 0.9 < float(big.float().mean()) < 1.0
    # under the big gap's weights a cell inside the gap beats every front point read
    inside = (0.45, 0.45)
    best = max([*read, inside], key=lambda f: tchebycheff(f, w[big][0].tolist()))
    assert best == inside
    assert gap_weights([(0.1, 0.9)], 4, gen) is None                   # one point: no gap
    assert gap_weights([(0.1, 0.9), (0.2, 0.95)], 4, gen) is None      # one front point
    assert gap_weights([(0.1, 0.9, 0.5), (0.2, 0.8, 0.4)], 4, gen) is None   # three objectives: draw as usual


def test_hypervolume_subset_is_the_best_k_of_a_2d_front_and_skips_dominated_and_repeated_points():
    gen = torch.Generator().manual_seed(0)
    ref = (1.1, 1.2)
    for _ in range(40):
        pts = torch.rand(9, 2, generator=gen).tolist()
        pts += [pts[0], [0.99, 0.99]]                        # a repeat and a dominated point
        for k in (1, 2, 3, 4):
            picked = hypervolume_subset(pts, ref, k).tolist()
            best = max(hypervolume_2d([pts[i] for i in c], ref) for c in itertools.combinations(range(11), k))
            assert hypervolume_2d([pts[i] for i in picked], ref) == pytest.approx(best)
            assert len(picked) <= k and 9 not in picked and 10 not in picked
    assert hypervolume_subset([[0.5, 0.5], [0.5, 0.5], [2.0, 0.0]], ref, 3).tolist() == [0]   # 1 beats ref
    with pytest.raises(ValueError):
        hypervolume_subset([[0.5, 0.5]], ref, 0)


def test_placement_picks_the_read_members_of_largest_hypervolume_not_the_evenly_spread_ones():
    """7 candidate preferences; the run read 5 of their cells (the 4th's cell is the 3rd's). The evenly spread
    3 ((1,0), (0.5,0.5), (0,1)) reach less of the read front than the best 3, which the placement takes;
    an unread candidate is never a member, whatever it might score; too few read cells: evenly spread."""
    grid = simplex_grid(2, 7)
    read = [[0.0, 1.0], [0.05, 0.5], [0.3, 0.3], [0.3, 0.3], None, [0.9, 0.02], [1.0, 0.0]]
    placement = Placement(grid, [f"c{i}" for i in range(7)], read, [1.1, 1.1])
    assert placement.chosen(3) == [1, 2, 5]
    even = [grid.index(w) for w in simplex_grid(2, 3)]
    assert placement.read_hypervolume([1, 2, 5]) > placement.read_hypervolume(even)
    assert placement.weights(3) == [grid[1], grid[2], grid[5]]
    best = max(placement.read_hypervolume(c) for c in itertools.combinations([0, 1, 2, 5, 6], 3))
    assert placement.read_hypervolume(placement.chosen(3)) == pytest.approx(best)
    assert placement.weights(7) == simplex_grid(2, 7) and placement.weights(9) == simplex_grid(2, 9)
    assert placement.chosen(6) is None and placement.weights(6) == simplex_grid(2, 6)   # 5 distinct read cells
    again = Placement.from_dict(json.loads(json.dumps(placement.to_dict())))
    assert again.weights(3) == placement.weights(3)
    record = {"objectives": ["acc", "latency"], "placement": {"dev": placement.to_dict()}}
    assert placed_weights(record, 3, "dev") == placement.weights(3)
    assert placed_weights(record, 3, None) == simplex_grid(2, 3)          # a new device: nothing read on it
    assert placed_weights({"objectives": ["acc", "latency"]}, 3, "dev") == simplex_grid(2, 3)   # an older run


def test_parse_preference_and_its_errors():
    assert parse_preference("latency=0.7", ["acc", "latency"]) == pytest.approx((0.3, 0.7))
    with pytest.raises(TndError, match="did not learn; it learned acc, latency"):
        parse_preference("energy=0.5", ["acc", "latency"])
    for bad in ("latency", "latency=x", "latency=-1", "latency=1.5", ""):
        with pytest.raises(TndError):
            parse_preference(bad, ["acc", "latency"])


# ---- the policy -------------------------------------------------------------------------------

def test_the_incumbent_is_the_argmax_of_each_preference_s_reward_over_the_rows_read():
    gen = torch.Generator().manual_seed(5)
    points = torch.rand(40, 2, generator=gen, dtype=torch.float64) * 1.2 - 0.1   # some below 0, as read
    weights = torch.cat([draw_weights(7, 2, gen).double(), torch.tensor([[1.0, 0.0], [0.0, 1.0]])])
    got = incumbents(points, weights)
    for w, i in zip(weights.tolist(), got.tolist()):
        rewards = [tchebycheff(p, w) for p in points.tolist()]
        assert i == max(range(len(rewards)), key=lambda j: (rewards[j], -j))   # the first best row
    assert incumbents(torch.tensor([[0.2, 0.2], [0.2, 0.2]]), torch.tensor([[0.5, 0.5]])).tolist() == [0]
    three = torch.rand(20, 3, generator=gen, dtype=torch.float64)
    w3 = draw_weights(5, 3, gen)
    assert incumbents(three, w3).tolist() == [max(range(20), key=lambda j: tchebycheff(three[j].tolist(), w.tolist()))
                                              for w in w3]
    with pytest.raises(TndError, match="incumbents"):
        incumbents(torch.zeros(0, 2), weights)


def test_the_pull_towards_the_incumbent_is_its_cross_entropy_and_off_at_weight_0():
    def step(anchor, weight):
        policy = ConditionedPolicy(NB201_OPS, 6, 2, hidden=8, generator=torch.Generator().manual_seed(3))
        opt = torch.optim.SGD(policy.parameters(), lr=0.0)
        zs = [z_of((0.3, 0.7), None)] * 3 + [z_of((0.9, 0.1), None)] * 3
        choices = [policy.sample(z, torch.Generator().manual_seed(i)) for i, z in enumerate(zs)]
        rewards = torch.tensor([0.1, 0.5, -0.2, 0.3, 0.9, 0.0], dtype=torch.float64)
        loss = reinforce_conditioned(policy, opt, zs, choices, rewards, 3, 1e9, anchor, weight)
        return loss, [p.grad.clone() for p in policy.parameters()], policy, zs
    cell = torch.tensor([1, 2, 3, 4, 0, 1])
    anchor = ([z_of((0.3, 0.7), None), z_of((0.9, 0.1), None)], [cell, cell])
    base, grads, policy, _ = step(None, 0.0)
    for off in (step(anchor, 0.0), step(None, 0.5)):                 # weight 0, or no anchor: the step as before
        assert off[0] == base and all(torch.equal(a, b) for a, b in zip(off[1], grads))
    pulled, _, policy, _ = step(anchor, 0.5)
    ce = -policy.log_probs(torch.stack(anchor[0]), anchor[1]).mean().detach()
    assert pulled == pytest.approx(base + 0.5 * float(ce), rel=1e-6)


def test_with_a_fixed_preference_the_bias_gets_the_plain_policys_gradient():
    """f(z) = bias + head(h(z)) with the head zero-initialised: for one fixed z its bias receives exactly the
    gradient the plain Policy's alpha receives from the same samples and advantages."""
    gen = torch.Generator().manual_seed(3)
    cond = ConditionedPolicy(NB201_OPS, 6, 2, hidden=8, generator=gen)
    plain = Policy({"cell": list(NB201_OPS)}, n_edges=6, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        plain.alpha["cell"].zero_()
    z = z_of((0.3, 0.7), None)
    choices = [cond.sample(z, gen) for _ in range(6)]
    rewards = torch.tensor([0.1, 0.5, -0.2, 0.3, 0.9, 0.0], dtype=torch.float64)
    adv = rloo_advantages(rewards, 3)
    opt = torch.optim.SGD(cond.parameters(), lr=0.0)
    reinforce_conditioned(cond, opt, [z] * 6, choices, rewards, 3, grad_clip=1e9)
    loss = -(adv.float() * torch.stack([plain.log_prob({"cell": c}) for c in choices])).mean()
    loss.backward()
    assert torch.allclose(cond.bias.grad, plain.alpha["cell"].grad, atol=1e-7)
    # the same loss as the plain policy's reinforce_loss, whose baseline is a number (here 0 on advantages)
    assert torch.isclose(loss, reinforce_loss(torch.stack([plain.log_prob({"cell": c}) for c in choices]),
                                              adv.float(), 0.0))


def test_shrink_keeps_every_preferences_top_ops_and_the_record_round_trips():
    pol = ConditionedPolicy(NB201_OPS, 6, 2, hidden=4, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():  # z=(+,-) prefers op 1, z=(-,+) prefers op 3, on every edge
        pol.head.weight.zero_()
        w = pol.head.weight.view(6, 5, 4)
        w[:, 1, :] = 5.0 * torch.sign(pol.inner.weight[:, 0] - pol.inner.weight[:, 1])
        w[:, 3, :] = -w[:, 1, :]
    za, zb = torch.tensor([0.5, -0.5]), torch.tensor([-0.5, 0.5])
    dropped = pol.shrink([za, zb], keep=1)
    assert dropped == 6 * 3 and pol.alive.sum(-1).tolist() == [2] * 6
    assert bool(pol.alive[:, 1].all()) and bool(pol.alive[:, 3].all())
    again = ConditionedPolicy.from_dict(json.loads(json.dumps(pol.to_dict())))
    for z in (za, zb, torch.zeros(2)):
        assert torch.equal(again.alpha(z), pol.alpha(z)) and again.derive(z) == pol.derive(z)
    with pytest.raises(TndError, match="damaged"):
        ConditionedPolicy.from_dict({"ops": NB201_OPS})


def test_the_fit_makes_each_preference_derive_its_best_read_cell():
    pol = ConditionedPolicy(NB201_OPS, 6, 2, hidden=16, generator=torch.Generator().manual_seed(0))
    cells = torch.tensor([[0] * 6, [1] * 6, [2, 3, 4, 1, 2, 3], [4] * 6])
    zs = [z_of(w, None) for w in simplex_grid(2, 5)]
    rewards = torch.tensor([[float(i == (k * 4) // 5) for i in range(4)] for k in range(5)])  # best cell per z
    opt = torch.optim.Adam(pol.parameters(), lr=0.05)
    assert fit_to_best_read(pol, opt, zs, cells, rewards, steps=3000, grad_clip=5.0) == 1.0
    for z, best in zip(zs, rewards.argmax(1)):
        assert pol.derive(z) == [NB201_OPS[i] for i in cells[best]]


# ---- end to end on a synthetic table of the whole NB201 space ------------------------------------

LAT = {"none": 0.0, "skip_connect": 0.05, "nor_conv_1x1": 0.6, "nor_conv_3x3": 1.5, "avg_pool_3x3": 0.3}
GAIN = {"none": 0.0, "skip_connect": 3.0, "nor_conv_1x1": 5.0, "nor_conv_3x3": 8.0, "avg_pool_3x3": 2.0}


def _row(ops):
    acc = 30.0 + 0.8 * sum(GAIN[o] * (1 + e / 6) for e, o in enumerate(ops))   # 30-84 %
    lat_a = 1.0 + sum(LAT[o] for o in ops)
    lat_b = 2.0 + sum(LAT[o] * (2.0 if o == "avg_pool_3x3" else 1.0) for o in ops)   # pools dear on b
    lat_c = 0.5 + sum(LAT[o] * (1.5 if o == "avg_pool_3x3" else 0.8) for o in ops)   # a device between them
    return [str(NB201Arch(ops)), f"{acc:.4f}", f"{lat_a:.4f}", f"{lat_b:.4f}", f"{lat_c:.4f}"]


@pytest.fixture(scope="module")
def space_table(tmp_path_factory):
    path = tmp_path_factory.mktemp("nb201") / "space.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["arch", "acc", "lat_a", "lat_b", "lat_c"])
        w.writerows(_row(ops) for ops in itertools.product(NB201_OPS, repeat=6))
    return path


def _search(table, out, *extra):
    argv = ["search", "--space", "nb201", "--tabular", str(table), "--accuracy", "acc", "--strategy", "conditioned",
            "--budget", "120", "--out", str(out), *extra]
    assert main(argv) == 0
    return load_result(out / "result.json")


def test_one_conditioned_run_spans_the_front_and_derive_is_deterministic_and_needs_no_data(space_table, tmp_path,
                                                                                             capsys):
    run = tmp_path / "run"
    result = _search(space_table, run, "--cost", "latency=lat_a")
    members = result["genotypes"]
    # the 5 members are placed among the refine grid's 21 preferences by the read hypervolume
    placed = result["conditioned"]["placement"]["lat_a"]
    weights = [m["preference"]["weights"]["latency"] for m in members]
    assert placed["chosen"] is not None and [w[1] for w in placed["chosen_weights"]] == weights
    assert weights == sorted(weights) and len(set(weights)) == 5 and placed["why"].startswith("the largest")
    assert all(placed["read"][i] is not None for i in placed["chosen"])      # every member a cell already read
    known = [i for i, p in enumerate(placed["read"]) if p is not None]
    best = max(hypervolume_2d([placed["read"][i] for i in c], placed["reference"])
               for c in itertools.combinations(known, 5))
    assert placed["read_hypervolume"] == pytest.approx(best)
    assert placed["read_hypervolume"] >= placed["evenly_spread"]["read_hypervolume"]
    lat = [m["objectives"]["latency_ms"] for m in members]
    acc = [m["objectives"]["accuracy"] for m in members]
    assert lat == sorted(lat, reverse=True) and lat[0] > 2 * lat[-1] and acc[0] > acc[-1]
    assert result["conditioned"]["policy"]["ops"] == list(NB201_OPS) and len(set(lat)) >= 3
    # derive: the run's own grid again, then any preference; twice the same, with or without the table
    a = tmp_path / "d1"
    assert main(["derive", str(run), "--grid", "5", "--out", str(a)]) == 0
    again = load_result(a / "result.json")
    assert [g["genotype"] for g in again["genotypes"]] == [g["genotype"] for g in members]
    assert (a / "pareto.png").is_file() and again["derived_from"]["zero_shot"] is False
    assert main(["derive", str(run), "--preference", "latency=0.9", "--preference", "latency=0.1", "--out",
                 str(tmp_path / "d2")]) == 0
    two = load_result(tmp_path / "d2" / "result.json")["genotypes"]
    assert two[0]["objectives"]["latency_ms"] <= two[1]["objectives"]["latency_ms"]
    moved = tmp_path / "elsewhere.csv"
    shutil.move(space_table, moved)                          # no data: the table is gone
    try:
        assert main(["derive", str(run), "--preference", "latency=0.9", "--preference", "latency=0.1", "--out",
                     str(tmp_path / "d3")]) == 0
        blind = json.loads((tmp_path / "d3" / "derived.json").read_text())
        assert [g["genotype"] for g in blind["genotypes"]] == [g["genotype"] for g in two]
        assert blind["latency"] == "not measured"
    finally:
        shutil.move(moved, space_table)
    capsys.readouterr()
    for argv, message in (
            (["derive", str(run), "--preference", "energy=0.5"], "did not learn; it learned acc, latency"),
            (["derive", str(run), "--grid", "3", "--preference", "latency=0.5"], "not both"),
            (["derive", str(tmp_path / "nowhere")], "not found"),
            (["derive", str(run), "--grid", "5", "--out", str(a)], "already exists"),
            (["derive", str(run), "--device-features", str(tmp_path / "x.json")], "trained on one device")):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_several_devices_in_one_run_and_a_new_device_zero_shot(space_table, tmp_path):
    run = tmp_path / "multi"
    result = _search(space_table, run, "--devices", "a=lat_a,b=lat_b")
    rec = result["conditioned"]
    assert rec["uses_device_features"] and list(rec["devices"]) == ["a", "b"]
    assert {m["preference"]["device"] for m in rec["members"]} == {"a", "b"}
    assert rec["policy"]["n_inputs"] == 2 + len(REFERENCE_ARCHS)
    ref = tmp_path / "c.json"
    assert main(["lut", "reference", "--from-table", str(space_table), "--column", "lat_c", "--device", "c",
                 "--out", str(ref)]) == 0
    m = ReferenceMeasurements.load(ref)
    assert m.source == "table" and m.archs == [str(a) for a in REFERENCE_ARCHS] and len(m.latency_ms) == 10
    out = tmp_path / "zero"
    assert main(["derive", str(run), "--device-features", str(ref), "--latency-column", "lat_c", "--grid", "3",
                 "--out", str(out)]) == 0
    z = load_result(out / "result.json")
    assert z["derived_from"]["zero_shot"] and z["derived_from"]["device"] == "c"
    lat = [g["objectives"]["latency_ms"] for g in z["genotypes"]]
    assert lat[0] > lat[-1]                                   # accuracy first, the fastest last
    assert main(["derive", str(run), "--device", "b", "--grid", "3", "--out", str(tmp_path / "b")]) == 0
    assert main(["derive", str(run), "--device", "nope", "--out", str(tmp_path / "n")]) == 2


def test_conditioned_config_errors(space_table, tmp_path, capsys):
    base = ["search", "--space", "nb201", "--tabular", str(space_table), "--accuracy", "acc", "--cost",
            "latency=lat_a", "--out"]
    for extra, message in ((["--strategy", "conditioned", "--preferences", "x:latency=1ms"], "learns every preference"),
                           (["--strategy", "conditioned", "--target", "latency=1ms"], "leave --target"),
                           (["--devices", "a=lat_a,b=lat_b"], "is for --strategy conditioned"),
                           (["--strategy", "conditioned", "--devices", "a=lat_a"], "at least two"),
                           (["--strategy", "conditioned", "--budget", "12"], "raise --budget")):
        assert main([*base, str(tmp_path / f"r{len(message)}"), *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err


def test_reference_measurements_are_checked(tmp_path):
    good = [str(a) for a in REFERENCE_ARCHS]
    with pytest.raises(TndError, match="other networks"):
        ReferenceMeasurements("x", good[::-1], [1.0] * 10, "table", "")
    with pytest.raises(TndError, match="positive, finite"):
        ReferenceMeasurements("x", good, [1.0] * 9 + [0.0], "table", "")
    p = tmp_path / "r.json"
    p.write_text("{}")
    with pytest.raises(TndError, match="not a reference-measurements file"):
        ReferenceMeasurements.load(p)
    with pytest.raises(TndError, match="not found"):
        ReferenceMeasurements.load(tmp_path / "none.json")


def test_lut_reference_measures_the_reference_networks_on_this_machine(tmp_path, capsys):
    out = tmp_path / "cpu.json"
    assert main(["lut", "reference", "--device", "cpu", "--warmup", "1", "--repeats", "3", "--out", str(out)]) == 0
    m = ReferenceMeasurements.load(out)
    assert m.source == "measured" and m.device == "cpu" and "onnxruntime" in m.detail
    skip, conv1, conv3, _pool = m.latency_ms[:4]          # the uniform cells, in NB201_OPS order without none
    assert conv3 > conv1 > skip
    capsys.readouterr()
    assert main(["lut", "reference", "--device", "cpu", "--column", "x", "--out", str(out)]) == 2
    assert "--from-table" in capsys.readouterr().err


def test_three_objectives_one_run_a_simplex_of_members(space_table, tmp_path):
    result = _search(space_table, tmp_path / "three", "--cost", "latency=lat_a,energy=lat_b", "--grid", "3")
    members = result["genotypes"]
    assert len(members) == len(simplex_grid(3, 3)) == 6
    assert all(set(m["preference"]["weights"]) == {"acc", "latency", "energy"} for m in members)
    assert all({"accuracy", "latency_ms", "energy_mj"} <= set(m["objectives"]) for m in members)
    assert result["hypervolume"]["objectives"] == ["error", "latency_ms", "energy_mj"]
    out = tmp_path / "d"
    assert main(["derive", str(tmp_path / "three"), "--preference", "latency=0.3,energy=0.3", "--out", str(out)]) == 0
    (one,) = load_result(out / "result.json")["genotypes"]
    assert one["preference"]["weights"] == pytest.approx({"acc": 0.4, "latency": 0.3, "energy": 0.3})


def test_the_last_share_of_the_reads_aims_at_the_read_front_s_gaps(space_table, tmp_path):
    from tnd.search.conditioned_tabular import ConditionedSettings
    from tnd.search.tabular import TabularSearchConfig

    assert ConditionedSettings().gap_share > 0
    run = tmp_path / "gaps"
    _search(space_table, run, "--cost", "latency=lat_a")
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    steps = [e for e in log if e.get("event") == "alpha"]
    aimed = [e for e in steps if e.get("aimed_at_gaps")]
    first = steps.index(aimed[0])
    assert aimed and all(e.get("aimed_at_gaps") for e in steps[first:])   # the phase runs to the end
    start = next(e["queries"] for e in log if e.get("event") == "stage")   # the reference networks read
    span = 120 - 5 - start                                                 # the budget less the 5 members' reserve
    gap_start = start + span - int(span * ConditionedSettings().gap_share)
    assert steps[first - 2]["queries"] < gap_start <= steps[first - 1]["queries"]   # queries before each step
    for bad in (-0.1, 1.0):
        with pytest.raises(TndError, match="gap_share"):
            TabularSearchConfig(name="x", costs={"latency": "lat_a"}, budget=120, strategy="conditioned",
                                conditioned=ConditionedSettings(gap_share=bad))


def test_the_incumbent_pull_setting_0_is_the_search_as_before(space_table, tmp_path, monkeypatch):
    """Pull 0 never looks for an incumbent, so a seed gives the same run as before the setting;
    a positive pull changes the run, and each anchored step pulls towards the best cell read for its preference."""
    from tnd.data.tabular import TabularBenchmark
    import tnd.search.conditioned_tabular as ct
    from tnd.search.conditioned import ConditionedSettings
    from tnd.search.tabular import TabularSearchConfig, cost_names, tabular_search

    assert ConditionedSettings().incumbent_pull > 0          # on by default (measured better); 0 turns it off
    cfg = lambda pull: TabularSearchConfig(name="x", costs={"latency": "lat_a"}, budget=80, seed=2,  # noqa: E731
                                           strategy="conditioned", conditioned=ConditionedSettings(incumbent_pull=pull))
    bench = TabularBenchmark.load(space_table, "acc", cost_names(cfg(0.0)), NB201Arch.parse)
    before = tabular_search(bench, cfg(0.0))
    calls = []
    real = ct._incumbent_anchor

    def spy(policy, bench, costs, key, scales, read_points, weights, drawn, zs):
        z_out, cells = real(policy, bench, costs, key, scales, read_points, weights, drawn, zs)
        rows = [a for a in bench.queried if all(bool(policy.alive[e, NB201_OPS.index(op)])
                                                for e, op in enumerate(a.ops))]
        for w, d, c in zip(weights, drawn, cells):
            norm = [scales[d].normalised(bench.query(a).accuracy, {"latency": bench.query(a).costs["latency"]})
                    for a in rows]
            best = max(range(len(rows)), key=lambda j: (tchebycheff(norm[j], w), -j))
            assert [NB201_OPS[int(i)] for i in c] == list(rows[best].ops)
        calls.append(len(cells))
        return z_out, cells

    monkeypatch.setattr(ct, "_incumbent_anchor", spy)
    bench.reset_queries()
    again = tabular_search(bench, cfg(0.0))
    assert not calls
    assert [e["genotype"] for e in again.entries] == [e["genotype"] for e in before.entries]
    assert again.queried == before.queried
    bench.reset_queries()
    pulled = tabular_search(bench, cfg(0.5))
    assert calls and all(n >= 1 for n in calls)
    assert pulled.queried != before.queried
    with pytest.raises(TndError, match="incumbent_pull"):
        TabularSearchConfig(name="x", costs={"latency": "lat_a"}, budget=120, strategy="conditioned",
                            conditioned=ConditionedSettings(incumbent_pull=-1.0))
