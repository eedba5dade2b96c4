"""NAS-Bench-201: arch strings, the macro network against NB201's published counts, parts, supernet,
the tabular benchmark reader and the normalised hypervolume used to score searches against it."""

import gzip
import random
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from tnd.data.tabular import TabularBenchmark
from tnd.errors import TndError
from tnd.search.normalised_hv import ObjectiveRange, hypervolume_2d, normalised_hypervolume, pareto_front
from tnd.search.pareto import hypervolume as slow_hypervolume
from tnd.search.pareto import pareto_front as slow_pareto_front
from tnd.space.nb201 import (DATASET_SHAPES, NB201_OPS, NB201Arch, NB201Network, NB201Shape, NB201Supernet,
                             all_archs, build_nb201_network, is_connected, live_edges, live_network_parts,
                             network_parts, random_arch, space_parts)
from tnd.space.network import count_parameters
from tnd.space.parts import PartKey, part_flops, part_inputs, part_module, part_params

# One row of NAS-Bench-201's own table (its first cell), written as NB201 writes it.
NB201_EXAMPLE = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
ALL_CONV3 = NB201Arch(("nor_conv_3x3",) * 6)
NO_CONV = NB201Arch(("skip_connect", "none", "skip_connect", "avg_pool_3x3", "none", "skip_connect"))
TWO_CONV3 = NB201Arch.parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|none~0|skip_connect~1|avg_pool_3x3~2|")
# Node 1 only reads 'none': always zero, yet the convs reading it are built (as NB201 does).
DEAD_NODE = NB201Arch.parse("|none~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|skip_connect~0|avg_pool_3x3~1|nor_conv_3x3~2|")
TINY = NB201Shape(channels=4, cells_per_stage=1, num_classes=10, in_channels=3, input_size=8)


# ---- arch strings ------------------------------------------------------------------------------

def test_nb201_string_round_trips_for_every_cell():
    archs = all_archs()
    assert len(archs) == 5 ** 6 == len({str(a) for a in archs})
    for a in archs:
        assert NB201Arch.parse(str(a)) == a
    a = NB201Arch.parse(NB201_EXAMPLE)
    assert str(a) == NB201_EXAMPLE
    assert a.ops == ("avg_pool_3x3", "nor_conv_1x1", "skip_connect", "nor_conv_1x1", "skip_connect", "skip_connect")
    assert a.edges[2] == (1, 2, "skip_connect") and a.edges[5] == (2, 3, "skip_connect")
    assert NB201Arch.from_dict(a.to_dict()) == a and a.to_dict()["arch"] == NB201_EXAMPLE
    assert NB201Arch.parse(f"  {NB201_EXAMPLE}\n") == a


@pytest.mark.parametrize("text, message", [
    ("", "node groups"),
    ("|none~0|+|none~0|none~1|", "node groups"),
    ("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|+|none~0|", "node groups"),
    ("|none~0|+|none~0|none~1|+|none~0|none~1|", "must read 3"),
    ("|none~0|+|none~1|none~0|+|none~0|none~1|none~2|", "must be 'op~0'"),
    ("|none~0|+|none~0|none~1|+|none~0|none~1|none2|", "must be 'op~2'"),
    ("|conv_9x9~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown op 'conv_9x9'"),
    ("|sep_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown op"),   # a DARTS op, not NB201's
    ("none~0|+|none~0|none~1|+|none~0|none~1|none~2|", r"node 1 must be written"),
    ("|none~0||+|none~0|none~1|+|none~0|none~1|none~2|", "must read 1"),
])
def test_malformed_nb201_strings_are_clear_errors(text, message):
    with pytest.raises(TndError, match=message) as err:
        NB201Arch.parse(text)
    assert "\n" not in str(err.value)


