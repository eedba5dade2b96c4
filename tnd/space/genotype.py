"""The genotype format: DARTS's named tuple as JSON, and the cell topology it lives in.

A cell has 2 input states (the two previous cells) and ``N_NODES`` intermediate nodes. Node ``k``
(state ``k + 2``) may read any earlier state, so there are 2 + 3 + 4 + 5 = 14 candidate edges.
A genotype keeps two of them per node: ``[[op, input_state], ...]``, two consecutive pairs per node.
"""

from __future__ import annotations

import ast
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, NamedTuple

from tnd.errors import TndError
from tnd.space.ops import OPS, PRIMITIVES

N_NODES = 4
CELL_TYPES = ("normal", "reduce")


class Edge(NamedTuple):
    """One operation inside a cell: ``op`` applied to state ``src``, summed into node ``dst``."""

    op: str
    src: int  # 0, 1: cell inputs; 2..: intermediate nodes
    dst: int  # intermediate node index, 0..N_NODES-1 (state dst + 2)


# Every candidate edge of a cell, in DARTS's order (edge index = row of alpha).
CANDIDATE_EDGES: tuple[tuple[int, int], ...] = tuple(
    (src, node) for node in range(N_NODES) for src in range(node + 2)
)
N_EDGES = len(CANDIDATE_EDGES)  # 14

Pair = tuple[str, int]


