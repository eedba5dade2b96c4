"""`tnd search --seeds` (the series per seed, mean and spread per member), `--dry-run`, and the warning for
series members that would run the same search."""

import json
from pathlib import Path

import pytest
import yaml

from tnd.cli.main import main
from tnd.errors import TndError
from tnd.search.config import load_search_config
from tnd.search.run import plan_search, run_search
from tnd.search.seeds import parse_seeds, run_seeds, summarise, summary_table

TINY = {
    "dataset": "digits", "channels": 8, "network": {"channels": 8, "layers": 5},
    "stages": [{"cells": 2, "ops": 8, "epochs": 2, "warmup_epochs": 1}],
    "weights": {"lr": 0.1, "steps_per_epoch": 4},
    "policy": {"samples": 2, "alpha_every": 2},
    "reward": {"objectives": ["acc", "params"], "targets": {"params": "20k"}},
}


def quiet(*_a, **_k):
    return None


def test_parse_seeds():
    assert parse_seeds("0,1,2") == [0, 1, 2] and parse_seeds("3-5") == [3, 4, 5] and parse_seeds("7") == [7]
    for bad in ("", "a", "1,1", "-1"):
        with pytest.raises(TndError, match="--seeds"):
            parse_seeds(bad)


def test_summary_is_mean_and_spread_over_seeds():
    def result(acc, params):
        return {"genotypes": [{"preference": {"name": "m"}, "objectives": {"accuracy": acc, "params": params},
                               "sources": {"accuracy": "x", "params": "counted"}}],
                "hypervolume": {"value": acc}}
    s = summarise({0: result(0.8, 100.0), 1: result(0.9, 300.0)})
    assert s["seeds"] == [0, 1]
    assert s["members"]["m"]["accuracy"]["mean"] == pytest.approx(0.85)
    assert s["members"]["m"]["accuracy"]["sd"] == pytest.approx(0.0707107, rel=1e-5)
    assert s["members"]["m"]["params"]["per_seed"] == [100.0, 300.0]
    assert s["hypervolume"]["min"] == 0.8 and s["hypervolume"]["max"] == 0.9


def test_summary_table_reads_a_trained_score_beside_the_supernet_one():
    """derive.evaluate: train keeps the supernet's score as supernet_accuracy: the table must show it, not crash."""
    def result(acc):
        return {"genotypes": [{"preference": {"name": "m"},
                               "objectives": {"accuracy": acc, "supernet_accuracy": acc - 0.1, "latency_ms": 0.1},
                               "sources": {"accuracy": "trained", "supernet_accuracy": "supernet-validation",
                                           "latency_ms": "measured"}}],
                "hypervolume": {"value": acc}}
    table = summary_table(summarise({0: result(0.9), 1: result(0.8)}))
    assert "supernet accuracy" in table and "0.85 +- 0.071" in table and "0.75 +- 0.071" in table


def test_seeds_run_the_series_per_seed_and_resume_skips_finished_ones(tmp_path, digits):
    cfg = load_search_config(None, TINY)
    calls = []

    def search(c, out, **kw):
        calls.append((c.seed, kw["resume"]))
        return run_search(c, out, data=digits, progress=False, echo=quiet, resume=kw["resume"])

    summary = run_seeds(cfg, [0, 1], tmp_path, search, echo=quiet)
    assert calls == [(0, False), (1, False)]
    for s in (0, 1):
        on_disk = json.loads((tmp_path / f"seed-{s}" / "result.json").read_text())
        assert on_disk["config"]["seed"] == s
    assert (tmp_path / "pareto_seeds.png").stat().st_size > 0
    assert json.loads((tmp_path / "seeds.json").read_text()) == json.loads(json.dumps(summary))
    accs = summary["members"]["default"]["accuracy"]["per_seed"]
    assert len(accs) == 2 and all(0 <= a <= 1 for a in accs)
    # A requeued job: finished seeds are read back, not searched again.
    calls.clear()
    again = run_seeds(cfg, [0, 1], tmp_path, search, resume=True, echo=quiet)
    assert calls == [] and again == summary


def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(TINY))
    assert main(["search", "--config", "c.yaml", "--dry-run", "--out", "run"]) == 0
    text = capsys.readouterr().out
    assert "dry run: nothing is trained" in text and "estimated work" in text and "params" in text
    assert not Path("run").exists()


def test_members_that_differ_only_by_a_target_in_the_soft_form_are_warned_about(tmp_path, digits):
    cfg = load_search_config(None, {**TINY, "reward": {**TINY["reward"], "form": "soft"},
                                    "preferences": [{"name": "a", "targets": {"params": "10k"}},
                                                    {"name": "b", "targets": {"params": "40k"}}]})
    assert "WARNING: preferences 'a' and 'b' would run the same search" in plan_search(cfg)
    lines = []
    result = run_search(cfg, tmp_path, data=digits, progress=False, echo=lines.append)
    assert any("would run the same search" in w for w in result["warnings"])
    assert any("WARNING" in line for line in lines)
    # The default (mnas) form: the target is where the penalty steepens, so the same series is distinct.
    mnas = load_search_config(None, {**TINY, "preferences": [{"name": "a", "targets": {"params": "10k"}},
                                                             {"name": "b", "targets": {"params": "40k"}}]})
    plan = plan_search(mnas)
    assert "would run the same search" not in plan
    # ... though a series over targets alone is pointed to the absolute form, which pulls each member to its target
    assert "--reward-form absolute" in plan


def test_resume_on_a_folder_without_a_run_starts_it(tmp_path, digits):
    """One job command for the first start and every requeue of a preempted job (issue 12 item 4)."""
    cfg = load_search_config(None, TINY)
    started = run_search(cfg, tmp_path / "job", resume=True, data=digits, progress=False, echo=quiet)
    fresh = run_search(cfg, tmp_path / "fresh", data=digits, progress=False, echo=quiet)
    assert started["genotypes"] == fresh["genotypes"]
    (tmp_path / "job" / "checkpoint.pt").unlink()
    with pytest.raises(TndError, match="nothing to resume"):
        run_search(cfg, tmp_path / "job", resume=True, data=digits, progress=False, echo=quiet)
