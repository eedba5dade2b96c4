"""`tnd search --space nb201`: the NAS-Bench-201 supernet searched on data with the DARTS space's loop."""

import json

import pytest

from tnd.cli.main import main
from tnd.costs import CountingCosts, NB201CountingCosts
from tnd.errors import TndError
from tnd.search.config import load_search_config
from tnd.search.progressive import ProgressiveSearch
from tnd.search.run import build_costs, plan_search, run_search
from tnd.search.spaces import get_space, space_names
from tnd.space.nb201 import NB201_OPS, NB201Arch, NB201Shape, build_nb201_network

TINY = {
    "space": "nb201", "dataset": "digits", "channels": 4,
    "stages": [{"cells": 1, "ops": 5, "epochs": 1, "warmup_epochs": 0},
               {"cells": 1, "ops": 2, "epochs": 1, "warmup_epochs": 0}],
    "weights": {"lr": 0.1, "steps_per_epoch": 4},
    "policy": {"sampling": "edges", "samples": 3, "alpha_every": 2, "val_batch_size": 128},
    "reward": {"objectives": ["acc", "params"], "targets": {"params": "0.3M"}},
    "preferences": [{"name": "small", "targets": {"params": "0.1M"}},
                    {"name": "large", "targets": {"params": "1M"}, "exponents": {"params": -0.05}}],
}
QUIET = {"progress": False, "echo": lambda s: None}


def n_params(net) -> int:
    return sum(p.numel() for p in net.parameters())


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, digits, single_thread):
    out = tmp_path_factory.mktemp("nb201") / "full"
    cfg = load_search_config(None, TINY)
    return cfg, out, run_search(cfg, out, data=digits, **QUIET)


def test_registry_names_both_spaces():
    assert {"darts", "nb201"} <= set(space_names())
    assert get_space("nb201").cell_types == ("cell",)
    with pytest.raises(TndError, match="unknown space 'nas101'"):
        get_space("nas101")


def test_nb201_search_writes_nb201_cells_with_counted_params(tiny_run):
    cfg, out, result = tiny_run
    for name in ("result.json", "log.jsonl", "checkpoint.pt", "config.yaml", "pareto.png"):
        assert (out / name).is_file(), name
    on_disk = json.loads((out / "result.json").read_text())
    assert on_disk["config"]["space"] == "nb201" and len(on_disk["genotypes"]) == 2
    shape = NB201Shape(channels=16, cells_per_stage=5, num_classes=10, in_channels=1, input_size=8)
    assert cfg.target_shape() == shape  # NB201's own network (C=16, N=5) by default, on digits' 8x8x1
    for entry in on_disk["genotypes"]:
        assert entry["genotype"]["space"] == "nb201"
        arch = NB201Arch.parse(entry["genotype"]["arch"])
        assert NB201Arch.from_dict(arch.to_dict()) == arch and str(arch) == entry["genotype"]["arch"]
        assert entry["objectives"]["params"] == n_params(build_nb201_network(arch, shape))
        assert entry["sources"]["params"] == "counted" and entry["sources"]["flops"] == "counted"
        assert entry["sources"]["accuracy"] == "supernet-validation"
        assert 0.0 <= entry["objectives"]["accuracy"] <= 1.0
        assert set(entry["targets"]) == {"params"} and isinstance(entry["warnings"], list)
    assert on_disk["hypervolume"]["range_source"]["params"]["range"] == [
        n_params(build_nb201_network(NB201Arch(("none",) * 6), shape)),
        n_params(build_nb201_network(NB201Arch(("nor_conv_3x3",) * 6), shape))]


def test_progressive_shrinking_keeps_the_stage_count_per_edge(tiny_run):
    _, out, _ = tiny_run
    stages = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    stages = [r for r in stages if r["event"] == "stage"]
    assert len(stages) == 4  # 2 preferences x 2 stages
    for r in stages:
        alive = r["alive"]["cell"]
        assert len(alive) == 6 and all(len(ops) == (5 if r["stage"] == 0 else 2) for ops in alive)
        assert all(set(ops) <= set(NB201_OPS) for ops in alive)
    assert all(r["dropped"] == 18 for r in stages if r["stage"] == 1)


