"""An NB201 network as costed parts, with the same PartKey / lut_key as DARTS networks.

Two lists. ``network_parts``: what PyTorch builds and counts: the stem (the DARTS stem module, so the
key is shared), every non-``none`` edge op of every cell, the element-wise adds that sum a node's
inputs, the two residual reduction blocks and the head (BN + ReLU, pool, linear); params and flops
sum exactly over it. ``live_network_parts``: what an ONNX runtime executes, the list latency and
energy sum: only the live edges' ops (``live_edges``) and the adds the runtime keeps, and nothing
at all when the cell is disconnected (the whole network folds to a constant).
"""

from __future__ import annotations

from typing import Iterable

from torch import nn

from tnd.space.nb201.arch import EDGES, N_NODES, NB201_OPS, NB201Arch, is_connected, live_edges
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
    """Every op PyTorch builds (dead ones included: they hold weights) and the adds of every node."""
    parts = [PartKey(op, c, c, h, h, 1) for op in arch.ops if op != "none"]
    for node in range(1, N_NODES):
        live = sum(1 for k, (_, dst) in enumerate(EDGES) if dst == node and arch.ops[k] != "none")
        parts += [PartKey("add", c, c, h, h, 1)] * max(live - 1, 0)
    return parts


def runtime_adds(arch: NB201Arch, node: int, live: frozenset[int]) -> int:
    """The adds an ONNX runtime keeps at ``node``, a node on an input-to-output path (``live``: the cell's
    ``live_edges``). Its inputs are summed in edge order (``Cell.forward``); an input from a node the input
    never reaches is a constant, and an add of two constants is folded, but an add of a constant to a
    varying input stays (checked on ORT's optimised graph)."""
    varying = [k in live for k, (_, dst) in enumerate(EDGES) if dst == node and arch.ops[k] != "none"]
    adds, acc_varies = 0, False
    for i, v in enumerate(varying):
        if i and (acc_varies or v):
            adds += 1
        acc_varies = acc_varies or v
    return adds


def live_cell_parts(arch: NB201Arch, c: int, h: int) -> list[PartKey]:
    """What a runtime executes of the cell: the ops of its live edges and the adds it keeps."""
    live = frozenset(live_edges(arch))
    parts = [PartKey(arch.ops[k], c, c, h, h, 1) for k in sorted(live)]
    for node in sorted({EDGES[k][1] for k in live}):
        parts += [PartKey("add", c, c, h, h, 1)] * runtime_adds(arch, node, live)
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
    """Every part PyTorch builds, with repeats (N cells per stage): what params and flops count."""
    parts = _frame_parts(shape)
    for c, h in shape.stages():
        parts += cell_parts(arch, c, h) * shape.cells_per_stage
    return parts


def live_network_parts(arch: NB201Arch, shape: NB201Shape) -> list[PartKey]:
    """The parts an ONNX runtime executes, with repeats: what latency and energy sum. None for a disconnected
    cell: the network's output is then a constant, folded whole (measured: one call's overhead)."""
    if not is_connected(arch):
        return []
    parts = _frame_parts(shape)
    for c, h in shape.stages():
        parts += live_cell_parts(arch, c, h) * shape.cells_per_stage
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
