"""`tnd search` end to end on the embedded digits data: resume, files, CLI errors, a useful result."""

import json
import subprocess
import sys

import pytest

from tnd.cli.main import main
from tnd.search.config import load_search_config
from tnd.search.plan_report import stage_steps
from tnd.search.run import run_search
from tnd.space import Genotype

TINY = {
    "dataset": "digits", "channels": 8, "network": {"channels": 8, "layers": 5},
    "stages": [{"cells": 2, "ops": 8, "epochs": 2, "warmup_epochs": 1},
               {"cells": 3, "ops": 3, "epochs": 2, "warmup_epochs": 1}],
    "weights": {"lr": 0.1, "steps_per_epoch": 6},
    "policy": {"samples": 4, "alpha_every": 2},
    "reward": {"objectives": ["acc", "params"], "targets": {"params": "20k"}},
}


def test_resumed_search_matches_uninterrupted(tmp_path, digits):
    cfg = load_search_config(None, TINY)
    full = run_search(cfg, tmp_path / "full", data=digits, progress=False, echo=lambda s: None)
    assert run_search(cfg, tmp_path / "cut", data=digits, progress=False, stop_after_epochs=3,
                      echo=lambda s: None) is None
    assert not (tmp_path / "cut" / "result.json").exists()
    resumed = run_search(cfg, tmp_path / "cut", resume=True, data=digits, progress=False, echo=lambda s: None)
    assert resumed["genotypes"] == full["genotypes"]
    assert (tmp_path / "cut" / "log.jsonl").read_text() == (tmp_path / "full" / "log.jsonl").read_text()


def test_search_writes_its_run_folder(tmp_path, digits):
    cfg = load_search_config(None, TINY)
    result = run_search(cfg, tmp_path, data=digits, progress=False, echo=lambda s: None)
    for name in ("result.json", "log.jsonl", "checkpoint.pt", "config.yaml", "pareto.png"):
        assert (tmp_path / name).is_file(), name
    on_disk = json.loads((tmp_path / "result.json").read_text())
    assert on_disk["genotypes"] == result["genotypes"] and on_disk["pareto"] == [0]
    entry = on_disk["genotypes"][0]
    Genotype.from_dict(entry["genotype"])
    assert entry["sources"]["params"] == "counted"
    assert 0.0 <= entry["objectives"]["accuracy"] <= 1.0
    records = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    alpha = [r for r in records if r["event"] == "alpha"]
    assert alpha and all({"reward", "baseline", "accuracy", "entropy", "costs"} <= set(r) for r in alpha)
    assert len(alpha) == sum(stage_steps(cfg, st, len(digits.train))["alpha_steps"] for st in cfg.stages)  # the plan
    assert on_disk["hypervolume"]["range_source"]["params"]["source"].startswith("cheapest and dearest")
    # Refuses to overwrite a finished search without --resume.
    with pytest.raises(Exception, match="--resume"):
        run_search(cfg, tmp_path, data=digits, progress=False, echo=lambda s: None)


def test_same_seed_same_search(tmp_path, digits):
    cfg = load_search_config(None, TINY)
    a = run_search(cfg, tmp_path / "a", data=digits, progress=False, echo=lambda s: None)
    b = run_search(cfg, tmp_path / "b", data=digits, progress=False, echo=lambda s: None)
    assert a["genotypes"] == b["genotypes"]