def test_resumed_nb201_search_matches_uninterrupted(tiny_run, tmp_path, digits):
    cfg, out, full = tiny_run
    prefs = cfg.resolve_preferences()
    cut = tmp_path / "cut"
    search = ProgressiveSearch(cfg, prefs, digits, build_costs(cfg, prefs), cut, progress=False)
    assert search.run(stop_after_epochs=3) is None   # stopped inside the second preference
    resumed = run_search(cfg, cut, resume=True, data=digits, **QUIET)
    assert resumed["genotypes"] == full["genotypes"]
    assert (cut / "log.jsonl").read_text() == (out / "log.jsonl").read_text()


def test_random_strategy_runs_on_nb201(tmp_path, digits, single_thread):
    cfg = load_search_config(None, {**TINY, "strategy": "random", "preferences": []})
    result = run_search(cfg, tmp_path, data=digits, **QUIET)
    (entry,) = result["genotypes"]
    NB201Arch.from_dict(entry["genotype"])
    assert entry["warnings"] and entry["warnings"][0].startswith("random baseline: best of")
    stages = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert all(r["dropped"] == 0 for r in stages if r["event"] == "stage")  # no alpha to shrink by


def test_costs_and_plan_follow_the_space():
    cfg = load_search_config(None, TINY)
    (model,) = build_costs(cfg, cfg.resolve_preferences()).models
    assert isinstance(model, NB201CountingCosts) and not isinstance(model, CountingCosts)
    plan = plan_search(cfg)
    assert "cell (5): none, skip_connect" in plan and "NB201: 16 channels, 3 stages of 5 cells" in plan


