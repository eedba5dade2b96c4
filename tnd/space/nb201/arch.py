"""A NAS-Bench-201 cell: one op on each of the 6 edges of a 4-node DAG, and NB201's string format.

Node 0 is the cell input; node j (1..3) sums one op applied to every earlier node; node 3 is the
output. Edges are kept in NB201's order, (0->1), (0->2), (1->2), (0->3), (1->3), (2->3), which is
the order of its arch strings ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` (``op~i``: op applied to node i).
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from typing import Any, Iterable

from tnd.errors import TndError

# The five candidates, in NB201's order (its NAS_BENCH_201 list).
NB201_OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
N_NODES = 4  # node 0 = input, node 3 = output
EDGES: tuple[tuple[int, int], ...] = tuple((src, dst) for dst in range(1, N_NODES) for src in range(dst))
N_EDGES = len(EDGES)  # 6
SPACE_NAME = "nb201"
FORMAT_HINT = "|op~0|+|op~0|op~1|+|op~0|op~1|op~2|"


@dataclass(frozen=True)
class NB201Arch:
    """One op per edge, in ``EDGES`` order (``none`` allowed: that edge is absent)."""

    ops: tuple[str, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.ops, tuple):
            object.__setattr__(self, "ops", tuple(self.ops))
        if len(self.ops) != N_EDGES:
            raise TndError(f"NB201 arch: needs one op per edge ({N_EDGES}), got {len(self.ops)}")
        for op in self.ops:
            if op not in NB201_OPS:
                raise TndError(f"NB201 arch: unknown op {op!r}; NB201 ops: {', '.join(NB201_OPS)}")

    # ---- NB201's string format -----------------------------------------------------------------
    def __str__(self) -> str:
        nodes = []
        for dst in range(1, N_NODES):
            nodes.append("|" + "|".join(f"{self.ops[k]}~{src}" for k, (src, d) in enumerate(EDGES) if d == dst)
                         + "|")
        return "+".join(nodes)

    @classmethod
    def parse(cls, text: str) -> "NB201Arch":
        """Read NB201's string exactly (surrounding whitespace aside); anything else is a TndError."""
        if not isinstance(text, str):
            raise TndError(f"NB201 arch: expected a string like {FORMAT_HINT}, got {type(text).__name__}")
        s = text.strip()
        groups = s.split("+")
        if len(groups) != N_NODES - 1:
            raise TndError(f"NB201 arch {text!r}: expected {N_NODES - 1} node groups joined by '+', "
                           f"got {len(groups)}; format {FORMAT_HINT}")
        ops: list[str] = []
        for dst, group in enumerate(groups, start=1):
            if len(group) < 2 or not (group.startswith("|") and group.endswith("|")):
                raise TndError(f"NB201 arch {text!r}: node {dst} must be written |op~0|...|, got {group!r}; "
                               f"format {FORMAT_HINT}")
            tokens = group[1:-1].split("|")
            if len(tokens) != dst:
                raise TndError(f"NB201 arch {text!r}: node {dst} must read {dst} earlier node(s), "
                               f"got {len(tokens)}; format {FORMAT_HINT}")
            for src, token in enumerate(tokens):
                op, sep, where = token.partition("~")
                if not sep or where != str(src):
                    raise TndError(f"NB201 arch {text!r}: node {dst} entry {token!r} must be 'op~{src}'; "
                                   f"format {FORMAT_HINT}")
                if op not in NB201_OPS:
                    raise TndError(f"NB201 arch {text!r}: unknown op {op!r}; NB201 ops: {', '.join(NB201_OPS)}")
                ops.append(op)
        return cls(tuple(ops))

    # ---- other views -------------------------------------------------------------------------
    @property
    def edges(self) -> tuple[tuple[int, int, str], ...]:
        """``(src, dst, op)`` for each edge, ``none`` included."""
        return tuple((src, dst, op) for (src, dst), op in zip(EDGES, self.ops))

    def to_dict(self) -> dict[str, Any]:
        return {"space": SPACE_NAME, "arch": str(self)}

    @classmethod
    def from_dict(cls, obj: Any) -> "NB201Arch":
        if not isinstance(obj, dict) or "arch" not in obj:
            raise TndError(f"NB201 arch: expected an object with an 'arch' string ({FORMAT_HINT}), got {obj!r:.80}")
        if obj.get("space", SPACE_NAME) != SPACE_NAME:
            raise TndError(f"NB201 arch: the object is of space {obj['space']!r}, not {SPACE_NAME!r}")
        return cls.parse(obj["arch"])


def all_archs(ops: Iterable[str] = NB201_OPS) -> list[NB201Arch]:
    """Every cell over ``ops`` (all 5**6 = 15,625 by default), in lexicographic order of op indices."""
    ops = tuple(ops)
    return [NB201Arch(combo) for combo in itertools.product(ops, repeat=N_EDGES)]


def random_arch(rng: random.Random, ops: Iterable[str] = NB201_OPS) -> NB201Arch:
    ops = tuple(ops)
    return NB201Arch(tuple(rng.choice(ops) for _ in range(N_EDGES)))


def random_connected_arch(rng: random.Random, ops: Iterable[str] = NB201_OPS) -> NB201Arch:
    """A uniform draw among the cells over ``ops`` whose output depends on their input (rejection sampling).
    A disconnected cell makes the network a constant with chance accuracy, which no search derives."""
    ops = tuple(ops)
    if not any(op != "none" for op in ops):
        raise TndError(f"NB201 arch: no connected cell can be drawn from ops {', '.join(ops) or '(none)'}; "
                       "a cell needs at least one op other than 'none'")
    while True:
        arch = random_arch(rng, ops)
        if is_connected(arch):
            return arch


# ---- what reaches the output ---------------------------------------------------------------------
# An ONNX runtime computes only what the output depends on: a node no path from the input reaches is a
# constant (folded), and an op whose result the output never reads is removed. These say which is which.

def reached_from_input(arch: NB201Arch) -> frozenset[int]:
    """Nodes with a path from the cell input (node 0) over non-``none`` edges, node 0 included."""
    seen = {0}
    for (src, dst), op in zip(EDGES, arch.ops):   # EDGES run in order of dst, so one pass suffices
        if op != "none" and src in seen:
            seen.add(dst)
    return frozenset(seen)


def reaching_output(arch: NB201Arch) -> frozenset[int]:
    """Nodes with a path to the cell output (node 3) over non-``none`` edges, node 3 included."""
    seen = {N_NODES - 1}
    for (src, dst), op in reversed(tuple(zip(EDGES, arch.ops))):   # reversed: in decreasing order of dst
        if op != "none" and dst in seen:
            seen.add(src)
    return frozenset(seen)


def live_edges(arch: NB201Arch) -> tuple[int, ...]:
    """Indices (into ``EDGES``) of the edges on a path from the cell input to its output through
    non-``none`` edges: the ops a runtime executes. Empty when the cell is disconnected."""
    start, end = reached_from_input(arch), reaching_output(arch)
    return tuple(k for k, ((src, dst), op) in enumerate(zip(EDGES, arch.ops))
                 if op != "none" and src in start and dst in end)


def is_connected(arch: NB201Arch) -> bool:
    """Whether the cell output depends on its input (else the whole network computes a constant)."""
    return N_NODES - 1 in reached_from_input(arch)
