"""Config as users write it: `lr: 1e-3` is a number, and `--set key.path=value` changes one setting."""

import pytest

import tnd.deploy
import tnd.search.run
from tnd.cli.main import main
from tnd.cli.set_option import parse_set
from tnd.deploy import TrainConfig, load_train_config
from tnd.errors import TndError
from tnd.schema import from_data
from tnd.search.config import load_search_config


def test_yaml_exponent_without_a_dot_is_a_number(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("dataset: digits\nweights: {lr: 1e-3, weight_decay: 3E-4}\npolicy: {lr: 5e-2}\n")
    cfg = load_search_config(path)
    assert cfg.weights.lr == 0.001 and cfg.weights.weight_decay == 0.0003 and cfg.policy.lr == 0.05
    (tmp_path / "t.yaml").write_text("dataset: digits\nlr: 1e-3\nlr_min: 0\nweight_decay: -.5e-1\n")
    with pytest.raises(TndError, match="weight_decay"):   # parsed as the number -0.05, then refused as negative
        load_train_config(tmp_path / "t.yaml")
    assert from_data(TrainConfig, {"dataset": "digits", "lr": "1e-3"}, "t").lr == 0.001


@pytest.mark.parametrize("text", ["fast", "1e", "2ms", "1e-3x", ""])
def test_strings_that_are_not_numbers_are_still_refused_where_a_number_is_expected(text):
    with pytest.raises(TndError, match=r"train.*lr: expected a number"):
        from_data(TrainConfig, {"lr": text}, "train")


def test_set_values_are_yaml_scalars():
    got = parse_set(["weights.lr=1e-3", "derive.evaluate=supernet", "cutout=false", "data_dir=null",
                     "stages=[{cells: 2, ops: 8, epochs: 1, warmup_epochs: 0}]", "name=a=b", "epochs=3",
                     "epochs=4"])
    assert got == {"weights.lr": "1e-3", "derive.evaluate": "supernet", "cutout": False, "data_dir": None,
                   "stages": [{"cells": 2, "ops": 8, "epochs": 1, "warmup_epochs": 0}], "name": "a=b",
                   "epochs": 4}


@pytest.mark.parametrize("item, message", [
    ("weights.lr", "write KEY.PATH=VALUE"), ("=3", "write KEY.PATH=VALUE"), ("weights..lr=3", "KEY.PATH=VALUE"),
    ("x=[1, 2", "not a YAML value"), ("weights={lr: 1}", "one setting per --set"),
])
def test_bad_set_items_are_one_line_errors(item, message):
    with pytest.raises(TndError, match=message):
        parse_set([item])


def test_tnd_search_set_overrides_the_preset(monkeypatch):
    seen = {}

    def fake_run_search(cfg, out, **kwargs):
        seen["cfg"], seen["out"] = cfg, out
        return {}

    monkeypatch.setattr(tnd.search.run, "run_search", fake_run_search)
    assert main(["search", "--config", "demo", "--set", "weights.lr=1e-3", "--set", "derive.evaluate=supernet",
                 "--set", "reward.targets.latency=0.3ms", "--seed", "3", "--out", "somewhere"]) == 0
    cfg = seen["cfg"]
    assert cfg.name == "demo" and cfg.seed == 3 and seen["out"] == "somewhere"
    assert cfg.weights.lr == 0.001 and cfg.derive.evaluate == "supernet"
    assert cfg.reward.targets["latency"] == "0.3ms" and cfg.weights.batch_size == 64   # the rest: the preset's
    assert main(["search", "--config", "demo", "--set", "weights.nosuch=1"]) == 2


def test_tnd_train_set_overrides_the_preset_and_wins_over_flags(monkeypatch):
    seen = {}

    def fake_train(genotype, cfg, out, **kwargs):
        seen["cfg"], seen["kwargs"] = cfg, kwargs
        return {}

    monkeypatch.setattr(tnd.deploy, "train", fake_train)
    assert main(["train", "--genotype", "DARTS_V2", "--config", "digits", "--out", "x", "--epochs", "5",
                 "--set", "lr=1e-3", "--set", "epochs=7", "--no-amp", "--tensorboard", "tb"]) == 0
    cfg = seen["cfg"]
    assert cfg.dataset == "digits" and cfg.lr == 0.001 and cfg.epochs == 7 and cfg.amp is False
    assert cfg.channels_last is True and seen["kwargs"]["tensorboard"] == "tb"
    assert main(["train", "--genotype", "DARTS_V2", "--out", "x", "--set", "lr=fast"]) == 2