@pytest.mark.parametrize("settings, message", [
    ({"ops": {"cell": ["none", "sep_conv_3x3"]}}, "sep_conv_3x3 in ops.cell are not NB201 ops"),
    ({"policy": {"sampling": "derived"}}, "set policy.sampling: edges"),
    ({"reward": {"objectives": ["acc", "latency"], "targets": {"latency": "1ms"}}, "preferences": []},
     "--space nb201: latency needs a table measured with NB201 parts"),
    ({"stages": [{"cells": 1, "ops": 6, "epochs": 1, "warmup_epochs": 0}]}, "the first stage keeps 6 of the 5"),
    ({"derive": {"evaluate": "train"}}, "derive.evaluate: supernet"),
    ({"network": {"channels": 16, "layers": 16}}, "must be a multiple of 3"),
])
def test_bad_nb201_settings_are_one_line_errors(settings, message, tmp_path, capsys):
    data = {**TINY, **settings}
    if "policy" in settings:
        data["policy"] = {**TINY["policy"], **settings["policy"]}
    with pytest.raises(TndError, match=message.replace(".", r"\.")) as info:
        cfg = load_search_config(None, data)
        build_costs(cfg, cfg.resolve_preferences())
    assert len(str(info.value).splitlines()) == 1
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    assert main(["search", "--config", str(path), "--out", str(tmp_path / "out"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and err.startswith("tnd: error:")


def test_cli_runs_the_nb201_preset(tmp_path, capsys, single_thread):
    out = tmp_path / "run"
    argv = ["search", "--space", "nb201", "--config", "nb201-digits", "--out", str(out), "--no-progress",
            "--set", "weights.steps_per_epoch=2", "--set", "channels=4", "--set", "policy.samples=2",
            "--set", "stages=[{cells: 1, ops: 5, epochs: 1, warmup_epochs: 0}, {cells: 1, ops: 3, epochs: 1, "
            "warmup_epochs: 0}]"]
    assert main(argv) == 0
    result = json.loads((out / "result.json").read_text())
    assert result["config"]["name"] == "nb201-digits" and len(result["genotypes"]) == 3
    assert all(NB201Arch.from_dict(e["genotype"]) for e in result["genotypes"])
    assert "|" in capsys.readouterr().out   # the summary prints the NB201 strings
    # The DARTS preset with --space nb201 says what to change.
    assert main(["search", "--space", "nb201", "--config", "demo", "--dry-run"]) == 2
    assert "nb201" in capsys.readouterr().err


def test_tabular_still_needs_space_nb201(tmp_path, capsys):
    assert main(["search", "--tabular", str(tmp_path / "t.csv"), "--accuracy", "a", "--out", str(tmp_path)]) == 2
    assert "add --space nb201" in capsys.readouterr().err


def test_tnd_train_refuses_an_nb201_result_in_one_line(tiny_run, capsys, tmp_path):
    _, out, _ = tiny_run
    assert main(["train", "--genotype", str(out / "result.json"), "--out", str(tmp_path / "t")]) == 2
    err = capsys.readouterr().err.strip()
    assert "is a nb201 cell" in err and len(err.splitlines()) == 1


def test_latency_from_a_table_of_nb201_parts(tmp_path, digits, single_thread):
    """A table that holds every NB201 part at the deployed shape serves latency, with its provenance."""
    from tnd.lut.table import LookupTable
    from tnd.space.nb201 import live_network_parts, network_parts, space_parts
    from tnd.space.parts import part_flops

    overhead = 0.01
    data = {**TINY, "reward": {"objectives": ["acc", "latency"], "targets": {"latency": "0.2ms"}}, "preferences": []}
    shape_cfg = load_search_config(None, TINY)
    entries = {}
    for key in space_parts(shape_cfg.cost_shapes(), NB201_OPS):
        lat = overhead + 0.001 + part_flops(key) * 1e-7
        entries[str(key)] = {"latency_ms": {"median": lat, "p10": lat, "p90": lat, "n": 1}, "energy_mj": None,
                             "flops": part_flops(key), "params": 0}
    table = LookupTable(device={"preset": "cpu"}, runtime={"provider": "CPUExecutionProvider"},
                        settings={"batch_size": 1, "dtype": "float32", "warmup": 1, "repeats": 1,
                                  "energy_method": "none", "call_overhead_ms": overhead}, entries=entries)
    path = table.save(tmp_path / "nb201.json")
    cfg = load_search_config(None, {**data, "cost": {"lut": str(path)}})
    costs = build_costs(cfg, cfg.resolve_preferences())
    # node 3 does not read node 2: its skip edge is dead code, which the runtime removes and latency skips
    arch = NB201Arch.parse("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|none~2|")
    by_hand = overhead + sum(table.latency_ms(p) - overhead for p in live_network_parts(arch, cfg.target_shape()))
    assert costs(arch)["latency"].value == pytest.approx(by_hand) and costs(arch)["latency"].source == "measured"
    every_edge = overhead + sum(table.latency_ms(p) - overhead for p in network_parts(arch, cfg.target_shape()))
    assert by_hand < every_edge
    result = run_search(cfg, tmp_path / "run", data=digits, costs=costs, **QUIET)
    (entry,) = result["genotypes"]
    assert entry["sources"]["latency_ms"] == "measured"
    derived = NB201Arch.from_dict(entry["genotype"])
    assert entry["objectives"]["latency_ms"] == pytest.approx(costs(derived)["latency"].value)
    # Without one of the NB201 parts the table is refused in one line.
    del table.entries[next(iter(table.entries))]
    table.save(path)
    with pytest.raises(TndError, match="lacks 1 of them"):
        build_costs(cfg, cfg.resolve_preferences())


def test_the_nb201_cifar10_preset_plans_nb201s_protocol_without_data(capsys):
    """The CIFAR-10 preset (no CIFAR here: a dry run reads no data): NB201's C=16, N=5 network at 32px, 25k
    search-training images in batches of 64 for 50 epochs, and NB201's largest network at about 1.5M params."""
    from tnd.cli.main import main

    assert main(["search", "--config", "nb201-cifar10", "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "(NB201: 16 channels, 3 stages of 5 cells, 32px)" in text
    assert "25000 training images, batch 64" in text
    rows = [r.split() for r in text.splitlines() if r.split()[:2] in (["1", "5"], ["2", "5"])]
    assert [r[5] for r in rows] == ["9775", "9775"]                # ceil(25000 / 64) x 25 epochs per stage
    params = [r for r in text.splitlines() if r.strip().startswith("params")][0].split()
    assert params[1] == "0.073M" and 1.45 <= float(params[2].rstrip("M")) <= 1.6
