"""A network as a list of costed parts, and the LUT key that names each part.

Every piece of a network that costs time, energy or parameters is a part: the stem, each cell's two
preprocessing blocks, every edge op, every element-wise add that sums a node's inputs, each cell's
concatenation, and the classifier (global pool + linear). Cost of a network = sum over its parts.
``lut_key`` is the one function that names a part; LUT builders, cost models and tests all use it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Iterable

import torch
from torch import nn

from tnd.space.genotype import CANDIDATE_EDGES, Architecture, CellArch
from tnd.space.network import Classifier, Stem, edge_stride
from tnd.space.ops import OPS, FactorizedReduce, ReLUConvBN, build_op
from tnd.space.plan import CellSlot, NetworkShape, half, plan_cells, stem_channels

# Parts that are not candidate ops.
STRUCTURAL_PARTS = ("stem", "relu_conv_bn_1x1", "factorized_reduce", "add", "concat", "classifier")


@dataclass(frozen=True, order=True)
class PartKey:
    """What a part is and the shape it runs at: (op, c_in, c_out, h, w, stride).

    ``h, w`` are the input resolution. For ``concat``, ``c_in`` is each input's channels and
    ``c_out`` the total. For ``classifier``, ``c_out`` is the number of classes.
    """

    op: str
    c_in: int
    c_out: int
    h: int
    w: int
    stride: int = 1

    def __str__(self) -> str:
        return lut_key(self.op, self.c_in, self.c_out, self.h, self.w, self.stride)

    @property
    def n_inputs(self) -> int:
        if self.op == "add":
            return 2
        if self.op == "concat":
            return self.c_out // self.c_in
        return 1


def lut_key(op: str, c_in: int, c_out: int, h: int, w: int, stride: int = 1) -> str:
    """The LUT key: ``op|cin=16|cout=16|h=32|w=32|s=1``. Batch size and dtype are table-wide settings."""
    return f"{op}|cin={c_in}|cout={c_out}|h={h}|w={w}|s={stride}"


_KEY_RE = re.compile(r"(?P<op>[a-z0-9_]+)\|cin=(\d+)\|cout=(\d+)\|h=(\d+)\|w=(\d+)\|s=(\d+)")


def parse_key(key: str) -> PartKey:
    m = _KEY_RE.fullmatch(key)
    if not m:
        raise ValueError(f"not a LUT key: {key!r} (expected e.g. {lut_key('sep_conv_3x3', 16, 16, 32, 32, 1)})")
    return PartKey(m["op"], *(int(g) for g in m.groups()[1:]))


# ---- which parts a network has ---------------------------------------------------------------

def _preprocess_parts(slot: CellSlot) -> list[PartKey]:
    if slot.reduction_prev:
        pre0 = PartKey("factorized_reduce", slot.c_prev_prev, slot.c, slot.h_prev_prev, slot.h_prev_prev, 2)
    else:
        pre0 = PartKey("relu_conv_bn_1x1", slot.c_prev_prev, slot.c, slot.h_prev_prev, slot.h_prev_prev, 1)
    return [pre0, PartKey("relu_conv_bn_1x1", slot.c_prev, slot.c, slot.h_in, slot.h_in, 1)]


def _op_part(op: str, slot: CellSlot, src: int) -> PartKey:
    stride = edge_stride(slot, src)
    h = slot.h_in if src < 2 else slot.h_out
    return PartKey(op, slot.c, slot.c, h, h, stride)


def cell_parts(cell: CellArch, slot: CellSlot) -> list[PartKey]:
    parts = _preprocess_parts(slot)
    in_degree = [0] * (max((e.dst for e in cell.edges), default=-1) + 1)
    for e in cell.edges:
        parts.append(_op_part(e.op, slot, e.src))
        in_degree[e.dst] += 1
    add = PartKey("add", slot.c, slot.c, slot.h_out, slot.h_out, 1)
    parts += [add] * sum(max(d - 1, 0) for d in in_degree)
    parts.append(PartKey("concat", slot.c, slot.c * len(cell.concat), slot.h_out, slot.h_out, 1))
    return parts


def network_parts(arch: Architecture, shape: NetworkShape) -> list[PartKey]:
    """Every costed part of the inference network (no auxiliary head, no drop-path), with repeats."""
    slots = plan_cells(shape, len(arch.normal.concat), len(arch.reduce.concat))
    parts = [PartKey("stem", shape.in_channels, stem_channels(shape), shape.input_size, shape.input_size, 1)]
    for slot in slots:
        parts += cell_parts(arch.reduce if slot.reduction else arch.normal, slot)
    last = slots[-1]
    c_final = len((arch.reduce if last.reduction else arch.normal).concat) * last.c
    parts.append(PartKey("classifier", c_final, shape.num_classes, last.h_out, last.h_out, 1))
    return parts


def space_parts(shapes: Iterable[NetworkShape], normal_ops: Iterable[str], reduce_ops: Iterable[str],
                n_outputs: int = 4) -> list[PartKey]:
    """Every part any network of the space can use at these shapes: what a LUT must cover."""
    normal_ops, reduce_ops = [o for o in normal_ops if o != "none"], [o for o in reduce_ops if o != "none"]
    keys: set[PartKey] = set()
    for shape in shapes:
        slots = plan_cells(shape, n_outputs, n_outputs)
        keys.add(PartKey("stem", shape.in_channels, stem_channels(shape), shape.input_size, shape.input_size))
        for slot in slots:
            keys.update(_preprocess_parts(slot))
            for op in reduce_ops if slot.reduction else normal_ops:
                for src, _ in CANDIDATE_EDGES:
                    keys.add(_op_part(op, slot, src))
            keys.add(PartKey("add", slot.c, slot.c, slot.h_out, slot.h_out, 1))
            keys.add(PartKey("concat", slot.c, slot.c * n_outputs, slot.h_out, slot.h_out, 1))
        last = slots[-1]
        keys.add(PartKey("classifier", n_outputs * last.c, shape.num_classes, last.h_out, last.h_out, 1))
    return sorted(keys)


# ---- a part as a runnable module (for measuring and counting) -------------------------------

class Add(nn.Module):
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a + b


class Concat(nn.Module):
    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return torch.cat(xs, dim=1)


PartFactory = Callable[[PartKey], nn.Module]

# Structural parts of other spaces (NAS-Bench-201's residual blocks and head), registered by the space.
PART_FACTORIES: dict[str, PartFactory] = {}


def register_part(name: str) -> Callable[[PartFactory], PartFactory]:
    def deco(factory: PartFactory) -> PartFactory:
        if name in PART_FACTORIES or name in STRUCTURAL_PARTS or name in OPS:
            raise ValueError(f"part {name!r} registered twice")
        PART_FACTORIES[name] = factory
        return factory

    return deco


def part_module(key: PartKey) -> nn.Module:
    """The module a part runs, exactly as the evaluation network builds it."""
    if key.op in PART_FACTORIES:
        return PART_FACTORIES[key.op](key)
    if key.op == "stem":
        return Stem(key.c_in, key.c_out)
    if key.op == "relu_conv_bn_1x1":
        return ReLUConvBN(key.c_in, key.c_out, 1, key.stride, 0)
    if key.op == "factorized_reduce":
        return FactorizedReduce(key.c_in, key.c_out)
    if key.op == "add":
        return Add()
    if key.op == "concat":
        return Concat()
    if key.op == "classifier":
        return Classifier(key.c_in, key.c_out)
    if key.c_in != key.c_out:
        raise ValueError(f"candidate op parts keep their channels, got {key}")
    return build_op(key.op, key.c_in, key.stride)


def part_inputs(key: PartKey, batch: int = 1, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, ...]:
    return tuple(torch.randn(batch, key.c_in, key.h, key.w, dtype=dtype) for _ in range(key.n_inputs))


def part_output_size(key: PartKey) -> int:
    return half(key.h) if key.stride == 2 else key.h


@lru_cache(maxsize=None)
def part_params(key: PartKey) -> int:
    return sum(p.numel() for p in part_module(key).parameters())


@lru_cache(maxsize=None)
def part_flops(key: PartKey) -> int:
    """Multiply-accumulates at batch 1 (what DARTS papers and thop report as "FLOPs").

    Counted by torch's FlopCounterMode on the part's forward pass, so every convolution and matrix product
    counts wherever it is called (an op registered with ``register_op`` that calls ``F.conv2d`` included);
    it reports FLOPs = 2 x MACs. Run on the meta device (shapes only) and cached per part: a search
    costs many architectures from few parts.
    """
    from torch.utils.flop_counter import FlopCounterMode

    def count(device: str) -> int:
        counter = FlopCounterMode(display=False)
        with torch.device(device), torch.no_grad():
            module = part_module(key).eval()
            inputs = part_inputs(key)
            with counter:
                module(*inputs)
        return counter.get_total_flops() // 2

    try:
        return count("meta")  # shapes are all counting needs: no weight init, no arithmetic
    except (NotImplementedError, RuntimeError):
        return count("cpu")   # an op that reads values (e.g. .item()) needs real tensors; same count
