"""Hardware-aware search: LUT costs steer the policy; result files carry measured costs and their sources."""

import json

import pytest

from tnd.costs.base import CostSuite
from tnd.costs.counting import CountingCosts
from tnd.costs.lut_costs import LutCosts
from tnd.errors import TndError
from tnd.lut.table import LookupTable
from tnd.search.config import load_search_config
from tnd.search.lut_source import check_table, load_search_lut
from tnd.search.run import run_search
from tnd.space import Architecture, Genotype
from tnd.space.parts import network_parts, part_flops, space_parts

OVERHEAD = 0.005
pytestmark = pytest.mark.usefixtures("single_thread")

BASE = {
    "dataset": "digits", "channels": 4, "network": {"channels": 8, "layers": 5},
    "stages": [{"cells": 2, "ops": 8, "epochs": 8, "warmup_epochs": 1}],
    "weights": {"lr": 0.1, "steps_per_epoch": 10},
    "policy": {"samples": 8, "alpha_every": 1, "lr": 0.3},
}


def synthetic_table(cfg, energy: bool = False) -> LookupTable:
    """A table whose latency grows with MACs: convolutions dear, pools and skips cheap."""
    entries = {}
    for key in space_parts(cfg.cost_shapes(), cfg.ops.normal, cfg.ops.reduce):
        lat = OVERHEAD + 0.002 + part_flops(key) * 2e-6
        entries[str(key)] = {"latency_ms": {"median": lat, "p10": lat, "p90": lat, "n": 1},
                             "energy_mj": {"total": 10 * lat, "dynamic": 5 * lat} if energy else None,
                             "flops": part_flops(key), "params": 0}
    return LookupTable(device={"preset": "cpu"}, runtime={"provider": "CPUExecutionProvider"},
                       settings={"batch_size": 1, "dtype": "float32", "warmup": 1, "repeats": 1,
                                 "energy_method": "nvml-energy-counter" if energy else "none",
                                 "call_overhead_ms": OVERHEAD}, entries=entries)


def search(tmp_path, digits, reward, name, seed=0):
    cfg = load_search_config(None, {**BASE, "reward": reward, "seed": seed})
    table = synthetic_table(cfg)
    costs = CostSuite([CountingCosts(cfg.target_shape()), LutCosts(table, cfg.target_shape())])
    return run_search(cfg, tmp_path / name, data=digits, costs=costs, progress=False, echo=lambda s: None), table, cfg


# Seed 0 fails on main with torch 2.14 (also on the untouched commit 5d65a7d): 14-edge samples meet the latency
# penalty by putting probability on `none`, which derivation throws away (issue 10, item 7). The fix (samples of
# the derived form) is on branch issue10-loop; when it lands this mark must go.
@pytest.mark.parametrize("seed", [0, 1])
def test_latency_reward_finds_a_faster_network_than_accuracy_alone(tmp_path, digits, seed):
    acc_only, table, cfg = search(tmp_path, digits, {"objectives": ["acc"]}, "acc", seed)
    fast, _, _ = search(tmp_path, digits, {"objectives": ["acc", "latency"], "targets": {"latency": "0.05ms"},
                                           "exponents": {"latency": -2.0}}, "fast", seed)
    costs = LutCosts(table, cfg.target_shape())

    def latency(result):
        return costs(Architecture.from_genotype(Genotype.from_dict(result["genotypes"][0]["genotype"])))["latency"].value

    assert latency(fast) < 0.95 * latency(acc_only)
    entry = fast["genotypes"][0]
    assert entry["sources"]["latency_ms"] == "measured"
    assert entry["objectives"]["latency_ms"] == pytest.approx(latency(fast))
    saved = json.loads((tmp_path / "fast" / "result.json").read_text())
    assert saved["hypervolume"]["objectives"] == ["error", "latency_ms"]


def test_network_latency_is_overhead_plus_sum_of_parts():
    cfg = load_search_config(None, {**BASE, "reward": {"objectives": ["acc"]}})
    table = synthetic_table(cfg, energy=True)
    g = Genotype.from_dict({"normal": [["sep_conv_3x3", 0], ["skip_connect", 1]] * 4, "normal_concat": [2, 3, 4, 5],
                            "reduce": [["max_pool_3x3", 0], ["dil_conv_5x5", 1]] * 4, "reduce_concat": [2, 3, 4, 5]})
    parts = network_parts(Architecture.from_genotype(g), cfg.target_shape())
    by_hand = OVERHEAD + sum(table.latency_ms(p) - OVERHEAD for p in parts)
    got = LutCosts(table, cfg.target_shape())(Architecture.from_genotype(g))
    assert got["latency"].value == pytest.approx(by_hand)
    # Energy: each entry's share outside the per-call overhead, plus the one call's own share.
    assert got["energy"].source == "measured"
    assert got["energy"].value == pytest.approx(5 * by_hand)


def test_search_refuses_tables_that_do_not_fit(tmp_path):
    cfg = load_search_config(None, {**BASE, "reward": {"objectives": ["acc", "energy"], "targets": {"energy": "1mJ"}}})
    table = synthetic_table(cfg)
    with pytest.raises(TndError, match="no energy"):
        check_table(table, cfg, needs_energy=True)
    table.settings["batch_size"] = 8
    with pytest.raises(TndError, match="batch size 8"):
        check_table(table, cfg, needs_energy=False)
    est = synthetic_table(cfg, energy=True)
    est.settings["energy_method"] = "tdp-estimate"
    with pytest.raises(TndError, match="allow-estimates"):
        check_table(est, load_search_config(None, {**BASE, "reward": {"objectives": ["acc", "energy"], "targets": {"energy": "1mJ"},
                                                                       "energy": "total"}}), needs_energy=True)
    missing = load_search_config(None, {**BASE, "reward": {"objectives": ["acc", "latency"], "targets": {"latency": "1ms"}},
                                        "cost": {"lut": str(tmp_path / "nope.json")}})
    with pytest.raises(TndError, match="build it with tools/build_lut.py"):
        load_search_lut(missing, needs_energy=False)
    (tmp_path / "bad.json").write_text('{"format": "tnd-lut/1", "device": {}')
    broken = load_search_config(None, {**BASE, "reward": {"objectives": ["acc", "latency"], "targets": {"latency": "1ms"}},
                                       "cost": {"lut": str(tmp_path / "bad.json")}})
    with pytest.raises(TndError, match="bad.json"):
        load_search_lut(broken, needs_energy=False)
