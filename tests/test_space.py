"""Search space contracts: genotype format, networks, parts and the LUT key, the sampled supernet."""

import json
import random

import pytest
import torch

from tnd.errors import TndError
from tnd.search.supernet import Supernet
from tnd.space import PRIMITIVES, PUBLISHED, Architecture, Genotype, NetworkShape, build_network, count_parameters
from tnd.space.network import Network
from tnd.space.parts import lut_key, network_parts, parse_key, part_params, space_parts
from tnd.space.genotype import random_genotype


def test_genotype_json_round_trip_and_darts_paste():
    rng = random.Random(0)
    for _ in range(5):
        g = random_genotype(rng)
        assert Genotype.parse(g.to_json()) == g
        assert Genotype.from_dict(json.loads(json.dumps(g.to_dict()))) == g
        assert Genotype.parse(str(g)) == g
    darts_text = ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), "
                  "('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), "
                  "('dil_conv_3x3', 2)], normal_concat=range(2, 6), reduce=[('max_pool_3x3', 0), "
                  "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
                  "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=range(2, 6))")
    assert Genotype.parse(darts_text) == PUBLISHED["DARTS_V2"]


@pytest.mark.parametrize("bad, message", [
    ({"normal": [["conv_9x9", 0]] * 8, "normal_concat": [2, 3, 4, 5], "reduce": [["skip_connect", 0]] * 8,
      "reduce_concat": [2, 3, 4, 5]}, "unknown op"),
    ({"normal": [["skip_connect", 5]] * 8, "normal_concat": [2, 3, 4, 5], "reduce": [["skip_connect", 0]] * 8,
      "reduce_concat": [2, 3, 4, 5]}, "reads state"),
    ({"normal": [["skip_connect", 0]] * 7, "normal_concat": [2, 3, 4, 5], "reduce": [["skip_connect", 0]] * 8,
      "reduce_concat": [2, 3, 4, 5]}, "two"),
    ({"normal": [["skip_connect", 0]] * 8}, "missing"),
])
def test_bad_genotypes_are_clear_errors(bad, message):
    with pytest.raises(TndError, match=message):
        Genotype.from_dict(bad)


def test_darts_v2_has_darts_parameter_count():
    # DARTS reports 3.3M for its V2 cell at 36 channels, 20 cells (its code prints 3.349342MB).
    assert count_parameters(build_network(PUBLISHED["DARTS_V2"], 36, 20, auxiliary=True)) == 3_349_342


@pytest.mark.parametrize("shape", [NetworkShape(16, 8), NetworkShape(8, 5, in_channels=1, input_size=8),
                                   NetworkShape(12, 3, num_classes=100, input_size=15)])
def test_network_cost_parts_cover_every_parameter(shape):
    rng = random.Random(1)
    for _ in range(3):
        sample = [[rng.choice(PRIMITIVES) for _ in range(14)] for _ in range(2)]
        for arch in (Architecture.from_genotype(random_genotype(rng)), Architecture.from_sample(*sample)):
            net = Network(arch, shape).eval()
            out = net(torch.randn(2, shape.in_channels, shape.input_size, shape.input_size))
            assert out.shape == (2, shape.num_classes)
            parts = network_parts(arch, shape)
            assert sum(part_params(p) for p in parts) == count_parameters(net)
            assert set(parts) <= set(space_parts([shape], PRIMITIVES, PRIMITIVES)), "LUT enumeration misses a part"


def test_lut_key_round_trip():
    key = lut_key("sep_conv_3x3", 16, 16, 32, 32, 2)
    assert parse_key(key).op == "sep_conv_3x3" and str(parse_key(key)) == key
    with pytest.raises(ValueError):
        parse_key("sep_conv_3x3/16")


def test_sampled_forward_touches_only_sampled_ops():
    ops = {c: list(PRIMITIVES) for c in ("normal", "reduce")}
    alive = {c: [list(PRIMITIVES)] * 14 for c in ops}
    net = Supernet(ops, alive, NetworkShape(8, 5, in_channels=1, input_size=8))
    ran: set[tuple[int, int, str]] = set()
    for ci, cell in enumerate(net.cells):
        for k, edge in enumerate(cell.edges):
            for name, op in edge.items():
                op.register_forward_hook(lambda *a, key=(ci, k, name): ran.add(key))
    rng = random.Random(0)
    choice = {c: [rng.choice(PRIMITIVES) for _ in range(14)] for c in ops}
    net(torch.randn(4, 1, 8, 8), choice=choice)
    expected = {(ci, k, choice["reduce" if red else "normal"][k])
                for ci, red in enumerate(net.reduction) for k in range(14)}
    expected = {e for e in expected if e[2] != "none"}
    assert ran == expected
    # The backward pass leaves every unsampled op without a gradient (so SGD skips it).
    net.zero_grad(set_to_none=True)
    net(torch.randn(4, 1, 8, 8), choice=choice).sum().backward()
    for ci, cell in enumerate(net.cells):
        kind = "reduce" if net.reduction[ci] else "normal"
        for k, edge in enumerate(cell.edges):
            for name, op in edge.items():
                grads = [p.grad is not None for p in op.parameters()]
                if grads:
                    assert all(grads) == (name == choice[kind][k])


AUTHORS_NORMAL = ["none", "skip_connect", "sep_conv_3x3", "sep_conv_5x5", "sep_conv_7x7", "dil_conv_3x3",
                  "dil_conv_5x5", "conv_3x3", "conv_3x1_1x3"]
AUTHORS_REDUCE = ["none", "skip_connect", "max_pool_3x3", "avg_pool_3x3", "max_pool_5x5", "max_pool_7x7"]


@pytest.mark.parametrize("op", sorted(set(AUTHORS_NORMAL + AUTHORS_REDUCE) | set(PRIMITIVES)))
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("size", [8, 7])
def test_every_candidate_op_builds_and_keeps_its_shape(op, stride, size):
    """The authors' op sets (9 normal, 6 reduce) are all registered and map (B, C, H, W) to (B, C, H/s, W/s)."""
    from tnd.space.ops import OPS, build_op

    assert op in OPS
    out = build_op(op, 6, stride)(torch.randn(2, 6, size, size))
    expect = -(-size // stride)
    assert tuple(out.shape) == (2, 6, expect, expect)


def test_authors_ops_are_built_as_their_code_defines_them():
    from torch import nn

    from tnd.space.ops import build_op

    c = 8
    n_params = lambda op: sum(p.numel() for p in build_op(op, c, 1).parameters())  # noqa: E731
    bn = 2 * c
    assert n_params("conv_3x3") == 9 * c * c + bn                   # ReLU-Conv(3x3)-BN
    assert n_params("conv_3x1_1x3") == 2 * 3 * c * c + bn           # ReLU-Conv(1x3)-Conv(3x1)-BN
    assert n_params("sep_conv_7x7") == 2 * (49 * c + c * c + bn)    # two depthwise-7x7 + pointwise + BN blocks
    for pool, k in (("max_pool_5x5", 5), ("max_pool_7x7", 7)):
        m = build_op(pool, c, 2)
        assert isinstance(m, nn.MaxPool2d) and m.kernel_size == k and m.padding == k // 2 and n_params(pool) == 0