@pytest.mark.parametrize("argv, message", [
    (["--dataset", "mnist"], "unknown dataset 'mnist'"),
    (["--reward", "acc,speed"], "unknown or repeated objective"),
    (["--reward", "acc,flops"], "'flops' needs a target"),
    (["--reward", "acc,flops", "--target", "params=1M"], "target/exponent given for params"),
    (["--lut", "/nonexistent/table.json"], "no lookup table at /nonexistent/table.json"),
    (["--preferences", "fast;slow:latency=1ms"], "--preference: cannot read 'fast'"),
    (["--target", "params"], "--target: cannot read"),
])
def test_bad_flags_are_one_line_errors(argv, message, capsys, tmp_path):
    assert main(["search", "--config", "configs/search/demo.yaml", "--out", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and err.startswith("tnd: error:")


@pytest.mark.parametrize("yaml_text, message", [
    ("stages: [{cells: 3, ops: 9, epochs: 1, warmup_epochs: 0}]\n", "the first stage keeps 9 of the 8 normal ops"),
    ("ops: {normal: [none, conv_9x9]}\n", "unknown op(s) conv_9x9"),
    ("policy: {samples: zero}\n", "policy.samples: expected an integer"),
    ("weights: {learning_rate: 0.1}\n", "unknown setting(s) learning_rate"),
    ("stages: [{cells: 3, ops: 4, epochs: 1, warmup_epochs: 0}\n", "not valid YAML"),
])
def test_bad_config_files_exit_2_without_traceback(yaml_text, message, tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml_text)
    proc = subprocess.run([sys.executable, "-m", "tnd.cli.main", "search", "--config", str(cfg),
                           "--out", str(tmp_path / "run")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_tiny_search_finds_a_network_that_learns_digits(tmp_path, digits):
    """End to end: search on digits, then train the derived network briefly: far above chance (10%)."""
    cfg = load_search_config(None, {**TINY, "weights": {"lr": 0.1}})
    result = run_search(cfg, tmp_path, data=digits, progress=False, echo=lambda s: None)
    genotype = Genotype.from_dict(result["genotypes"][result["pareto"][0]]["genotype"])
    from tnd.deploy import TrainConfig, train

    report = train(genotype, TrainConfig(dataset="digits", channels=8, layers=5, epochs=8, batch_size=64, lr=0.05,
                                         cutout=False, auxiliary=False, drop_path_prob=0.0),
                   tmp_path / "train", data=digits, progress=False, echo=lambda s: None)
    assert report["test_accuracy"] > 0.8


def test_new_reward_drops_the_config_files_targets_and_preferences_for_removed_costs():
    from tnd.cli.main import build_parser
    from tnd.cli.search import overrides_from

    args = build_parser().parse_args(["search", "--config", "configs/search/demo.yaml", "--reward", "acc,params",
                                      "--target", "params=60k", "--energy", "total"])
    o = overrides_from(args)
    assert o["reward.objectives"] == ["acc", "params"] and o["reward.targets.params"] == "60k"
    assert o["reward.energy"] == "total"
    cfg = load_search_config("configs/search/demo.yaml", o)
    assert cfg.reward.objectives == ["acc", "params"] and cfg.reward.targets == {"params": "60k"}
    assert cfg.reward.exponents == {}       # the file's latency exponent went with latency
    assert not cfg.preferences              # the demo's series is over latency only
    assert cfg.reward.energy == "total"


def test_target_flag_sets_one_cost_and_keeps_the_files_others():
    cfg = load_search_config("configs/search/demo.yaml", {"reward.objectives": ["acc", "latency", "params"],
                                                          "reward.targets.params": "60k"})
    assert cfg.reward.targets == {"latency": "0.12ms", "params": "60k"}
    assert [p.name for p in cfg.preferences] == ["fast", "balanced", "accurate"]
    assert [p.spec.targets for p in cfg.resolve_preferences()] == [((0.08,) * 3, (60e3,) * 3),
                                                                   ((0.12,) * 3, (60e3,) * 3),
                                                                   ((0.2,) * 3, (60e3,) * 3)]


def test_derived_genotypes_can_be_scored_by_a_short_training(tmp_path, digits):
    cfg = load_search_config(None, {**TINY, "derive": {"evaluate": "train", "train_epochs": 2},
                                    "preferences": [{"name": "small", "targets": {"params": "10k"}},
                                                    {"name": "large", "targets": {"params": "80k"}}]})
    result = run_search(cfg, tmp_path, data=digits, progress=False, echo=lambda s: None)
    for i, e in enumerate(result["genotypes"]):
        assert e["sources"]["accuracy"] == "trained-2-epochs-validation"
        assert e["sources"]["supernet_accuracy"] == "supernet-validation"
        report = json.loads((tmp_path / "derived" / str(i) / "train.json").read_text())
        assert report["epochs"] == 2 and report["genotype"] == e["genotype"]
        assert e["objectives"]["accuracy"] == report["history"][-1]["val_accuracy"]   # validation, never test
    saved = json.loads((tmp_path / "result.json").read_text())
    assert saved["genotypes"] == result["genotypes"]
