"""NAS-Bench-201's macro network (its TinyNetwork) for a cell: what NB201 trained, exported and timed.

Stem (3x3 conv + BN), three stages of N cells at C, 2C and 4C channels joined by ResNet basic blocks
that halve the resolution, then BN + ReLU, global average pooling and a linear classifier. With
C=16, N=5 on CIFAR-10 it has NB201's parameter counts (0.073306M with no conv in the cell, 1.531546M
with six 3x3 convs).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Callable

import torch
from torch import nn

from tnd.errors import TndError
from tnd.space.nb201.arch import EDGES, N_NODES, NB201Arch
from tnd.space.network import Stem
from tnd.space.ops import ReLUConvBN, build_op

N_STAGES = 3


@dataclass(frozen=True)
class NB201Shape:
    """Width, depth and data shape of an NB201 network (NB201 trains C=16, N=5)."""

    channels: int = 16          # C of the first stage (2C, 4C in the next two)
    cells_per_stage: int = 5    # N
    num_classes: int = 10
    in_channels: int = 3
    input_size: int = 32        # square inputs; halved twice, so a multiple of 4

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise TndError(f"NB201 network: '{f.name}' must be a positive integer, got {v!r}")
        if self.input_size % 4:
            raise TndError(f"NB201 network: 'input_size' must be a multiple of 4 (two stride-2 residual blocks), "
                           f"got {self.input_size}")

    def stages(self) -> list[tuple[int, int]]:
        """(channels, resolution) of each stage's cells."""
        return [(self.channels * 2 ** s, self.input_size // 2 ** s) for s in range(N_STAGES)]

    def input_chw(self) -> tuple[int, int, int]:
        """One input's (channels, height, width)."""
        return (self.in_channels, self.input_size, self.input_size)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, obj: Any) -> "NB201Shape":
        if not isinstance(obj, dict):
            raise TndError(f"NB201 network shape: expected an object, got {type(obj).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(obj) - known)
        if unknown:
            raise TndError(f"NB201 network shape: unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**obj)


# The data NB201 (and the tabular files built on it) trained on: classes and input size per dataset.
DATASET_SHAPES: dict[str, NB201Shape] = {
    "cifar10": NB201Shape(num_classes=10),
    "cifar100": NB201Shape(num_classes=100),
    "ImageNet16-120": NB201Shape(num_classes=120, input_size=16),
}


class ResNetBlock(nn.Module):
    """NB201's reduction between stages: two ReLU-Conv-BN 3x3 (the first strided) plus a pooled 1x1 shortcut."""

    def __init__(self, c_in: int, c_out: int, affine: bool = True):
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, 2, 1, affine)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, 1, affine)
        self.downsample = nn.Sequential(nn.AvgPool2d(2, stride=2, padding=0),
                                        nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


class Head(nn.Module):
    """NB201's ``lastact`` (BN + ReLU), global average pooling and the linear classifier."""

    def __init__(self, c_in: int, num_classes: int):
        super().__init__()
        self.lastact = nn.Sequential(nn.BatchNorm2d(c_in), nn.ReLU(inplace=False))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(self.lastact(x)).flatten(1))


def node_sum(inputs: list[torch.Tensor], like: torch.Tensor) -> torch.Tensor:
    """A node: the sum of its live inputs; zeros when every incoming edge is ``none`` (as NB201's Zero op)."""
    if not inputs:
        return torch.zeros_like(like)
    return sum(inputs[1:], inputs[0])


class Cell(nn.Module):
    """NB201's InferCell: every non-``none`` edge is built (even from a node that is always zero,
    as NB201 does, so parameter counts and timings are NB201's); the cell outputs node 3."""

    def __init__(self, arch: NB201Arch, c: int, affine: bool = True):
        super().__init__()
        self.arch = arch
        self.ops = nn.ModuleDict({str(k): build_op(op, c, 1, affine) for k, op in enumerate(arch.ops) if op != "none"})
        self._by_node = [[k for k, (_, dst) in enumerate(EDGES) if dst == node and arch.ops[k] != "none"]
                         for node in range(1, N_NODES)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for edges in self._by_node:
            nodes.append(node_sum([self.ops[str(k)](nodes[EDGES[k][0]]) for k in edges], x))
        return nodes[-1]


def macro_layout(shape: NB201Shape, make_cell: Callable[[int], nn.Module]) -> tuple[nn.Module, nn.ModuleList, nn.Module]:
    """NB201's macro network around any cell: stem, 3 stages of N cells (``make_cell(channels)``) with a residual
    reduction block between stages, and the head. The evaluation network and the supernet share it."""
    blocks: list[nn.Module] = []
    c_prev = shape.channels
    for s, (c, _) in enumerate(shape.stages()):
        if s:
            blocks.append(ResNetBlock(c_prev, c))
        blocks += [make_cell(c) for _ in range(shape.cells_per_stage)]
        c_prev = c
    return Stem(shape.in_channels, shape.channels), nn.ModuleList(blocks), Head(c_prev, shape.num_classes)


class NB201Network(nn.Module):
    """The evaluation network of one cell: ``stem``, ``cells`` (cells and residual blocks in order), ``head``."""

    def __init__(self, arch: NB201Arch, shape: NB201Shape = NB201Shape()):
        super().__init__()
        self.arch, self.shape = arch, shape
        self.stem, self.cells, self.head = macro_layout(shape, lambda c: Cell(arch, c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for block in self.cells:
            x = block(x)
        return self.head(x)


def build_nb201_network(arch: NB201Arch | str, shape: NB201Shape = NB201Shape()) -> NB201Network:
    """The network for an arch record or an NB201 string."""
    return NB201Network(arch if isinstance(arch, NB201Arch) else NB201Arch.parse(arch), shape)