def test_arch_record_validates_ops_and_dicts():
    with pytest.raises(TndError, match="one op per edge"):
        NB201Arch(("none",) * 5)
    with pytest.raises(TndError, match="unknown op"):
        NB201Arch(("none",) * 5 + ("max_pool_3x3",))
    with pytest.raises(TndError, match="'arch' string"):
        NB201Arch.from_dict({"normal": []})
    with pytest.raises(TndError, match="space 'darts'"):
        NB201Arch.from_dict({"space": "darts", "arch": NB201_EXAMPLE})


# ---- the macro network against NAS-Bench-201's published figures -------------------------------

def _whole_network_macs(net: nn.Module, shape: NB201Shape) -> int:
    macs = 0

    def hook(mod, _inp, out):
        nonlocal macs
        if isinstance(mod, nn.Conv2d):
            macs += out.numel() * mod.kernel_size[0] * mod.kernel_size[1] * mod.in_channels // mod.groups
        else:
            macs += out.numel() * mod.in_features

    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            m.register_forward_hook(hook)
    with torch.no_grad():
        net.eval()(torch.zeros(1, shape.in_channels, shape.input_size, shape.input_size))
    return macs


# NAS-Bench-201 v1.1 cost info ('params' in MB = 1e6 parameters, 'flop' in MFLOPs), min and max over its
# 15,625 cells per dataset: no conv in the cell / six nor_conv_3x3; and one cell's cost info with two
# nor_conv_3x3 (params 0.559386, flops 78.56193). NB201's FLOPs are conv+linear multiply-accumulates plus
# the classifier's bias adds, i.e. tnd's MAC count + num_classes.
@pytest.mark.parametrize("dataset, arch, params_mb, mflops", [
    ("cifar10", NO_CONV, 0.073306, 7.78305),
    ("cifar10", ALL_CONV3, 1.531546, 220.11969),
    ("cifar10", TWO_CONV3, 0.559386, 78.56193),
    ("cifar100", NO_CONV, 0.079156, 7.7889),
    ("cifar100", ALL_CONV3, 1.537396, 220.12554),
    ("ImageNet16-120", NO_CONV, 0.080456, 1.9534),
    ("ImageNet16-120", ALL_CONV3, 1.538696, 55.03756),
])
def test_network_matches_nas_bench_201_published_costs(dataset, arch, params_mb, mflops, single_thread):
    shape = DATASET_SHAPES[dataset]
    assert (shape.channels, shape.cells_per_stage) == (16, 5)
    net = build_nb201_network(str(arch), shape)
    assert round(count_parameters(net) / 1e6, 6) == params_mb
    parts = network_parts(arch, shape)
    assert round((sum(part_flops(p) for p in parts) + shape.num_classes) / 1e6, 5) == pytest.approx(mflops, abs=1e-9)


@pytest.mark.parametrize("shape", [TINY, NB201Shape(channels=6, cells_per_stage=2, num_classes=7, in_channels=1,
                                                    input_size=12), DATASET_SHAPES["cifar10"]])
def test_parts_sum_to_the_network_and_lie_in_the_space(shape, single_thread):
    rng = random.Random(0)
    covered = set(space_parts([shape]))
    for arch in [random_arch(rng) for _ in range(6)] + [NB201Arch(("none",) * 6), ALL_CONV3, DEAD_NODE]:
        net = NB201Network(arch, shape)
        parts = network_parts(arch, shape)
        assert sum(part_params(p) for p in parts) == count_parameters(net)
        assert set(parts) <= covered
        if shape is TINY:
            assert sum(part_flops(p) for p in parts) == _whole_network_macs(net, shape)
            out = net.eval()(torch.randn(2, shape.in_channels, shape.input_size, shape.input_size))
            assert out.shape == (2, shape.num_classes)
    # Every op and structural part of the space builds and runs at its shape.
    for key in covered:
        y = part_module(key).eval()(*part_inputs(key))
        assert y.shape[0] == 1