@dataclass(frozen=True)
class Genotype:
    normal: tuple[Pair, ...]
    normal_concat: tuple[int, ...]
    reduce: tuple[Pair, ...]
    reduce_concat: tuple[int, ...]

    def __post_init__(self) -> None:
        for cell in CELL_TYPES:
            pairs = getattr(self, cell)
            concat = getattr(self, f"{cell}_concat")
            if len(pairs) % 2 or not pairs:
                raise TndError(f"genotype: '{cell}' must list two [op, input] pairs per node, got {len(pairs)}")
            n_nodes = len(pairs) // 2
            for i, (op, src) in enumerate(pairs):
                node = i // 2
                if op not in OPS:
                    raise TndError(f"genotype: unknown op {op!r} in '{cell}'; known ops: {', '.join(OPS)}")
                if op == "none":
                    raise TndError(f"genotype: 'none' cannot be a chosen op in '{cell}'; pick a real op")
                if not 0 <= src < node + 2:
                    raise TndError(f"genotype: '{cell}' node {node} reads state {src}, "
                                   f"but only states 0..{node + 1} exist before it")
            if not concat or any(not 2 <= c < n_nodes + 2 for c in concat):
                raise TndError(f"genotype: '{cell}_concat' must list node states in 2..{n_nodes + 1}, got {list(concat)}")

    # ---- conversions -------------------------------------------------------------------------
    def edges(self, cell: str) -> list[Edge]:
        return [Edge(op, src, i // 2) for i, (op, src) in enumerate(getattr(self, cell))]

    def concat(self, cell: str) -> tuple[int, ...]:
        return getattr(self, f"{cell}_concat")

    def to_dict(self) -> dict[str, Any]:
        return {
            "normal": [[op, src] for op, src in self.normal],
            "normal_concat": list(self.normal_concat),
            "reduce": [[op, src] for op, src in self.reduce],
            "reduce_concat": list(self.reduce_concat),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    def __str__(self) -> str:  # DARTS's repr, so a genotype can be pasted back into DARTS code
        def pairs(p: Iterable[Pair]) -> str:
            return "[" + ", ".join(f"('{op}', {src})" for op, src in p) + "]"

        return (f"Genotype(normal={pairs(self.normal)}, normal_concat={list(self.normal_concat)}, "
                f"reduce={pairs(self.reduce)}, reduce_concat={list(self.reduce_concat)})")

    @classmethod
    def from_dict(cls, obj: Any) -> "Genotype":
        if isinstance(obj, dict) and "genotype" in obj and "normal" not in obj:
            obj = obj["genotype"]
        if not isinstance(obj, dict):
            raise TndError(f"genotype: expected an object with normal/reduce lists, got {type(obj).__name__}")
        missing = [k for k in ("normal", "normal_concat", "reduce", "reduce_concat") if k not in obj]
        if missing:
            raise TndError(f"genotype: missing field(s) {', '.join(missing)}")
        try:
            return cls(
                normal=tuple((str(op), int(src)) for op, src in obj["normal"]),
                normal_concat=tuple(int(c) for c in obj["normal_concat"]),
                reduce=tuple((str(op), int(src)) for op, src in obj["reduce"]),
                reduce_concat=tuple(int(c) for c in obj["reduce_concat"]),
            )
        except (TypeError, ValueError) as e:
            raise TndError(f"genotype: malformed pair list ({e}); expected [[op, input], ...]") from None

    @classmethod
    def parse(cls, text: str) -> "Genotype":
        """JSON, or DARTS's repr ``Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=range(2, 6), ...)``."""
        text = text.strip()
        if text.startswith("{"):
            try:
                return cls.from_dict(json.loads(text))
            except json.JSONDecodeError as e:
                raise TndError(f"genotype: invalid JSON ({e.msg} at line {e.lineno})") from None
        m = re.fullmatch(r"Genotype\((.*)\)", text, flags=re.S)
        if not m:
            raise TndError("genotype: expected JSON or DARTS's 'Genotype(normal=[...], ...)' text")
        body = re.sub(r"range\(\s*(\d+)\s*,\s*(\d+)\s*\)", lambda r: str(list(range(int(r[1]), int(r[2])))),
                      m[1])
        fields: dict[str, Any] = {}
        try:
            call = ast.parse(f"f({body})", mode="eval").body
            assert isinstance(call, ast.Call)
            for kw in call.keywords:
                fields[str(kw.arg)] = ast.literal_eval(kw.value)
        except (SyntaxError, ValueError, AssertionError):
            raise TndError("genotype: could not read the DARTS Genotype(...) text; check its brackets") from None
        return cls.from_dict(fields)

    @classmethod
    def coerce(cls, obj: Any) -> "Genotype":
        """A Genotype from itself, a dict, DARTS's named tuple (anything with ``_asdict``) or its text."""
        if isinstance(obj, cls):
            return obj
        if hasattr(obj, "_asdict"):
            obj = {k: list(v) for k, v in obj._asdict().items()}
        if isinstance(obj, str):
            return cls.parse(obj)
        return cls.from_dict(obj)

    @classmethod
    def load(cls, path: str | Path) -> "Genotype":
        p = Path(path)
        if not p.is_file():
            raise TndError(f"genotype file {p} not found")
        return cls.parse(p.read_text())


def sampled_edges(ops: Iterable[str]) -> list[Edge]:
    """A discrete architecture sampled over all 14 candidate edges, `none` edges dropped."""
    ops = list(ops)
    if len(ops) != N_EDGES:
        raise ValueError(f"need one op per candidate edge ({N_EDGES}), got {len(ops)}")
    return [Edge(op, src, dst) for op, (src, dst) in zip(ops, CANDIDATE_EDGES) if op != "none"]


@dataclass(frozen=True)
class CellArch:
    """A discrete cell: any set of edges (a genotype's 8, or a sample's up to 14) and the states it outputs."""

    edges: tuple[Edge, ...]
    concat: tuple[int, ...] = tuple(range(2, N_NODES + 2))


@dataclass(frozen=True)
class Architecture:
    """What networks, cost models and LUT enumeration are built from: one CellArch per cell type."""

    normal: CellArch
    reduce: CellArch

    def cell(self, cell: str) -> CellArch:
        return getattr(self, cell)

    @classmethod
    def from_genotype(cls, g: Genotype) -> "Architecture":
        return cls(CellArch(tuple(g.edges("normal")), g.normal_concat),
                   CellArch(tuple(g.edges("reduce")), g.reduce_concat))

    @classmethod
    def from_sample(cls, normal_ops: Iterable[str], reduce_ops: Iterable[str]) -> "Architecture":
        return cls(CellArch(tuple(sampled_edges(normal_ops))), CellArch(tuple(sampled_edges(reduce_ops))))


def random_genotype(rng: random.Random, normal_ops: Iterable[str] | None = None,
                    reduce_ops: Iterable[str] | None = None) -> Genotype:
    """A uniformly random DARTS genotype: per node two distinct inputs, each with a random op (no ``none``)."""
    def cell(ops: Iterable[str] | None) -> tuple[Pair, ...]:
        choices = [o for o in (ops or PRIMITIVES) if o != "none"]
        pairs: list[Pair] = []
        for node in range(N_NODES):
            for src in sorted(rng.sample(range(node + 2), 2)):
                pairs.append((rng.choice(choices), src))
        return tuple(pairs)

    concat = tuple(range(2, N_NODES + 2))
    return Genotype(cell(normal_ops), concat, cell(reduce_ops), concat)
