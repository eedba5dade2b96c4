"""An NB201 network as costed parts, with the same PartKey / lut_key as DARTS networks.

Parts: the stem (the DARTS stem module, so the key is shared), every non-``none`` edge op of every
cell, the element-wise adds that sum a node's live inputs, the two residual reduction blocks and the
head (BN + ReLU, pool, linear). Cost of a network = sum over its parts; params sum exactly.
"""

from __future__ import annotations

from typing import Iterable

from torch import nn

from tnd.space.nb201.arch import EDGES, N_NODES, NB201_OPS, NB201Arch
from tnd.space.nb201.network import Head, NB201Shape, ResNetBlock
from tnd.space.parts import PartKey, register_part

RESBLOCK, HEAD = "nb201_resblock", "nb201_head"


@register_part(RESBLOCK)
def _resblock(key: PartKey) -> nn.Module:
    return ResNetBlock(key.c_in, key.c_out)


@register_part(HEAD)
def _head(key: PartKey) -> nn.Module:
    return Head(key.c_in, key.c_out)


def cell_parts(arch: NB201Arch, c: int, h: int) -> list[PartKey]:
    parts = [PartKey(op, c, c, h, h, 1) for op in arch.ops if op != "none"]
    for node in range(1, N_NODES):
        live = sum(1 for k, (_, dst) in enumerate(EDGES) if dst == node and arch.ops[k] != "none")
        parts += [PartKey("add", c, c, h, h, 1)] * max(live - 1, 0)
    return parts


def _frame_parts(shape: NB201Shape) -> list[PartKey]:
    """The parts every network of the shape has, whatever its cell: stem, residual blocks, head."""
    stages = shape.stages()
    parts = [PartKey("stem", shape.in_channels, shape.channels, shape.input_size, shape.input_size, 1)]
    for (c_prev, h_prev), (c, _) in zip(stages, stages[1:]):
        parts.append(PartKey(RESBLOCK, c_prev, c, h_prev, h_prev, 2))
    c_last, h_last = stages[-1]
    parts.append(PartKey(HEAD, c_last, shape.num_classes, h_last, h_last, 1))
    return parts


def network_parts(arch: NB201Arch, shape: NB201Shape) -> list[PartKey]:
    """Every costed part of the network, with repeats (N cells per stage)."""
    parts = _frame_parts(shape)
    for c, h in shape.stages():
        parts += cell_parts(arch, c, h) * shape.cells_per_stage
    return parts


def space_parts(shapes: Iterable[NB201Shape], ops: Iterable[str] = NB201_OPS) -> list[PartKey]:
    """Every part any network over ``ops`` can use at these shapes: what a LUT must cover."""
    ops = [o for o in ops if o != "none"]
    keys: set[PartKey] = set()
    for shape in shapes:
        keys.update(_frame_parts(shape))
        for c, h in shape.stages():
            keys.update(PartKey(op, c, c, h, h, 1) for op in ops)
            keys.add(PartKey("add", c, c, h, h, 1))
    return sorted(keys)
