"""The one-shot supernet. Every edge holds its surviving candidate ops; a sampled forward runs one.

``sampled`` mode (tnd's default) runs only the op drawn for each edge, so a training step costs what
the sampled network alone costs. A sampled node has 0 to 5 live inputs, so it takes their mean, not
their sum: with sums, identity and pooling chains gave the shared classifier feature scales that differ
tenfold between samples and weight training diverged (docs/design-decisions.md has the numbers). ``mixture`` mode is DARTS's softmax-weighted sum over all surviving
ops, kept for faithful reproduction of the TND-NAS authors' code and for the benchmark comparison.
"""

from __future__ import annotations

import torch
from torch import nn

from tnd.space.genotype import CANDIDATE_EDGES, CELL_TYPES, N_NODES
from tnd.space.network import Classifier, Stem, edge_stride, preprocessors
from tnd.space.ops import build_op
from tnd.space.plan import CellSlot, NetworkShape, plan_cells, stem_channels

POOLS = ("max_pool", "avg_pool")


def search_op(name: str, c: int, stride: int, mixture: bool) -> nn.Module:
    op = build_op(name, c, stride, affine=False)
    if mixture and name.startswith(POOLS):  # DARTS: rescale pooling outputs inside the weighted sum
        op = nn.Sequential(op, nn.BatchNorm2d(c, affine=False))
    return op


class SuperCell(nn.Module):
    def __init__(self, alive_ops: list[list[str]], op_set: list[str], slot: CellSlot, mixture: bool):
        super().__init__()
        self.slot = slot
        self.index = {name: i for i, name in enumerate(op_set)}
        self.preprocess0, self.preprocess1 = preprocessors(slot, affine=False)
        self.edges = nn.ModuleList(
            nn.ModuleDict({name: search_op(name, slot.c, edge_stride(slot, src), mixture)
                           for name in ops if name != "none"})
            for ops, (src, _) in zip(alive_ops, CANDIDATE_EDGES))
        self._by_node = [[k for k, (_, dst) in enumerate(CANDIDATE_EDGES) if dst == node] for node in range(N_NODES)]

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, choice: list[str] | None,
                weights: torch.Tensor | None) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for node_edges in self._by_node:
            inputs = []
            for k in node_edges:
                x = states[CANDIDATE_EDGES[k][0]]
                if choice is not None:
                    if choice[k] != "none":
                        inputs.append(self.edges[k][choice[k]](x))
                else:
                    assert weights is not None
                    inputs += [weights[k, self.index[name]] * op(x) for name, op in self.edges[k].items()]
            if inputs:
                total = sum(inputs[1:], inputs[0])
                states.append(total / len(inputs) if choice is not None else total)
            else:
                h = self.slot.h_out
                states.append(states[1].new_zeros(states[1].shape[0], self.slot.c, h, h))
        return torch.cat(states[2:], dim=1)


class Supernet(nn.Module):
    """Stem, super-cells and classifier at one stage's depth, over the ops alive on each edge."""

    def __init__(self, op_sets: dict[str, list[str]], alive_ops: dict[str, list[list[str]]],
                 shape: NetworkShape, mode: str = "sampled"):
        super().__init__()
        if mode not in ("sampled", "mixture"):
            raise ValueError(f"unknown supernet mode {mode!r}")
        self.mode = mode
        slots = plan_cells(shape)
        self.stem = Stem(shape.in_channels, stem_channels(shape))
        self.cells = nn.ModuleList(
            SuperCell(alive_ops["reduce" if s.reduction else "normal"], op_sets["reduce" if s.reduction else "normal"],
                      s, mode == "mixture")
            for s in slots)
        self.reduction = [s.reduction for s in slots]
        self.classifier = Classifier(N_NODES * slots[-1].c, shape.num_classes)

    def forward(self, x: torch.Tensor, choice: dict[str, list[str]] | None = None,
                weights: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """``choice``: op name per edge for each cell type (sampled path); else ``weights`` (mixture)."""
        if (choice is None) == (weights is None):
            raise ValueError("give exactly one of choice (sampled path) or weights (mixture)")
        s0 = s1 = self.stem(x)
        for cell, red in zip(self.cells, self.reduction):
            kind = CELL_TYPES[1] if red else CELL_TYPES[0]
            s0, s1 = s1, cell(s0, s1, choice[kind] if choice is not None else None,
                              weights[kind] if weights is not None else None)
        return self.classifier(s1)
