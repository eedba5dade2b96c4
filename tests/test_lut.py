"""Lookup tables: real ONNX Runtime timings of parts, a small real build with resume, the schema,
the predictor, network costs from a table, the search's table checks and the validate helpers."""

import copy
import json
import random
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from tnd.errors import TndError
from tnd.lut.build import MeasureOptions, check_resumable
from tnd.lut.table import FORMAT, LookupTable
from tnd.search.lut_source import table_coverage
from tnd.space.parts import PartKey, lut_key, network_parts, parse_key, part_flops, space_parts
from tnd.space.plan import NetworkShape

pytestmark = pytest.mark.usefixtures("single_thread")


# ----------------------------------------------------------------------------------- part ordering


def test_part_latency_ordering_on_cpu():
    from profilers.latency import OrtModel, RuntimeSettings, time_calls
    from tnd.lut.parts_onnx import part_onnx

    ops = ["sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "max_pool_3x3", "avg_pool_3x3"]
    models = {o: OrtModel(part_onnx(PartKey(o, 32, 32, 32, 32, 1)), RuntimeSettings(threads=1)) for o in ops}
    medians = {o: [] for o in ops}
    for _ in range(8):  # interleaved rounds: a slow phase of the machine hits every op alike
        for o in ops:
            medians[o].append(time_calls(models[o], warmup=5, repeats=60).median)
    lat = {o: float(np.median(v)) for o, v in medians.items()}
    assert all(v > 0 for v in lat.values()), lat
    assert lat["sep_conv_5x5"] > 1.08 * lat["sep_conv_3x3"], lat
    for pool in ("max_pool_3x3", "avg_pool_3x3"):
        assert lat[pool] < 0.8 * lat["sep_conv_3x3"], lat
        assert lat[pool] < 0.8 * lat["dil_conv_3x3"], lat


def test_part_onnx_matches_torch_module():
    from profilers.latency import OrtModel, RuntimeSettings
    from tnd.lut.parts_onnx import part_onnx
    from tnd.space.parts import part_module

    key = PartKey("sep_conv_3x3", 8, 8, 8, 8, 2)
    x = np.random.default_rng(0).standard_normal((1, 8, 8, 8)).astype(np.float32)
    torch.manual_seed(0)
    model = OrtModel(part_onnx(key), RuntimeSettings(threads=1), inputs=[x])
    (out,) = model.outputs()
    torch.manual_seed(0)
    module = part_module(key).eval()
    with torch.no_grad():
        ref = module(torch.from_numpy(x)).numpy()
    assert out.shape == ref.shape == (1, 8, 4, 4)
    assert np.allclose(out, ref, atol=1e-4)


# ----------------------------------------------------------------------------------- a real build

CONFIG = """\
name: tiny
dataset: digits
seed: 0
channels: 8
stages:
  - {cells: 3, ops: 4, epochs: 1, warmup_epochs: 0}
ops:
  normal: [none, skip_connect, max_pool_3x3, sep_conv_3x3]
  reduce: [none, skip_connect, max_pool_3x3, sep_conv_3x3]
weights:
  batch_size: 64
  lr: 0.1
policy:
  samples: 2
  alpha_every: 2
  lr: 0.05
  val_batch_size: 128
reward:
  objectives: [acc, params]
  form: soft
  targets: {params: 60k}
  exponents: {params: -0.3}
network:
  channels: 8
  layers: 5
cost:
  batch_size: 1
"""


def _quiet(_msg):
    pass


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One real CPU build (quick, tdp-estimate energy), shared by the tests that read it."""
    from tnd.lut.pipeline import BuildRequest, build_lut

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        d = tmp_path_factory.mktemp("lutbuild")
        config = d / "tiny.yaml"
        config.write_text(CONFIG)
        out = d / "cpu.json"
        table = build_lut(BuildRequest(device="cpu", coverage=table_coverage([str(config)]), out=str(out), quick=True, progress=False,
                                       energy="tdp-estimate"), echo=_quiet)
        return SimpleNamespace(dir=d, config=config, out=out, table=table, text=out.read_text())
    finally:
        torch.set_num_threads(old)


def _cfg(path, **overrides):
    from tnd.search.config import load_search_config

    return load_search_config(str(path), overrides=overrides or None)


def test_build_covers_every_key_with_positive_latency(built):
    table = LookupTable.load(built.out)
    keys = _cfg(built.config).part_keys()
    assert keys and len(keys) == len(set(keys))
    assert set(table.entries) == {str(k) for k in keys}
    for k in keys:
        e = table.entries[str(k)]
        lat = e["latency_ms"]
        assert lat["median"] > 0 and lat["p10"] > 0 and lat["p90"] >= lat["median"] >= lat["p10"]
        assert lat["n"] == MeasureOptions.quick().repeats
        assert e["flops"] == part_flops(k)
        assert e["energy_mj"]["total"] > 0
        assert e["energy_mj"]["estimate"] == "tdp-estimate"
        assert e["energy_mj"]["dynamic"] is None
    assert table.call_overhead_ms > 0
    assert table.device["preset"] == "cpu"
    assert table.runtime["provider"] == "CPUExecutionProvider" and table.runtime["threads"] == 1
    assert table.settings["batch_size"] == 1
    assert table.settings["shapes"] and table.settings["shapes"][0]["channels"] == 8


def test_build_energy_labelled_estimate(built):
    table = LookupTable.load(built.out)
    assert table.settings["energy_method"] == "tdp-estimate"
    assert table.settings["energy_is_estimate"] is True
    assert table.energy_is_estimate and table.has_energy


def test_lut_show_mentions_estimate(built, capsys):
    from tnd.cli.main import main

    assert main(["lut", "show", str(built.out)]) == 0
    out = capsys.readouterr().out
    assert "ESTIMATE" in out
    assert str(built.out) in out
    assert "cpu" in out


def test_built_table_prices_a_network_with_estimated_energy(built):
    from tnd.costs.lut_costs import LutCosts
    from tnd.space.genotype import Architecture, random_genotype

    cfg = _cfg(built.config)
    table = LookupTable.load(built.out)
    shape = cfg.target_shape()
    ops = [o for o in cfg.ops.normal if o != "none"]
    arch = Architecture.from_genotype(random_genotype(random.Random(0), ops, ops))
    costs = LutCosts(table, shape, strict=True, energy="total")
    got = costs(arch)
    parts = network_parts(arch, shape)
    ov = table.call_overhead_ms
    assert got["latency"].value == pytest.approx(ov + sum(max(table.latency_ms(k) - ov, 0) for k in parts))
    assert got["latency"].source == "measured"
    assert got["energy"].source == "estimated" and got["energy"].value > 0


def test_lut_show_missing_file_is_one_line_error(tmp_path, capsys):
    from tnd.cli.main import main

    assert main(["lut", "show", str(tmp_path / "none.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("tnd: error: ") and "none.json" in err[0]


def test_resume_keeps_measured_entries_and_fills_missing(built, tmp_path):
    from tnd.lut.pipeline import BuildRequest, build_lut

    out = tmp_path / "cpu.json"
    data = json.loads(built.text)
    names = sorted(data["entries"])
    dropped = names[::7][:4]
    for k in dropped:
        del data["entries"][k]
    out.write_text(json.dumps(data))
    kept = {k: json.dumps(v, sort_keys=True) for k, v in data["entries"].items()}

    build_lut(BuildRequest(device="cpu", coverage=table_coverage([str(built.config)]), out=str(out), quick=True, progress=False,
                           energy="tdp-estimate", resume=True), echo=_quiet)
    new = json.loads(out.read_text())
    assert set(new["entries"]) == set(json.loads(built.text)["entries"])
    for k, text in kept.items():
        assert json.dumps(new["entries"][k], sort_keys=True) == text, f"{k} was re-measured"
    for k in dropped:
        assert new["entries"][k]["latency_ms"]["median"] > 0
    assert new["settings"]["resumed_from"] == data["settings"]["date"]
    LookupTable.load(out)


def test_resume_with_different_settings_errors(built, tmp_path):
    from tnd.lut.pipeline import BuildRequest, build_lut

    out = tmp_path / "cpu.json"
    out.write_text(built.text)
    with pytest.raises(TndError) as e:
        build_lut(BuildRequest(device="cpu", coverage=table_coverage([str(built.config)]), out=str(out), quick=True, progress=False,
                               energy="none", resume=True), echo=_quiet)
    assert "energy method" in str(e.value) and str(out) in str(e.value)
    assert out.read_text() == built.text  # untouched


def test_existing_table_without_resume_errors(built, tmp_path):
    from tnd.lut.pipeline import BuildRequest, build_lut

    out = tmp_path / "cpu.json"
    out.write_text(built.text)
    with pytest.raises(TndError) as e:
        build_lut(BuildRequest(device="cpu", coverage=table_coverage([str(built.config)]), out=str(out), quick=True, progress=False,
                               energy="tdp-estimate"), echo=_quiet)
    assert str(out) in str(e.value) and "--resume" in str(e.value)
    assert out.read_text() == built.text


def _table(**settings):
    base = {"batch_size": 1, "dtype": "float32", "warmup": 5, "repeats": 25, "energy_method": "none",
            "call_overhead_ms": 0.01}
    return LookupTable(device={"preset": "cpu"}, runtime={"provider": "CPUExecutionProvider", "threads": 1},
                       settings={**base, **settings})


@pytest.mark.parametrize("change, what", [
    (lambda t: t.device.update(preset="h100"), "device preset"),
    (lambda t: t.runtime.update(provider="CUDAExecutionProvider"), "provider"),
    (lambda t: t.runtime.update(threads=2), "threads"),
    (lambda t: t.settings.update(batch_size=8), "batch size"),
    (lambda t: t.settings.update(energy_method="tdp-estimate"), "energy method"),
    (lambda t: t.settings.update(repeats=100), "repeats"),
])
def test_check_resumable(change, what, tmp_path):
    old, new = _table(), _table()
    old.path = tmp_path / "x.json"
    check_resumable(old, new)
    change(new)
    with pytest.raises(TndError, match=what):
        check_resumable(old, new)


# ------------------------------------------------------------------------------------------ schema


def _entry(median, energy=None):
    return {"latency_ms": {"median": median, "p10": median * 0.9, "p90": median * 1.1, "n": 25},
            "energy_mj": energy, "flops": 0, "params": 0}


def _small_table():
    t = _table()
    t.entries = {lut_key("sep_conv_3x3", 8, 8, 8, 8, 1): _entry(0.1), lut_key("add", 8, 8, 8, 8, 1): _entry(0.02)}
    return t


def test_schema_round_trip(tmp_path):
    t = _small_table()
    t.predictor = {"kind": "x"}
    path = t.save(tmp_path / "t.json")
    back = LookupTable.load(path)
    assert back.to_dict() == t.to_dict()
    assert back.to_dict()["format"] == FORMAT
    assert back.path == path
    assert LookupTable.from_dict(json.loads(json.dumps(t.to_dict()))).to_dict() == t.to_dict()


def test_built_table_round_trips(built, tmp_path):
    t = LookupTable.load(built.out)
    t.save(tmp_path / "again.json")
    assert LookupTable.load(tmp_path / "again.json").to_dict() == t.to_dict()


def _bad_files(tmp_path):
    good = _small_table().to_dict()
    text = json.dumps(good, indent=1)
    wrong_format = {**good, "format": "tnd-lut/0"}
    negative = copy.deepcopy(good)
    negative["entries"][lut_key("add", 8, 8, 8, 8, 1)]["latency_ms"]["median"] = -0.5
    return {"truncated": text[: len(text) // 2], "not_json": "this is not json {",
            "wrong_format": json.dumps(wrong_format), "negative": json.dumps(negative),
            "bad_key": json.dumps({**good, "entries": {"sep_conv": _entry(0.1)}}),
            "no_settings": json.dumps({k: v for k, v in good.items() if k != "settings"}),
            "list": "[1, 2]"}


@pytest.mark.parametrize("case", ["truncated", "not_json", "wrong_format", "negative", "bad_key", "no_settings",
                                  "list"])
def test_bad_table_files_name_the_file(tmp_path, case):
    path = tmp_path / f"{case}.json"
    path.write_text(_bad_files(tmp_path)[case])
    with pytest.raises(TndError) as e:
        LookupTable.load(path)
    msg = str(e.value)
    assert str(path) in msg
    if case == "wrong_format":
        assert "tnd-lut/0" in msg and FORMAT in msg
    if case == "negative":
        assert "add|" in msg


def test_missing_table_file(tmp_path):
    with pytest.raises(TndError, match="build_lut"):
        LookupTable.load(tmp_path / "nope.json")


# --------------------------------------------------------------------------------------- predictor


def _true_latency(key: PartKey) -> float:
    factor = {"sep_conv_3x3": 1.0, "dil_conv_3x3": 1.3, "relu_conv_bn_1x1": 0.7}[key.op]
    return 2e-4 * factor * (1.0 + part_flops(key)) ** 0.8


def _synthetic_keys():
    keys = []
    for op in ("sep_conv_3x3", "dil_conv_3x3", "relu_conv_bn_1x1"):
        for c in (8, 16, 24, 32, 48):
            for h in (8, 16, 32):
                for s in ((1, 2) if op != "relu_conv_bn_1x1" else (1,)):
                    keys.append(PartKey(op, c, c, h, h, s))
    return keys


@pytest.fixture(scope="module")
def synthetic():
    t = _table()
    t.entries = {str(k): _entry(_true_latency(k)) for k in _synthetic_keys()}
    return t


def test_predictor_fits_smooth_latency(synthetic):
    from tnd.lut.predictor import Predictor, fit_predictor

    params = fit_predictor(synthetic)
    text = json.dumps(params)  # plain JSON: numbers and strings, no code
    params = json.loads(text)
    h = params["targets"]["latency_ms"]["holdout"]
    assert h["n"] >= 10
    assert h["mape"] < 0.05, h
    assert "energy_mj" not in params["targets"]
    p = Predictor(params)
    unseen = PartKey("sep_conv_3x3", 40, 40, 16, 16, 1)
    assert str(unseen) not in synthetic.entries
    assert p.covers(unseen)
    assert p.predict(unseen) == pytest.approx(_true_latency(unseen), rel=0.1)
    unseen2 = PartKey("dil_conv_3x3", 20, 20, 16, 16, 2)
    assert p.predict(unseen2) == pytest.approx(_true_latency(unseen2), rel=0.1)
    assert not p.covers(PartKey("max_pool_3x3", 8, 8, 8, 8, 1))
    with pytest.raises(KeyError):
        p.predict(PartKey("max_pool_3x3", 8, 8, 8, 8, 1))
    # stored in the table and read back from disk
    synthetic_copy = LookupTable.from_dict(synthetic.to_dict())
    synthetic_copy.predictor = params


def test_predictor_refuses_wrong_kind_and_too_few_entries():
    from tnd.lut.predictor import Predictor, fit_predictor

    with pytest.raises(TndError, match="predictor kind"):
        Predictor({"kind": "pickled-forest"})
    with pytest.raises(TndError, match="too few"):
        fit_predictor(_small_table())


# -------------------------------------------------------------------------------------- LutCosts

SHAPE = NetworkShape(channels=8, layers=5, in_channels=1, input_size=8)
OPS = ["skip_connect", "max_pool_3x3", "sep_conv_3x3", "dil_conv_3x3"]
OVERHEAD = 0.01


def _cost_table(energy=False):
    t = _table(call_overhead_ms=OVERHEAD, energy_method="nvml-energy-counter" if energy else "none")
    rng = random.Random(5)
    for k in space_parts([SHAPE], OPS, OPS):
        lat = OVERHEAD + rng.uniform(0.001, 0.2)
        t.entries[str(k)] = _entry(lat, {"total": lat * 30.0, "dynamic": lat * 20.0} if energy else None)
    return t


def _arch(seed=0):
    from tnd.space.genotype import Architecture, random_genotype

    return Architecture.from_genotype(random_genotype(random.Random(seed), OPS, OPS))


def test_lut_costs_latency_is_overhead_plus_parts():
    from tnd.costs.lut_costs import LutCosts

    table = _cost_table()
    costs = LutCosts(table, SHAPE)
    assert costs.provides == ("latency",)
    for seed in range(3):
        arch = _arch(seed)
        parts = network_parts(arch, SHAPE)
        expected = OVERHEAD + sum(table.latency_ms(k) - OVERHEAD for k in parts)
        got = costs(arch)
        assert got["latency"].value == pytest.approx(expected, rel=1e-12)
        assert got["latency"].source == "measured"
        assert "energy" not in got


def test_lut_costs_energy_shares():
    from tnd.costs.lut_costs import LutCosts

    table = _cost_table(energy=True)
    costs = LutCosts(table, SHAPE, energy="dynamic")
    assert costs.provides == ("latency", "energy")
    arch = _arch(1)
    parts = network_parts(arch, SHAPE)
    lat = OVERHEAD + sum(table.latency_ms(k) - OVERHEAD for k in parts)
    e_parts = sum(table.energy_mj(k, "dynamic") * (table.latency_ms(k) - OVERHEAD) / table.latency_ms(k)
                  for k in parts)
    expected = e_parts * lat / (lat - OVERHEAD)
    got = costs(arch)
    assert got["energy"].value == pytest.approx(expected, rel=1e-9)
    assert got["energy"].source == "measured"


def _missing_key(table, arch):
    parts = network_parts(arch, SHAPE)
    key = next(k for k in parts if k.op == "sep_conv_3x3" or k.op == "max_pool_3x3")
    del table.entries[str(key)]
    return key


def test_lut_costs_missing_key():
    from tnd.costs.lut_costs import LutCosts
    from tnd.lut.predictor import fit_predictor

    arch = _arch(2)
    table = _cost_table()
    key = _missing_key(table, arch)
    with pytest.raises(TndError) as e:
        LutCosts(table, SHAPE)(arch)
    assert str(key) in str(e.value) and "no predictor" in str(e.value)

    table.predictor = fit_predictor(table)
    with pytest.raises(TndError, match="strict"):
        LutCosts(table, SHAPE, strict=True)(arch)
    got = LutCosts(table, SHAPE)(arch)
    assert got["latency"].source == "predicted"
    assert got["latency"].value > OVERHEAD
    # a full table stays "measured" even with a predictor
    full = _cost_table()
    full.predictor = table.predictor
    assert LutCosts(full, SHAPE)(arch)["latency"].source == "measured"


# ------------------------------------------------------------------------------------ check_table


def _search_cfg(batch_size=1, energy="total", allow_estimates=False, device=None):
    return SimpleNamespace(cost=SimpleNamespace(batch_size=batch_size, device=device, allow_estimates=allow_estimates),
                           reward=SimpleNamespace(energy=energy))


def test_check_table_batch_size_mismatch(tmp_path):
    from tnd.search.lut_source import check_table

    cfg_path = tmp_path / "c.yaml"
    cfg_path.write_text(CONFIG)
    t = _small_table()
    t.path = tmp_path / "t.json"
    check_table(t, _cfg(cfg_path), needs_energy=False)
    with pytest.raises(TndError) as e:
        check_table(t, _cfg(cfg_path, **{"cost.batch_size": 4}), needs_energy=False)
    assert "batch size" in str(e.value) and str(t.path) in str(e.value)


def test_check_table_energy_requested_but_missing():
    from tnd.search.lut_source import check_table

    t = _small_table()
    check_table(t, _search_cfg(), needs_energy=False)
    with pytest.raises(TndError, match="no energy"):
        check_table(t, _search_cfg(), needs_energy=True)


def test_check_table_tdp_estimate_needs_allow_estimates():
    from tnd.search.lut_source import check_table

    t = _table(energy_method="tdp-estimate")
    t.entries = {lut_key("add", 8, 8, 8, 8, 1): _entry(0.02, {"total": 1.0, "dynamic": None,
                                                               "estimate": "tdp-estimate"})}
    with pytest.raises(TndError, match="tdp-estimate"):
        check_table(t, _search_cfg(energy="total"), needs_energy=True)
    check_table(t, _search_cfg(energy="total", allow_estimates=True), needs_energy=True)
    with pytest.raises(TndError, match="dynamic"):
        check_table(t, _search_cfg(energy="dynamic", allow_estimates=True), needs_energy=True)


def test_check_table_device_mismatch():
    from tnd.search.lut_source import check_table

    with pytest.raises(TndError, match="h100"):
        check_table(_small_table(), _search_cfg(device="h100"), needs_energy=False)
    check_table(_small_table(), _search_cfg(device="cpu"), needs_energy=False)


# ---------------------------------------------------------------------------------- validate helpers


def test_agreement_perfect():
    from tnd.lut.validate import agreement

    m = np.array([1.0, 2.0, 3.5, 4.0, 7.0])
    a = agreement(m.copy(), m)
    assert a["spearman"] == pytest.approx(1.0)
    assert a["mape"] == 0.0 and a["within_10pct"] == 1.0 and a["ratio_mean"] == 1.0
    b = agreement(2 * m, m)  # monotone but off by 2x
    assert b["spearman"] == pytest.approx(1.0) and b["mape"] == pytest.approx(1.0)
    assert b["ratio_mean"] == pytest.approx(2.0)
    c = agreement(m[::-1].copy(), m)
    assert c["spearman"] == pytest.approx(-1.0)


def test_leave_one_out_recovers_exact_linear_data():
    from tnd.lut.estimate import fit_groups, leave_one_out

    rng = np.random.default_rng(0)
    X = rng.uniform(0.1, 2.0, size=(20, 3))
    y = X @ np.array([2.0, 0.5, 3.0]) + 0.7
    exact = dict(ridge=0.0, min_networks=0)   # no pull towards 1: the exact weights come back
    fit = fit_groups(X, y, **exact)
    assert np.allclose(fit.coef, [2.0, 0.5, 3.0], atol=1e-8) and fit.intercept == pytest.approx(0.7, abs=1e-8)
    assert np.allclose(leave_one_out(X, y, **exact), y, rtol=1e-8)
    # data whose best line has a negative intercept: the fit keeps it at 0, so no network predicts below 0
    low = X @ np.array([0.3, 0.3, 0.3]) - 0.1
    bent = fit_groups(X[low > 0], low[low > 0], **exact)
    assert bent.intercept == 0.0 and bent.predict(np.full((1, 3), 1e-3))[0] > 0
    shrunk = fit_groups(X, y)                 # the default pulls each weight a little towards 1
    assert np.allclose(shrunk.coef, [2.0, 0.5, 3.0], rtol=0.1)
    assert np.all(np.abs(shrunk.coef - 1) <= np.abs(fit.coef - 1) + 1e-9)


def test_sample_networks_cycles_shapes():
    from tnd.lut.validate import sample_networks

    t = _cost_table()
    with pytest.raises(TndError, match="shapes"):
        sample_networks(t, 3, 0)
    t.settings["shapes"] = [vars(SHAPE), vars(NetworkShape(16, 8, in_channels=1, input_size=8))]
    family, nets = sample_networks(t, 4, 0)
    assert family.name == "darts" and [s.channels for s, _ in nets] == [8, 16, 8, 16]
    used = {op for _, g in nets for op, _ in g.normal + g.reduce}
    assert used <= set(OPS)
    _, again = sample_networks(t, 4, 0)
    assert [g for _, g in again] == [g for _, g in nets]


def test_an_nb201_table_is_validated_on_nb201_networks():
    """A table built for an NB201 config (`tnd lut build --config nb201-digits`) lists NB201 shapes: validate
    draws NB201 cells over the ops it measured (and `none`, which costs nothing), predicts them from their
    parts, and builds NB201's own network to measure."""
    from tnd.lut.validate import sample_networks
    from tnd.space.nb201 import NB201Arch, NB201Shape, is_connected, live_network_parts, space_parts

    shape = NB201Shape(channels=8, cells_per_stage=1, in_channels=1, input_size=8)
    measured_ops = ["skip_connect", "nor_conv_3x3", "avg_pool_3x3"]          # no 1x1 conv in this table
    parts = space_parts([shape], ["none", *measured_ops])
    t = _table(call_overhead_ms=OVERHEAD, energy_method="none")
    t.settings["shapes"] = [shape.to_dict()]
    for k in parts:
        t.entries[str(k)] = _entry(OVERHEAD + 0.01, None)
    family, nets = sample_networks(t, 12, 0)
    assert family.name == "nb201" and all(s == shape for s, _ in nets)
    used = {op for _, a in nets for op in a.ops}
    assert used <= {"none", *measured_ops} and "none" in used and "nor_conv_1x1" not in used
    for s, a in nets:
        assert isinstance(a, NB201Arch)
        assert is_connected(a)   # a disconnected cell is a constant network: never drawn to judge a table
        assert all(str(k) in t.entries for k in family.parts(a, s)) and family.parts(a, s) == live_network_parts(a, s)
        assert family.arch_record(a) == {"arch": str(a)}
        assert family.build(a, s).eval()(torch.randn(1, 1, 8, 8)).shape == (1, 10)
    t.settings["shapes"].append(vars(SHAPE))      # a DARTS shape beside it: one space per table
    with pytest.raises(TndError, match="mixes nb201 and other"):
        sample_networks(t, 4, 0)
    t.settings["shapes"] = [{"channels": 8}]
    with pytest.raises(TndError, match="not a network shape of a known space"):
        sample_networks(t, 4, 0)


def test_parse_key_round_trip():
    for k in _synthetic_keys()[:10]:
        assert parse_key(str(k)) == k
    with pytest.raises(ValueError):
        parse_key("sep_conv_3x3|cin=8")


def test_one_table_can_cover_several_search_configs(built, tmp_path):
    """Resuming the tiny table with a second, wider config adds only that config's parts."""
    import shutil

    from tnd.lut.pipeline import BuildRequest, build_lut

    wide = tmp_path / "wide.yaml"
    wide.write_text(built.config.read_text().replace("network:\n  channels: 8", "network:\n  channels: 12"))
    wide_cfg = _cfg(wide)
    assert wide_cfg.network.channels != _cfg(built.config).network.channels
    out = tmp_path / "cpu.json"
    shutil.copy(built.out, out)
    table = build_lut(BuildRequest(device="cpu", coverage=table_coverage([str(built.config), str(wide)]), out=str(out), quick=True,
                                   progress=False, energy="tdp-estimate", resume=True), echo=_quiet)
    keys = set(_cfg(built.config).part_keys()) | set(wide_cfg.part_keys())
    assert {str(k) for k in keys} == set(table.entries)
    for k, e in built.table.entries.items():
        assert table.entries[k] == e  # kept, not re-measured
    assert len(table.settings["shapes"]) == 2 and table.settings["config"] == [str(built.config), str(wide)]
