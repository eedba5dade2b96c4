"""The NB201 weight-sharing supernet, with the interface of the DARTS ``tnd.search.supernet.Supernet``.

Each of the 6 edges of every cell holds its alive candidate ops. ``forward(x, choice=...)`` runs one op
per edge (the sampled path); ``forward(x, weights=...)`` runs the weighted mixture of every alive op
(DARTS on NB201). A node is the sum of its incoming edges, as in NB201 (``none`` adds nothing; a node
with no live input is zero), so the sampled path computes the standalone network's function with the
same weights. NB201 has one cell type, named ``"cell"``: ``op_sets``, ``alive_ops``, ``choice`` and
``weights`` are dicts keyed by it, as the DARTS supernet's are keyed by ``normal`` / ``reduce``.

Cell ops are built without BN affine parameters, as NB201's and DARTS's search cells are; stem,
residual blocks and head are the evaluation network's. ``mode`` is recorded for the loop, as the DARTS
supernet's is; NB201 adds no BN after pooling in the mixture, so both forwards work in either mode.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from tnd.space.nb201.arch import EDGES, N_EDGES, N_NODES, NB201_OPS
from tnd.space.nb201.network import NB201Shape, macro_layout, node_sum
from tnd.space.ops import build_op

CELL_TYPES: tuple[str, ...] = ("cell",)
MODES = ("sampled", "mixture")


def _check_alive(alive: Sequence[Sequence[str]], op_set: Sequence[str]) -> None:
    if len(alive) != N_EDGES:
        raise ValueError(f"NB201 supernet: alive ops needed for each of the {N_EDGES} edges, got {len(alive)}")
    for k, ops in enumerate(alive):
        if not ops:
            raise ValueError(f"NB201 supernet: edge {k} has no alive op")
        bad = [o for o in ops if o not in op_set or o not in NB201_OPS]
        if bad:
            raise ValueError(f"NB201 supernet: edge {k} names {bad}, not in the op set {list(op_set)}")


class SuperCell(nn.Module):
    def __init__(self, alive_ops: Sequence[Sequence[str]], op_set: Sequence[str], c: int):
        super().__init__()
        self.alive = [list(ops) for ops in alive_ops]
        self.index = {name: i for i, name in enumerate(op_set)}
        self.edges = nn.ModuleList(nn.ModuleDict({op: build_op(op, c, 1, affine=False) for op in ops if op != "none"})
                                   for ops in alive_ops)
        self._by_node = [[k for k, (_, dst) in enumerate(EDGES) if dst == node] for node in range(1, N_NODES)]

    def forward(self, x: torch.Tensor, choice: Sequence[str] | None, weights: torch.Tensor | None) -> torch.Tensor:
        nodes = [x]
        for node_edges in self._by_node:
            inputs: list[torch.Tensor] = []
            for k in node_edges:
                h = nodes[EDGES[k][0]]
                if choice is not None:
                    if choice[k] != "none":
                        inputs.append(self.edges[k][choice[k]](h))
                else:
                    assert weights is not None
                    inputs += [weights[k, self.index[name]] * op(h) for name, op in self.edges[k].items()]
            nodes.append(node_sum(inputs, x))
        return nodes[-1]


class NB201Supernet(nn.Module):
    """Stem, 3 stages of super-cells joined by residual blocks, head; over the ops alive on each edge."""

    def __init__(self, op_sets: dict[str, list[str]], alive_ops: dict[str, list[list[str]]],
                 shape: NB201Shape = NB201Shape(), mode: str = "sampled"):
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"unknown supernet mode {mode!r}; choose from {', '.join(MODES)}")
        if set(op_sets) != set(CELL_TYPES) or set(alive_ops) != set(CELL_TYPES):
            raise ValueError(f"NB201 supernet: op_sets and alive_ops must be keyed by {CELL_TYPES}, "
                             f"got {sorted(op_sets)} and {sorted(alive_ops)}")
        (kind,) = CELL_TYPES
        _check_alive(alive_ops[kind], op_sets[kind])
        self.mode, self.shape = mode, shape
        self.op_set = list(op_sets[kind])
        self.alive = [list(ops) for ops in alive_ops[kind]]
        self.stem, self.cells, self.head = macro_layout(shape, lambda c: SuperCell(self.alive, self.op_set, c))

    def forward(self, x: torch.Tensor, choice: dict[str, list[str]] | None = None,
                weights: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """``choice``: {"cell": op per edge} (sampled path); else ``weights``: {"cell": (6, len(op set))}."""
        if (choice is None) == (weights is None):
            raise ValueError("give exactly one of choice (sampled path) or weights (mixture)")
        (kind,) = CELL_TYPES
        ops = choice[kind] if choice is not None else None
        w = weights[kind] if weights is not None else None
        if ops is not None:
            if len(ops) != N_EDGES:
                raise ValueError(f"NB201 supernet: choice needs one op per edge ({N_EDGES}), got {len(ops)}")
            dead = [(k, op) for k, op in enumerate(ops) if op not in self.alive[k]]
            if dead:
                raise ValueError(f"NB201 supernet: chosen op(s) not alive on their edge: {dead}")
        elif w is not None and tuple(w.shape) != (N_EDGES, len(self.op_set)):
            raise ValueError(f"NB201 supernet: weights must be ({N_EDGES}, {len(self.op_set)}), got {tuple(w.shape)}")
        x = self.stem(x)
        for block in self.cells:
            x = block(x, ops, w) if isinstance(block, SuperCell) else block(x)
        return self.head(x)