def test_shape_is_validated_and_round_trips():
    assert NB201Shape.from_dict(TINY.to_dict()) == TINY
    with pytest.raises(TndError, match="multiple of 4"):
        NB201Shape(input_size=30)
    with pytest.raises(TndError, match="positive integer"):
        NB201Shape(channels=0)
    with pytest.raises(TndError, match="unknown field"):
        NB201Shape.from_dict({"layers": 20})


def test_network_exports_to_onnx(tmp_path, single_thread):
    from tnd.deploy.export import export_onnx, read_metadata

    net = NB201Network(DEAD_NODE, TINY)
    report = export_onnx(net, tmp_path / "nb201.onnx", input_shape=(3, 8, 8),
                         metadata={"nb201_arch": str(DEAD_NODE), "nb201_shape": TINY.to_dict()})
    assert max(report.max_abs_diff.values()) <= 1e-4
    meta = read_metadata(tmp_path / "nb201.onnx")
    assert NB201Arch.parse(meta["nb201_arch"]) == DEAD_NODE and NB201Shape.from_dict(meta["nb201_shape"]) == TINY


def test_structural_parts_export_for_the_lut_builder(single_thread):
    import onnx

    from tnd.lut.parts_onnx import part_onnx

    structural = [k for k in space_parts([TINY]) if k.op.startswith("nb201_")]
    assert sorted({k.op for k in structural}) == ["nb201_head", "nb201_resblock"] and len(structural) == 3
    for key in structural:
        onnx.checker.check_model(onnx.load_from_string(part_onnx(key)))


# ---- supernet ----------------------------------------------------------------------------------

def _subnet_from_supernet(sup: NB201Supernet, arch: NB201Arch) -> NB201Network:
    """The standalone network with the supernet's weights on the chosen path (cell BNs: gamma 1, beta 0)."""
    net = NB201Network(arch, sup.shape)
    source = sup.state_dict()
    state = net.state_dict()
    for name in state:
        m = re.fullmatch(r"cells\.(\d+)\.ops\.(\d+)\.(.+)", name)
        src = f"cells.{m[1]}.edges.{m[2]}.{arch.ops[int(m[2])]}.{m[3]}" if m else name
        if src in source:
            state[name] = source[src].clone()
        else:  # the search cells' BNs are not affine
            assert m and name.endswith((".weight", ".bias")) and src.rsplit(".", 2)[-2] == "2"
    net.load_state_dict(state)
    return net


def test_supernet_sampled_path_is_the_standalone_network(single_thread):
    torch.manual_seed(0)
    shape = NB201Shape(channels=4, cells_per_stage=2, num_classes=10, in_channels=3, input_size=8)
    alive = [list(NB201_OPS)] * 6
    sup = NB201Supernet({"cell": list(NB201_OPS)}, {"cell": alive}, shape)
    x = torch.randn(6, 3, 8, 8)
    for a in (DEAD_NODE, ALL_CONV3, random_arch(random.Random(5))):
        with torch.no_grad():
            sup.train()
            for _ in range(2):  # running statistics away from their initial values
                sup(torch.randn(6, 3, 8, 8), choice={"cell": list(a.ops)})
            net = _subnet_from_supernet(sup, a)
            for mode in (True, False):
                sup.train(mode), net.train(mode)
                torch.testing.assert_close(sup(x, choice={"cell": list(a.ops)}), net(x), rtol=1e-5, atol=1e-5)


