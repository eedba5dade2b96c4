"""The candidate operations, registered by name: the one definition every part of tnd imports.

Built as in DARTS: ReLU-Conv-BN blocks, separable convolutions applied twice, dilated convolutions,
factorized reduce for a strided skip. Every op maps ``(B, C, H, W)`` to ``(B, C, H/stride, W/stride)``.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

OpFactory = Callable[[int, int, bool], nn.Module]  # (channels, stride, affine) -> module

OPS: dict[str, OpFactory] = {}

# The eight DARTS candidates, in DARTS's order (so published genotypes and alpha tables line up).
PRIMITIVES: tuple[str, ...] = (
    "none",
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)


def register_op(name: str) -> Callable[[OpFactory], OpFactory]:
    def deco(factory: OpFactory) -> OpFactory:
        if name in OPS:
            raise ValueError(f"op {name!r} registered twice")
        OPS[name] = factory
        return factory

    return deco


def build_op(name: str, channels: int, stride: int, affine: bool = True) -> nn.Module:
    if name not in OPS:
        raise KeyError(f"unknown op {name!r}; known ops: {', '.join(OPS)}")
    return OPS[name](channels, stride, affine)


class ReLUConvBN(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int | tuple[int, int], stride: int,
                 padding: int | tuple[int, int], affine: bool = True):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )


class DilConv(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, dilation: int,
                 affine: bool = True):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, kernel, stride, padding, dilation=dilation, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )


class SepConv(nn.Sequential):
    """Two dilated-conv blocks back to back, the first carrying the stride (as in DARTS)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, affine: bool = True):
        super().__init__(
            DilConv(c_in, c_in, kernel, stride, padding, 1, affine),
            DilConv(c_in, c_out, kernel, 1, padding, 1, affine),
        )


class FactorizedReduce(nn.Module):
    """Halve the resolution without losing half the pixels: two offset strided 1x1 convs, concatenated."""

    def __init__(self, c_in: int, c_out: int, affine: bool = True):
        super().__init__()
        if c_out % 2:
            raise ValueError(f"FactorizedReduce needs an even number of output channels, got {c_out}")
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(c_out, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        # Odd sizes: pad so both branches give ceil(H/2) like the strided ops they stand beside.
        if x.shape[-1] % 2 or x.shape[-2] % 2:
            x = nn.functional.pad(x, (0, x.shape[-1] % 2, 0, x.shape[-2] % 2))
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(x[:, :, 1:, 1:])], 1))


class Zero(nn.Module):
    """The `none` op. Only the weighted-mixture supernet runs it; discrete networks drop the edge."""

    def __init__(self, stride: int):
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            return x.mul(0.0)
        return x[:, :, :: self.stride, :: self.stride].mul(0.0)


def _pool(kind: str, k: int) -> OpFactory:
    def factory(c: int, stride: int, affine: bool) -> nn.Module:
        if kind == "max":
            return nn.MaxPool2d(k, stride=stride, padding=k // 2)
        return nn.AvgPool2d(k, stride=stride, padding=k // 2, count_include_pad=False)

    return factory


register_op("none")(lambda c, stride, affine: Zero(stride))
register_op("max_pool_3x3")(_pool("max", 3))
register_op("avg_pool_3x3")(_pool("avg", 3))
register_op("skip_connect")(
    lambda c, stride, affine: nn.Identity() if stride == 1 else FactorizedReduce(c, c, affine))
register_op("sep_conv_3x3")(lambda c, stride, affine: SepConv(c, c, 3, stride, 1, affine))
register_op("sep_conv_5x5")(lambda c, stride, affine: SepConv(c, c, 5, stride, 2, affine))
register_op("dil_conv_3x3")(lambda c, stride, affine: DilConv(c, c, 3, stride, 2, 2, affine))
register_op("dil_conv_5x5")(lambda c, stride, affine: DilConv(c, c, 5, stride, 4, 2, affine))

# Extra candidates the TND-NAS authors' code searched over (normal: 7x7 sep, plain and factorised
# convs; reduction: larger pools). Off by default; a search config may name them per cell type.
register_op("sep_conv_7x7")(lambda c, stride, affine: SepConv(c, c, 7, stride, 3, affine))
register_op("conv_3x3")(lambda c, stride, affine: ReLUConvBN(c, c, 3, stride, 1, affine))
register_op("conv_1x1")(lambda c, stride, affine: ReLUConvBN(c, c, 1, stride, 0, affine))
register_op("conv_3x1_1x3")(lambda c, stride, affine: nn.Sequential(
    nn.ReLU(inplace=False),
    nn.Conv2d(c, c, (1, 3), stride=(1, stride), padding=(0, 1), bias=False),
    nn.Conv2d(c, c, (3, 1), stride=(stride, 1), padding=(1, 0), bias=False),
    nn.BatchNorm2d(c, affine=affine),
))
register_op("max_pool_5x5")(_pool("max", 5))
register_op("max_pool_7x7")(_pool("max", 7))

# NAS-Bench-201's convolutions (Dong & Yang, ICLR 2020): ReLU-Conv-BN, named as in its arch strings.
# NB201 gives these convs a bias only when BN is not affine, where BN's mean subtraction cancels it; tnd
# leaves it out in both cases (same function, and the evaluation networks, affine, are NB201's exactly).
# none, skip_connect and avg_pool_3x3 are shared with DARTS above: the same modules in both spaces.
register_op("nor_conv_1x1")(lambda c, stride, affine: ReLUConvBN(c, c, 1, stride, 0, affine))
register_op("nor_conv_3x3")(lambda c, stride, affine: ReLUConvBN(c, c, 3, stride, 1, affine))

# Identity-like ops: drop-path is not applied to them (as in DARTS), and derivation caps them.
PARAMETER_FREE = frozenset({"none", "max_pool_3x3", "avg_pool_3x3", "max_pool_5x5", "max_pool_7x7"})
