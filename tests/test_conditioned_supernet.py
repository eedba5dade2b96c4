"""The conditioned search on a supernet (issue 14): one shared supernet, one policy f(preference) for the
whole front, members derived at the end and again by ``tnd derive`` from the run alone."""

from __future__ import annotations

import json

import pytest
import torch

from tnd.cli.main import main
from tnd.search.conditioned import ConditionedSettings, normalise_over, union_top_k
from tnd.search.conditioned_supernet import ConditionedCells, step_rewards
from tnd.search.config import load_search_config
from tnd.search.run import run_search

pytestmark = pytest.mark.usefixtures("single_thread")

TINY = {
    "dataset": "digits", "channels": 8, "network": {"channels": 8, "layers": 5},
    "stages": [{"cells": 2, "ops": 8, "epochs": 2, "warmup_epochs": 1},
               {"cells": 3, "ops": 3, "epochs": 2, "warmup_epochs": 1}],
    "weights": {"lr": 0.1, "steps_per_epoch": 6},
    "policy": {"alpha_every": 2},
    "reward": {"objectives": ["acc", "params"]},
    "strategy": "conditioned",
    "conditioned": {"preferences_per_step": 2, "samples_per_preference": 2, "grid": 5},
}
quiet = {"progress": False, "echo": lambda s: None}


@pytest.fixture(scope="module")
def finished(tmp_path_factory, digits):
    out = tmp_path_factory.mktemp("conditioned") / "run"
    return out, run_search(load_search_config(None, TINY), out, data=digits, **quiet)


def test_a_conditioned_run_writes_k_members_and_its_policy(finished):
    out, result = finished
    assert json.loads((out / "result.json").read_text()) == result
    members = result["genotypes"]
    assert [m["preference"]["weights"] for m in members] == [
        {"acc": 1.0, "params": 0.0}, {"acc": 0.75, "params": 0.25}, {"acc": 0.5, "params": 0.5},
        {"acc": 0.25, "params": 0.75}, {"acc": 0.0, "params": 1.0}]
    assert all(m["sources"] == {"accuracy": "supernet-validation", "params": "counted", "flops": "counted"}
               for m in members)
    record = result["conditioned"]
    assert record["kind"] == "supernet" and record["objectives"] == ["acc", "params"]
    assert record["cells"] == ["normal", "reduce"] and "state" in record["policy"]
    assert (out / "supernet.pt").is_file()
    # one supernet trained once: the stages' epochs run once, not once per member
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert sum(r["event"] == "epoch" for r in log) == 4
    assert {r["preference"] for r in log if r["event"] == "epoch"} == {"conditioned"}


def test_derive_on_a_supernet_run_is_deterministic_and_gives_the_search_members(finished, tmp_path, capsys):
    out, result = finished
    for d in ("a", "b"):
        assert main(["derive", str(out), "--grid", "5", "--out", str(tmp_path / d), "--no-plot"]) == 0
    a, b = (json.loads((tmp_path / d / "result.json").read_text()) for d in ("a", "b"))
    assert a["genotypes"] == b["genotypes"] == result["genotypes"]      # scored through the saved supernet
    assert main(["derive", str(out), "--preference", "params=0.7", "--out", str(tmp_path / "p"), "--no-plot"]) == 0
    (member,) = json.loads((tmp_path / "p" / "result.json").read_text())["genotypes"]
    assert member["preference"]["weights"] == pytest.approx({"acc": 0.3, "params": 0.7})
    capsys.readouterr()
    assert main(["derive", str(out), "--device", "x", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert "no device input" in err and len(err.splitlines()) == 1


def test_resume_at_an_epoch_boundary_matches_the_uninterrupted_run(finished, tmp_path, digits):
    _, full = finished
    cfg = load_search_config(None, TINY)
    assert run_search(cfg, tmp_path, data=digits, stop_after_epochs=3, **quiet) is None
    resumed = run_search(cfg, tmp_path, resume=True, data=digits, **quiet)
    assert resumed["genotypes"] == full["genotypes"] and resumed["conditioned"] == full["conditioned"]


def test_shrinking_keeps_the_union_of_each_preferences_top_k():
    a = torch.tensor([[3.0, 2.0, 1.0, 0.0], [0.0, 1.0, 2.0, 3.0]])
    b = torch.tensor([[0.0, 1.0, 2.0, 3.0], [0.0, 1.0, 2.0, 3.0]])
    alive = torch.tensor([[True, True, True, True], [True, True, True, False]])
    assert union_top_k([a, b], alive, 1).tolist() == [[True, False, False, True], [False, False, True, False]]
    # over a space's cells: f linear in z, one edge pulled to different ops by the two ends of the grid
    cfg = load_search_config(None, TINY)
    cells = ConditionedCells(cfg.search_space().new_policy(cfg, torch.Generator().manual_seed(0)), 2,
                             ConditionedSettings(hidden=0, shrink_grid=2))
    ops = cells.op_sets["normal"]
    with torch.no_grad():
        cells.f.head.weight[ops.index("sep_conv_3x3"), 0] = 10.0    # row 0 = normal edge 0; z = centred weights
        cells.f.head.weight[ops.index("max_pool_3x3"), 1] = 10.0
    dropped = cells.shrink({"normal": 1, "reduce": 1})
    assert sorted(cells.alive_ops("normal")[0]) == ["max_pool_3x3", "sep_conv_3x3"]
    assert all(len(edge) == 1 for c in cells.cells for edge in cells.alive_ops(c)[c == "normal":])
    assert len(dropped["normal"][0]) == len(ops) - 2
    assert bool(cells.template.alive("normal")[0, ops.index("sep_conv_3x3")])     # the space's policy follows


def test_each_sample_is_rewarded_under_its_own_preference():
    f = normalise_over([[0.1, 2.0], [0.3, 1.0], [0.2, 1.5]])
    assert [v for p in f for v in p] == pytest.approx([0, 1, 1, 0, 0.5, 0.5])
    points = [[0.1, 2.0], [0.3, 1.0]] * 2               # (error, cost): accurate-slow and fast-inaccurate
    r = step_rewards(points, [(1.0, 0.0), (0.0, 1.0)], group_size=2)
    assert r[0] > r[1] and r[3] > r[2]                   # accuracy's preference and the cost's, each its own


@pytest.mark.parametrize("argv, message", [
    (["--reward", "acc"], "needs accuracy and at least one cost"),
    (["--mode", "mixture"], "weights.mode must be sampled"),
    (["--member", "fast"], "no member to run alone"),
])
def test_bad_conditioned_settings_are_one_line_errors(argv, message, capsys, tmp_path):
    assert main(["search", "--config", "configs/search/demo.yaml", "--strategy", "conditioned",
                 "--out", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and err.startswith("tnd: error:")