def test_supernet_mixture_and_alive_ops(single_thread):
    torch.manual_seed(1)
    ops = list(NB201_OPS)
    alive = [["none", "nor_conv_3x3"], ["skip_connect", "avg_pool_3x3"], ["nor_conv_1x1"],
             ops, ["nor_conv_3x3", "skip_connect"], ["none"]]
    sup = NB201Supernet({"cell": ops}, {"cell": alive}, TINY, mode="mixture").eval()
    assert [sorted(e.keys()) for e in sup.cells[0].edges] == [sorted(o for o in a if o != "none") for a in alive]
    x = torch.randn(3, 3, 8, 8)
    choice = ["nor_conv_3x3", "avg_pool_3x3", "nor_conv_1x1", "none", "skip_connect", "none"]
    one_hot = torch.zeros(6, len(ops))
    for k, op in enumerate(choice):
        one_hot[k, ops.index(op)] = 1.0
    with torch.no_grad():
        torch.testing.assert_close(sup(x, weights={"cell": one_hot}), sup(x, choice={"cell": choice}))
    alpha = torch.zeros(6, len(ops), requires_grad=True)
    out = sup(x, weights={"cell": torch.softmax(alpha, -1)})
    assert out.shape == (3, 10)
    out.sum().backward()
    assert alpha.grad is not None and alpha.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="not alive"):
        sup(x, choice={"cell": ["skip_connect"] + choice[1:]})
    with pytest.raises(ValueError, match="exactly one"):
        sup(x)
    with pytest.raises(ValueError, match="6 edges"):
        NB201Supernet({"cell": ops}, {"cell": alive[:5]}, TINY)


# ---- tabular benchmark -------------------------------------------------------------------------

