"""The shape of a DARTS network: which cells reduce, and each cell's channels and resolution.

One plan serves the evaluation network, the supernet and the LUT enumeration, so the three can
never disagree about a shape.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from tnd.errors import TndError


@dataclass(frozen=True)
class NetworkShape:
    channels: int = 36          # C of the first cells (doubles at each reduction)
    layers: int = 20            # number of cells
    num_classes: int = 10
    in_channels: int = 3
    input_size: int = 32        # square inputs, H = W
    stem_multiplier: int = 3

    def __post_init__(self) -> None:
        for name in ("channels", "layers", "num_classes", "in_channels", "input_size", "stem_multiplier"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise TndError(f"network: '{name}' must be a positive integer, got {v!r}")
        if self.channels % 2:
            raise TndError(f"network: 'channels' must be even (factorized reduce halves it), got {self.channels}")

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    def input_chw(self) -> tuple[int, int, int]:
        """One input image's (C, H, W)."""
        return (self.in_channels, self.input_size, self.input_size)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "network shape") -> NetworkShape:
        """From a checkpoint's, a model's or a table's record; keys that are not shape fields (a checkpoint's
        ``auxiliary``) are left to their owners."""
        names = {f.name for f in fields(cls)}
        missing = sorted({"channels", "layers", "num_classes", "in_channels", "input_size"} - set(data))
        if missing:
            raise TndError(f"{where}: missing {', '.join(missing)}")
        try:
            return cls(**{k: int(v) for k, v in data.items() if k in names})
        except (TypeError, ValueError):
            raise TndError(f"{where}: shape values must be integers, got {data!r}") from None


@dataclass(frozen=True)
class CellSlot:
    index: int
    reduction: bool
    reduction_prev: bool
    c_prev_prev: int   # channels of input state 0
    c_prev: int        # channels of input state 1
    c: int             # channels of every node in this cell
    h_prev_prev: int   # resolution of input state 0 (twice h_in after a reduction)
    h_in: int          # resolution of input state 1 and of the preprocessed states
    h_out: int


def reduction_cells(layers: int) -> tuple[int, ...]:
    """Reduction cells sit at 1/3 and 2/3 of the depth (as in DARTS)."""
    return tuple(sorted({layers // 3, 2 * layers // 3}))


def half(h: int) -> int:
    return (h + 1) // 2


def plan_cells(shape: NetworkShape, normal_outputs: int = 4, reduce_outputs: int = 4) -> list[CellSlot]:
    """``*_outputs``: how many node states each cell type concatenates (len of its concat)."""
    c_stem = shape.stem_multiplier * shape.channels
    c_pp, c_p, c = c_stem, c_stem, shape.channels
    h_pp = h_p = shape.input_size
    reductions = reduction_cells(shape.layers)
    slots: list[CellSlot] = []
    reduction_prev = False
    for i in range(shape.layers):
        reduction = i in reductions
        if reduction:
            c *= 2
        h_out = half(h_p) if reduction else h_p
        slots.append(CellSlot(i, reduction, reduction_prev, c_pp, c_p, c, h_pp, h_p, h_out))
        c_pp, c_p = c_p, (reduce_outputs if reduction else normal_outputs) * c
        h_pp, h_p = h_p, h_out
        reduction_prev = reduction
    return slots


def stem_channels(shape: NetworkShape) -> int:
    return shape.stem_multiplier * shape.channels
