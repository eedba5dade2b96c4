"""`tnd search --member` (one member of a series per job, e.g. a SLURM array) and `tnd result merge` (the
members' runs joined into the series' result), issue 12 item 4."""

import json
from dataclasses import replace

import pytest
import yaml

from tnd.cli.main import main
from tnd.errors import TndError
from tnd.search.config import load_search_config, select_member
from tnd.search.merge import merge_results
from tnd.search.run import run_search

TINY = {
    "dataset": "digits", "channels": 4, "network": {"channels": 8, "layers": 5},
    "stages": [{"cells": 2, "ops": 8, "epochs": 2, "warmup_epochs": 1}],
    "weights": {"lr": 0.1, "steps_per_epoch": 3, "batch_size": 16},
    "policy": {"samples": 2, "alpha_every": 1, "val_batch_size": 64},
    "reward": {"objectives": ["acc", "params"], "targets": {"params": "20k"}},
    "preferences": [{"name": "small", "targets": {"params": "10k"}},
                    {"name": "large", "targets": {"params": "40k"}}],
}


def quiet(*_a, **_k):
    return None


@pytest.fixture(scope="module")
def runs(tmp_path_factory, digits, single_thread):
    """The whole series, and each member alone (by name and by index), on the same data."""
    root = tmp_path_factory.mktemp("member")
    cfg = load_search_config(None, TINY)
    data = digits
    whole = run_search(cfg, root / "whole", data=data, progress=False, echo=quiet)
    small = run_search(select_member(cfg, "small"), root / "m0", data=data, progress=False, echo=quiet)
    large = run_search(select_member(cfg, "1"), root / "m1", data=data, progress=False, echo=quiet)
    return root, whole, small, large


def _same(a, b):
    assert a["preference"] == b["preference"]
    assert a["genotype"] == b["genotype"]
    assert a["objectives"] == b["objectives"]


def test_a_member_alone_is_that_member_of_the_series(runs):
    root, whole, small, large = runs
    assert [e["preference"]["name"] for e in small["genotypes"]] == ["small"]
    assert [e["preference"]["name"] for e in large["genotypes"]] == ["large"]
    _same(small["genotypes"][0], whole["genotypes"][0])
    _same(large["genotypes"][0], whole["genotypes"][1])
    # The same ranges as the whole series: they come from the config and cost model, not the members.
    for r in (small, large):
        assert r["hypervolume"]["range"] == whole["hypervolume"]["range"]
    # A complete run folder that says which member it ran; the config keeps the whole series.
    saved = yaml.safe_load((root / "m1" / "config.yaml").read_text())
    assert saved["member"] == "large" and [p["name"] for p in saved["preferences"]] == ["small", "large"]
    for f in ("result.json", "log.jsonl", "checkpoint.pt", "config.yaml", "pareto.png"):
        assert (root / "m1" / f).is_file()


def test_merged_members_are_the_series(runs, capsys):
    root, whole, _, _ = runs
    # Given out of order: the merged file is in the series' order.
    assert main(["result", "merge", str(root / "m1"), str(root / "m0" / "result.json"),
                 "--out", str(root / "merged")]) == 0
    merged = json.loads((root / "merged" / "result.json").read_text())
    assert (root / "merged" / "pareto.png").stat().st_size > 0
    assert merged["format"] == whole["format"] and merged["config"] == whole["config"]
    assert len(merged["genotypes"]) == 2
    for a, b in zip(merged["genotypes"], whole["genotypes"]):
        _same(a, b)
    assert merged["reward"] == whole["reward"]
    assert merged["pareto"] == whole["pareto"]
    assert merged["hypervolume"] == whole["hypervolume"]
    assert "hypervolume" in capsys.readouterr().out
    assert main(["result", "show", str(root / "merged")]) == 0
    assert "small" in capsys.readouterr().out


