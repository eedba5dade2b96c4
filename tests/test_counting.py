"""FLOPs (MACs at batch 1) counted by torch's FlopCounterMode: every convolution and matmul, however called."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tnd.costs.counting import CountingCosts
from tnd.space import OPS, Architecture, NetworkShape, published_genotype, register_op
from tnd.space.parts import PartKey, network_parts, part_flops, space_parts


def test_darts_v2_at_the_papers_size_has_528m_macs():
    shape = NetworkShape(channels=36, layers=20, in_channels=3, input_size=32, num_classes=10)
    arch = Architecture.from_genotype(published_genotype("DARTS_V2"))
    macs = sum(part_flops(p) for p in network_parts(arch, shape))
    assert macs == 528_359_040          # 528.36M, as DARTS papers and thop report "FLOPs"
    assert CountingCosts(shape)(arch)["flops"].value == macs


def test_the_count_is_what_conv_and_linear_layers_compute():
    # relu_conv_bn_1x1 16->32 at 8x8: 8*8 outputs x 32 channels x 16 inputs; classifier 64 -> 10 after pooling.
    assert part_flops(PartKey("relu_conv_bn_1x1", 16, 32, 8, 8)) == 8 * 8 * 32 * 16
    assert part_flops(PartKey("classifier", 64, 10, 4, 4)) == 64 * 10
    for op in ("max_pool_3x3", "skip_connect", "add", "concat"):     # no multiply-accumulates
        key = PartKey(op, 8, 8, 8, 8) if op != "concat" else PartKey(op, 8, 32, 8, 8)
        assert part_flops(key) == 0


class _FunctionalConv(nn.Module):
    """An op written with torch.nn.functional: a depthwise 3x3 then a pointwise matmul; no nn.Conv2d/Linear."""

    def __init__(self, c: int, stride: int):
        super().__init__()
        self.stride = stride
        self.dw = nn.Parameter(torch.randn(c, 1, 3, 3))
        self.pw = nn.Parameter(torch.randn(c, c))

    def forward(self, x):
        x = F.conv2d(x, self.dw, stride=self.stride, padding=1, groups=x.shape[1])
        return torch.einsum("oc,bchw->bohw", self.pw, x)


@pytest.fixture
def functional_op():
    name = "test_functional_conv"
    register_op(name)(lambda c, stride, affine=True: _FunctionalConv(c, stride))
    yield name
    del OPS[name]


def test_an_op_registered_with_functional_calls_is_counted(functional_op):
    c, h = 16, 8
    depthwise, pointwise = h * h * c * 9, h * h * c * c
    assert part_flops(PartKey(functional_op, c, c, h, h, 1)) == depthwise + pointwise
    assert part_flops(PartKey(functional_op, c, c, h, h, 2)) == (depthwise + pointwise) // 4


def test_counts_are_cached_per_part():
    keys = space_parts([NetworkShape(channels=8, layers=5, in_channels=1, input_size=8, num_classes=10)],
                       ["sep_conv_3x3", "skip_connect"], ["max_pool_3x3"])
    first = [part_flops(k) for k in keys]
    before = part_flops.cache_info()
    assert [part_flops(k) for k in keys] == first
    after = part_flops.cache_info()
    assert after.hits - before.hits == len(keys) and after.misses == before.misses