def _synthetic_rows(n_front: int = 10, n_dominated: int = 40, seed: int = 0):
    """50 distinct cells: a front of n_front (acc 60+3j %, latency 1+j ms) and points each dominated by one."""
    rng = random.Random(seed)
    archs = rng.sample(all_archs(), n_front + n_dominated)
    rows = []
    for i, a in enumerate(archs):
        j = i % n_front
        if i < n_front:
            acc, lat = 60 + 3 * j, 1.0 + j
        else:
            r = (i // n_front) * 0.25
            acc, lat = 60 + 3 * j - r, 1.0 + j + r
        rows.append((str(a), acc, lat, 1000 + 10 * i))
    return archs[:n_front], rows


def _write_csv(path, rows, header="arch,val_acc,latency_ms,params"):
    text = header + "\n" + "".join(",".join(str(v) for v in r) + "\n" for r in rows)
    if str(path).endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def _load(path, **kw):
    kw = {"accuracy": "val_acc", "costs": {"latency": "latency_ms"}, **kw}
    return TabularBenchmark.load(path, kw["accuracy"], kw["costs"], NB201Arch.parse)


@pytest.mark.parametrize("name", ["table.csv", "table.csv.gz"])
def test_synthetic_table_loads_and_its_exact_front_is_the_formulas(tmp_path, name):
    front_archs, rows = _synthetic_rows()
    bench = _load(_write_csv(tmp_path / name, rows), costs={"latency": "latency_ms", "params": "params"})
    assert len(bench) == 50 and bench.archs[0] == NB201Arch.parse(rows[0][0])
    np.testing.assert_array_equal(bench.accuracy, [r[1] for r in rows])
    np.testing.assert_array_equal(bench.costs["params"], [r[3] for r in rows])
    points = np.column_stack([100 - bench.accuracy, bench.costs["latency"]])
    assert {bench.archs[i] for i in pareto_front(points)} == set(front_archs)
    assert bench.columns == {"accuracy": "val_acc", "latency": "latency_ms", "params": "params"}
    # Queries count distinct architectures.
    row = bench.query(front_archs[3])
    assert (row.accuracy, row.costs) == (69.0, {"latency": 4.0, "params": 1030.0})
    bench.query(front_archs[3])
    bench.query(front_archs[4])
    assert bench.queries == 2
    bench.index(front_archs[5])            # reading an index is not a query
    assert bench.queries == 2


def test_malformed_tables_are_clear_one_line_errors(tmp_path):
    _, rows = _synthetic_rows()
    good = _write_csv(tmp_path / "good.csv", rows)

    def fails(path, message, **kw):
        with pytest.raises(TndError, match=message) as err:
            _load(path, **kw)
        assert "\n" not in str(err.value)

    fails(tmp_path / "absent.csv", "not found")
    fails(_write_csv(tmp_path / "noarch.csv", rows, "cell,val_acc,latency_ms,params"), "no 'arch' column")
    fails(good, r"no column 'energy_mj' \(asked for energy\); available: val_acc, latency_ms, params",
          costs={"energy": "energy_mj"})
    fails(good, "no column 'acc'", accuracy="acc")
    bad = list(rows)
    bad[6] = (rows[6][0], "n/a", rows[6][2], rows[6][3])
    fails(_write_csv(tmp_path / "text.csv", bad), "line 8, column 'val_acc': 'n/a' is not a finite number")
    bad[6] = (rows[6][0], rows[6][1], "", rows[6][3])
    fails(_write_csv(tmp_path / "empty.csv", bad), "line 8, column 'latency_ms'")
    fails(_write_csv(tmp_path / "dupe.csv", rows + [rows[3]]), "line 52: arch .* already appears on line 5")
    bad = list(rows)
    bad[2] = ("|nor_conv_3x3~0|+|nor_conv_3x3~0|", *rows[2][1:])
    fails(_write_csv(tmp_path / "badarch.csv", bad), "line 4: NB201 arch")
    fails(_write_csv(tmp_path / "frac.csv", [(r[0], r[1] * 10, *r[2:]) for r in rows]), "must be in %")
    (tmp_path / "fake.csv.gz").write_text("arch,val_acc\n")
    fails(tmp_path / "fake.csv.gz", "not gzip-compressed")
    fails(_write_csv(tmp_path / "short.csv", rows[:1] + [rows[1][:3]]), "line 3: 3 cells, the header has 4")
    bench = _load(good)
    missing = next(a for a in all_archs() if a not in bench)
    with pytest.raises(TndError, match=re.escape(f"{missing} is not in the tabular benchmark")):
        bench.query(missing)
    assert bench.queries == 0


# ---- normalised hypervolume --------------------------------------------------------------------

def test_pareto_front_2d_by_hand_and_against_the_pairwise_filter():
    pts = [(1, 5), (2, 3), (3, 4), (4, 1), (2, 3), (5, 5), (1, 6), (0.5, 7), (4, 2)]
    assert pareto_front(pts).tolist() == [7, 0, 1, 4, 3]
    rng = np.random.default_rng(0)
    for d in (2, 3):
        pts = rng.integers(0, 12, size=(300, d)).astype(float)   # many ties and duplicates
        assert sorted(pareto_front(pts).tolist()) == slow_pareto_front(pts.tolist())


def test_hypervolume_by_hand_and_normalised():
    assert hypervolume_2d([(0.2, 0.6), (0.5, 0.3)], (1, 1)) == pytest.approx(0.47)
    assert hypervolume_2d([(0.2, 0.6), (0.5, 0.3), (1.2, 0.1), (0.6, 0.4)], (1, 1)) == pytest.approx(0.47)
    assert hypervolume_2d([(1.0, 0.0)], (1, 1)) == 0.0
    rng = np.random.default_rng(1)
    pts = rng.random((60, 2))
    assert hypervolume_2d(pts, (1, 1)) == pytest.approx(slow_hypervolume(pts.tolist(), (1, 1)))
    r = ObjectiveRange((0.0, 10.0), (10.0, 110.0))
    assert normalised_hypervolume([(2.0, 40.0)], r) == pytest.approx(0.8 * 0.7)
    assert normalised_hypervolume([(0.0, 10.0)], r) == pytest.approx(1.0)
    assert normalised_hypervolume([(10.0, 10.0)], r) == 0.0
    r3 = ObjectiveRange((0, 0, 0), (2, 2, 2))
    assert normalised_hypervolume([(1, 1, 1)], r3) == pytest.approx(0.125)
    assert normalised_hypervolume([(1, 1, 1), (0, 2, 0)], r3) == pytest.approx(0.125)
    assert ObjectiveRange.of([(1, 5), (3, 2)]) == ObjectiveRange((1.0, 2.0), (3.0, 5.0))
    with pytest.raises(ValueError, match="upper must exceed"):
        ObjectiveRange((0, 1), (1, 1))


# ---- the shared NB201 data (beside the checkout, never in the repository) ----------------------

def test_real_table_covers_the_space_and_the_benchmark_scores_strategies(nb201_bench):
    bench = nb201_bench
    (task,) = bench.load_tasks(bench.DATA, ["val_cifar10"], ["latency_ms_1080ti_1"])
    assert len(task.archs) == 15_625 and set(task.archs) == set(all_archs())
    front = [task.archs[i] for i in task.front]

    def oracle(t):
        return lambda budget, seed: front[:budget]

    s = bench.score(task, oracle(task), [len(front)], [0, 1])
    assert s.hv[len(front)] == [pytest.approx(1.0)] * 2 and all(q <= len(front) for q in s.to_target)
    s = bench.score(task, bench.random_search(task), [10, 15_625], [0, 1])
    assert s.hv[15_625] == [pytest.approx(1.0)] * 2 and all(0 < h < 1 for h in s.hv[10])


# ---- live edges: what the runtime executes -----------------------------------------------------

# Node 3 reads nodes 0 and 1 only: the two edges into node 2 are dead code (built, never read).
DEAD_INTO_2 = NB201Arch.parse(
    "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_3x3~1|none~2|")
# No path from input to output: the network's output is a constant (RESULTS: 0.004 ms measured).
DISCONNECTED = NB201Arch.parse("|none~0|+|nor_conv_1x1~0|none~1|+|none~0|avg_pool_3x3~1|none~2|")
SKIP_ONLY = NB201Arch.parse("|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|")
SKIP_CHAIN = NB201Arch.parse("|skip_connect~0|+|none~0|skip_connect~1|+|none~0|none~1|skip_connect~2|")
# The four input-to-output paths of the cell, as edge indices: an independent statement of "live".
PATHS = ((3,), (0, 4), (1, 5), (0, 2, 5))


def _with_none(arch: NB201Arch, edges) -> NB201Arch:
    return NB201Arch(tuple("none" if k in edges else op for k, op in enumerate(arch.ops)))


@pytest.mark.parametrize("arch, live", [
    (ALL_CONV3, (0, 1, 2, 3, 4, 5)),
    (DEAD_INTO_2, (0, 3, 4)),
    (DEAD_NODE, (1, 3, 5)),              # node 1 reads only none: edges out of it carry a constant
    (DISCONNECTED, ()),
    (NB201Arch(("none",) * 6), ()),
    (SKIP_ONLY, (3,)),
    (SKIP_CHAIN, (0, 2, 5)),
])
def test_live_edges_of_hand_made_cells(arch, live):
    assert live_edges(arch) == live
    assert is_connected(arch) == bool(live)


def test_live_edges_are_the_edges_of_open_paths_for_every_cell():
    for arch in all_archs():
        open_paths = [p for p in PATHS if all(arch.ops[k] != "none" for k in p)]
        assert set(live_edges(arch)) == {k for p in open_paths for k in p}
        assert is_connected(arch) == bool(open_paths)


def _nb201_table(shape: NB201Shape, overhead: float = 0.01, energy: bool = False):
    from tnd.lut.table import LookupTable

    entries = {}
    for key in space_parts([shape]):
        lat = overhead + 0.001 + part_flops(key) * 1e-7
        entries[str(key)] = {"latency_ms": {"median": lat, "p10": lat, "p90": lat, "n": 1},
                             "energy_mj": {"total": lat * 30.0, "dynamic": lat * 20.0} if energy else None,
                             "flops": part_flops(key), "params": 0}
    return LookupTable(device={"preset": "cpu"}, runtime={"provider": "CPUExecutionProvider"},
                       settings={"batch_size": 1, "dtype": "float32", "warmup": 1, "repeats": 1,
                                 "energy_method": "nvml-energy-counter" if energy else "none", "call_overhead_ms": overhead},
                       entries=entries)


def test_a_dead_edge_costs_no_latency_but_keeps_its_parameters():
    from tnd.costs import NB201CountingCosts
    from tnd.costs.lut_costs import LutCosts

    shape = TINY
    latency = LutCosts(_nb201_table(shape, energy=True), shape, parts=live_network_parts, energy="total")
    counting = NB201CountingCosts(shape)
    pruned = _with_none(DEAD_INTO_2, (1, 2))
    assert live_network_parts(DEAD_INTO_2, shape) == live_network_parts(pruned, shape)
    for cost in ("latency", "energy"):
        assert latency(DEAD_INTO_2)[cost].value == latency(pruned)[cost].value
    # Before, every edge was summed: the dead edges' ops and node 2's add made the cell dearer.
    every_edge = LutCosts(_nb201_table(shape), shape, parts=network_parts)
    assert every_edge(DEAD_INTO_2)["latency"].value > latency(DEAD_INTO_2)["latency"].value
    # PyTorch still builds the dead edges: parameters (and counted flops) are unchanged and exact.
    assert counting(DEAD_INTO_2)["params"].value == count_parameters(NB201Network(DEAD_INTO_2, shape))
    assert counting(DEAD_INTO_2)["params"].value > counting(pruned)["params"].value
    assert counting(DEAD_INTO_2)["flops"].value == sum(part_flops(p) for p in network_parts(DEAD_INTO_2, shape))


def test_a_constant_input_to_a_live_node_keeps_its_add():
    """DEAD_NODE's node 1 is a constant: the ops reading it fold away, but adding that constant to a varying
    input is still an Add in ORT's optimised graph (node 2: one, node 3: two, instead of none and one)."""
    extra = [PartKey("add", c, c, h, h, 1) for c, h in TINY.stages() for _ in range(2 * TINY.cells_per_stage)]
    live = live_network_parts(DEAD_NODE, TINY)
    pruned = live_network_parts(_with_none(DEAD_NODE, (0, 2, 4)), TINY)
    assert sorted(map(str, live)) == sorted(map(str, pruned + extra))
    assert [p.op for p in live].count("add") == 3 * len(TINY.stages()) * TINY.cells_per_stage


def test_a_disconnected_cell_costs_one_call():
    """ORT folds the whole network to a constant: nothing runs but the call, so the prediction is the table's
    per-call overhead (calibrated or not), and its energy that call's at the entries' median power."""
    from tnd.costs.lut_costs import LutCosts

    assert live_network_parts(DISCONNECTED, TINY) == [] and network_parts(DISCONNECTED, TINY)
    table = _nb201_table(TINY, overhead=0.01, energy=True)
    table.calibration = {"fit": {"coef": {"conv": 1.0, "pool": 1.0, "skip": 1.0, "merge": 1.0}, "intercept": 0.0}}
    costs = LutCosts(table, TINY, parts=live_network_parts, energy="total")(DISCONNECTED)
    assert costs["latency"].value == 0.01 and costs["latency"].source == "measured"
    assert costs["energy"].value == pytest.approx(0.01 * 30.0)


def test_validation_never_draws_a_disconnected_cell():
    from tnd.space.families import FAMILIES

    family = FAMILIES["nb201"]
    for ops in (NB201_OPS, ("none", "avg_pool_3x3"), ("none", "skip_connect", "nor_conv_3x3")):
        rng = random.Random(0)
        drawn = [family.random_arch(rng, ops) for _ in range(3000)]
        assert all(is_connected(a) for a in drawn) and {op for a in drawn for op in a.ops} == set(ops)
        plain = random.Random(0)   # the unfiltered draw does give disconnected cells with these ops
        assert any(not is_connected(random_arch(plain, ops)) for _ in range(3000))
    assert len({str(a) for a in drawn}) > 100
    with pytest.raises(TndError, match="no connected cell"):
        family.random_arch(random.Random(0), ("none",))