def _one_line_error(capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("tnd: error:") and "\n" not in err
    return err


def test_merge_refusals_write_nothing(runs, capsys, tmp_path):
    root, _, _, _ = runs
    out = tmp_path / "out"
    err = _one_line_error(capsys, ["result", "merge", str(root / "m0"), str(root / "m0"), "--out", str(out)])
    assert "member 'small'" in err and "once" in err
    err = _one_line_error(capsys, ["result", "merge", str(root / "m0"), str(root / "whole"), "--out", str(out)])
    assert "member 'small'" in err
    other = json.loads((root / "m1" / "result.json").read_text())
    other["config"]["policy"]["samples"] = 3
    (tmp_path / "other.json").write_text(json.dumps(other))
    err = _one_line_error(capsys, ["result", "merge", str(root / "m0"), str(tmp_path / "other.json"),
                                   "--out", str(out)])
    assert "'policy.samples'" in err
    (tmp_path / "notes.json").write_text(json.dumps({"hello": 1}))
    err = _one_line_error(capsys, ["result", "merge", str(root / "m0"), str(tmp_path / "notes.json"),
                                   "--out", str(out)])
    assert "not a tnd search result" in err
    err = _one_line_error(capsys, ["result", "merge", str(root / "m0"), str(tmp_path), "--out", str(out)])
    assert "holds no result.json" in err
    assert not out.exists()
    err = _one_line_error(capsys, ["result", "merge", str(root / "m0"), str(root / "m1"), "--out", str(root / "m0")])
    assert "already holds" in err


def test_member_by_name_index_and_refused(tmp_path, capsys, monkeypatch):
    cfg = load_search_config(None, TINY)
    assert select_member(cfg, "small").member == "small" and select_member(cfg, "0").member == "small"
    assert select_member(cfg, "1").member == "large"
    assert [p.name for p in select_member(cfg, "large").run_preferences()] == ["large"]
    for bad in ("2", "medium", "-1"):
        with pytest.raises(TndError, match="0=small, 1=large"):
            select_member(cfg, bad)
    with pytest.raises(TndError, match="not a member of the series"):
        replace(cfg, member="medium")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(TINY))
    err = _one_line_error(capsys, ["search", "--config", "c.yaml", "--member", "5", "--out", "run", "--no-progress"])
    assert "0=small, 1=large" in err
    assert not (tmp_path / "run").exists()


def test_member_through_the_cli_with_seeds(tmp_path, monkeypatch):
    """--member with --seeds: that member of each seed's series (the search itself is stubbed: the runs above
    check what one member's search gives)."""
    import tnd.search.run as run_module

    calls = []

    def fake_search(cfg, out, resume=False, **_kw):
        calls.append((cfg.seed, cfg.member, [p.name for p in cfg.run_preferences()]))
        entry = {"preference": {"name": cfg.member}, "genotype": {},
                 "objectives": {"accuracy": 0.5, "params": 1000.0 + cfg.seed},
                 "sources": {"accuracy": "supernet-validation", "params": "counted"}}
        return {"config": cfg.to_dict(), "genotypes": [entry], "pareto": [0],
                "hypervolume": {"value": 0.1, "objectives": ["error", "params"]}}

    monkeypatch.setattr(run_module, "run_search", fake_search)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(TINY))
    assert main(["search", "--config", "c.yaml", "--member", "1", "--seeds", "0,1", "--out", "run",
                 "--no-progress"]) == 0
    assert calls == [(0, "large", ["large"]), (1, "large", ["large"])]
    seeds = json.loads((tmp_path / "run" / "seeds.json").read_text())
    assert list(seeds["members"]) == ["large"]


def test_the_members_searched_differently(runs):
    """Otherwise the comparisons above would hold trivially."""
    _, whole, _, _ = runs
    a, b = whole["genotypes"]
    assert a["genotype"] != b["genotype"] or a["objectives"] != b["objectives"]


def test_tabular_refuses_member(capsys):
    err = _one_line_error(capsys, ["search", "--space", "nb201", "--tabular", "t.csv", "--accuracy", "a",
                                   "--member", "0"])
    assert "--member" in err
