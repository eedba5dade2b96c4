"""The evaluation network built from a discrete architecture (DARTS's NetworkCIFAR, generalised)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from tnd.space.genotype import Architecture, CellArch, Genotype
from tnd.space.ops import PARAMETER_FREE, FactorizedReduce, ReLUConvBN, build_op
from tnd.space.plan import CellSlot, NetworkShape, plan_cells, reduction_cells, stem_channels
from tnd.space.published import as_genotype


def preprocessors(slot: CellSlot, affine: bool = True) -> tuple[nn.Module, nn.Module]:
    """Bring both cell inputs to ``slot.c`` channels at resolution ``slot.h_in``."""
    if slot.reduction_prev:
        pre0: nn.Module = FactorizedReduce(slot.c_prev_prev, slot.c, affine)
    else:
        pre0 = ReLUConvBN(slot.c_prev_prev, slot.c, 1, 1, 0, affine)
    return pre0, ReLUConvBN(slot.c_prev, slot.c, 1, 1, 0, affine)


def edge_stride(slot: CellSlot, src: int) -> int:
    return 2 if slot.reduction and src < 2 else 1


def drop_path(x: torch.Tensor, drop_prob: float) -> torch.Tensor:
    """Zero whole samples of a branch with probability drop_prob (scaled to keep the mean)."""
    if drop_prob <= 0.0:
        return x
    keep = 1.0 - drop_prob
    mask = torch.empty(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype).bernoulli_(keep)
    return x / keep * mask


class Cell(nn.Module):
    def __init__(self, arch: CellArch, slot: CellSlot, n_nodes: int = 4):
        super().__init__()
        self.slot, self.n_nodes = slot, n_nodes
        self.edges = arch.edges
        self.concat = arch.concat
        self.preprocess0, self.preprocess1 = preprocessors(slot)
        self.ops = nn.ModuleList(build_op(e.op, slot.c, edge_stride(slot, e.src)) for e in arch.edges)
        self._droppable = [e.op not in PARAMETER_FREE and not (e.op == "skip_connect" and
                                                            edge_stride(slot, e.src) == 1)
                           for e in arch.edges]
        # Nodes read earlier nodes, so edges run grouped by destination node, in node order.
        self._by_node = [[k for k, e in enumerate(arch.edges) if e.dst == node] for node in range(n_nodes)]

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, drop_prob: float = 0.0) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for node_edges in self._by_node:
            inputs = []
            for k in node_edges:
                h = self.ops[k](states[self.edges[k].src])
                if self.training and self._droppable[k]:
                    h = drop_path(h, drop_prob)
                inputs.append(h)
            states.append(sum(inputs[1:], inputs[0]) if inputs else self._zeros(states[1]))
        return torch.cat([states[i] for i in self.concat], dim=1)

    def _zeros(self, s1: torch.Tensor) -> torch.Tensor:
        h = self.slot.h_out
        return s1.new_zeros(s1.shape[0], self.slot.c, h, h)


class AuxiliaryHead(nn.Module):
    """DARTS's auxiliary classifier, with adaptive pooling so it also fits small inputs (8x8 digits)."""

    def __init__(self, c: int, num_classes: int):
        super().__init__()
        self.features = nn.Sequential(
            nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(2),
            nn.Conv2d(c, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=True),
            nn.Conv2d(128, 768, 2, bias=False),
            nn.BatchNorm2d(768),
            nn.ReLU(inplace=True),
        )
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).flatten(1))


class Stem(nn.Sequential):
    def __init__(self, c_in: int, c_out: int):
        super().__init__(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out))


class Classifier(nn.Module):
    def __init__(self, c_in: int, num_classes: int):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.linear = nn.Linear(c_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.pool(x).flatten(1))


class Network(nn.Module):
    """Stem, cells (reductions at 1/3 and 2/3), optional auxiliary head, global pool and classifier.

    In training with ``auxiliary=True`` forward returns ``(logits, aux_logits)``; otherwise logits.
    """

    def __init__(self, arch: Architecture, shape: NetworkShape, auxiliary: bool = False):
        super().__init__()
        self.arch, self.shape = arch, shape
        self.drop_path_prob = 0.0
        slots = plan_cells(shape, len(arch.normal.concat), len(arch.reduce.concat))
        self.stem = Stem(shape.in_channels, stem_channels(shape))
        self.cells = nn.ModuleList(Cell(arch.reduce if s.reduction else arch.normal, s) for s in slots)
        self._aux_after = reduction_cells(shape.layers)[-1]
        c_final = len((arch.reduce if slots[-1].reduction else arch.normal).concat) * slots[-1].c
        self.auxiliary_head = (AuxiliaryHead(_cell_out_channels(arch, slots[self._aux_after]), shape.num_classes)
                               if auxiliary else None)
        self.classifier = Classifier(c_final, shape.num_classes)

    def forward(self, x: torch.Tensor):
        s0 = s1 = self.stem(x)
        aux = None
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
            if i == self._aux_after and self.auxiliary_head is not None and self.training:
                aux = self.auxiliary_head(s1)
        logits = self.classifier(s1)
        return (logits, aux) if aux is not None else logits


def _cell_out_channels(arch: Architecture, slot: CellSlot) -> int:
    return len((arch.reduce if slot.reduction else arch.normal).concat) * slot.c


def build_network(genotype: Genotype | Architecture | dict | str | Any, channels: int = 36, layers: int = 20,
                  num_classes: int = 10, auxiliary: bool = False, in_channels: int = 3,
                  input_size: int = 32, shape: NetworkShape | None = None) -> Network:
    """The evaluation network for a genotype (or any discrete architecture).

    Args:
        genotype: a ``Genotype``, an ``Architecture``, a DARTS-style dict or named tuple, DARTS's
            ``Genotype(...)`` text, or a published name (``DARTS_V2``, ``DARTS_V1``, ``PDARTS``).
        channels, layers, num_classes, in_channels, input_size: the network's shape (DARTS's CIFAR-10
            evaluation network by default); ignored when ``shape`` is given.
        auxiliary: add DARTS's auxiliary head (training only).
        shape: the whole shape as one record, e.g. ``NetworkShape.from_dict(checkpoint["shape"])``.
    """
    arch = genotype if isinstance(genotype, Architecture) else Architecture.from_genotype(as_genotype(genotype))
    shape = shape or NetworkShape(channels=channels, layers=layers, num_classes=num_classes,
                                  in_channels=in_channels, input_size=input_size)
    return Network(arch, shape, auxiliary)


def count_parameters(model: nn.Module, exclude_auxiliary: bool = True) -> int:
    """Parameters as DARTS counts them: without the auxiliary head."""
    return sum(p.numel() for name, p in model.named_parameters()
               if not (exclude_auxiliary and name.startswith("auxiliary_head")))
