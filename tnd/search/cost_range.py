"""The cheapest and dearest network a search can derive, per cost: the stated range of each objective.

Hypervolume is comparable across runs only over fixed, stated ranges (MODNAS normalises each objective to
[0, 1] and takes the reference point (1, ..., 1)); the dry-run plan shows the same extremes. A range comes
from the config (``derive.hv_range``) or from the cost model itself:

Derived genotypes keep two distinct inputs per node, each through a real op (never ``none``). Every cost tnd
models is a sum over the network's parts (parameters and MACs exactly; a table's latency is the call overhead
plus one term per part, and its calibration is linear per part family), so a genotype's cost is a constant
plus one term per chosen (node, input, op). Each term is priced by swapping that choice into a reference
genotype and asking the cost model; each node then keeps its two cheapest (dearest) distinct inputs with
their cheapest (dearest) ops. The two extreme genotypes are finally costed whole by the cost model. Energy
is not exactly additive (the per-call overhead's share follows the total), so its extremes are close to,
not certainly, the true ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from tnd.costs.objectives import get_objective
from tnd.errors import TndError
from tnd.space.genotype import CANDIDATE_EDGES, CELL_TYPES, N_NODES, Architecture, Genotype, Pair

CostsOf = Callable[[Architecture], Mapping[str, Any]]   # a CostSuite: architecture -> {name: CostValue}

FROM_COST_MODEL = "cheapest and dearest derivable network over the search's op sets (the cost model)"
FROM_CONFIG = "stated in the config (derive.hv_range)"
ERROR_RANGE = (0.0, 1.0)   # error = 1 - accuracy, accuracy a fraction: its stated range (hypervolume and rewards)
ERROR_SOURCE = "error = 1 - accuracy, a fraction"


@dataclass(frozen=True)
class CostRange:
    """The values of one cost mapped to 0 and 1, where they came from, and (from the cost model) the networks."""

    lower: float
    upper: float
    source: str
    cheapest: Genotype | None = None
    dearest: Genotype | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"range": [self.lower, self.upper], "source": self.source}
        if self.cheapest is not None and self.dearest is not None:
            d.update(cheapest=self.cheapest.to_dict(), dearest=self.dearest.to_dict())
        return d


def cost_value(costs: Mapping[str, Any], name: str) -> float:
    """A cost suite's figure for ``name`` as a float (a CostValue's value, or a plain number)."""
    v = costs[name]
    return float(getattr(v, "value", v))


def _genotype(cells: Mapping[str, Sequence[Pair]]) -> Genotype:
    concat = tuple(range(2, N_NODES + 2))
    return Genotype(tuple(cells["normal"]), concat, tuple(cells["reduce"]), concat)


def pair_prices(op_sets: Mapping[str, Sequence[str]], costs_of: CostsOf) -> tuple[Mapping[str, Any], dict]:
    """(the reference genotype's costs, price): price[cell][node][src][op] is the cost suite's answer for the
    reference genotype with that one (op, src) swapped into the node's first pair: under additive costs the
    choice's own term plus one constant (``none`` never priced: derivation never chooses it)."""
    real = {c: [o for o in op_sets[c] if o != "none"] for c in CELL_TYPES}
    for c, ops in real.items():
        if not ops:
            raise TndError(f"cost range: ops.{c} has no op besides 'none'; no network can be derived")
    base_cells = {c: [(real[c][0], src) for node in range(N_NODES) for src in (0, 1)] for c in CELL_TYPES}

    def costs_with(cell: str, node: int, pair: Pair) -> Mapping[str, Any]:
        cells = {c: list(p) for c, p in base_cells.items()}
        cells[cell][2 * node] = pair
        return costs_of(Architecture.from_genotype(_genotype(cells)))

    base = costs_of(Architecture.from_genotype(_genotype(base_cells)))
    price = {c: [{src: {op: costs_with(c, node, (op, src)) for op in real[c]} for src in range(node + 2)}
                 for node in range(N_NODES)] for c in CELL_TYPES}
    return base, price


def edge_op_costs(op_sets: Mapping[str, Sequence[str]], costs_of: CostsOf,
                  names: Sequence[str]) -> dict[str, dict[str, list[list[float]]]]:
    """Per cost name and cell type, one row per candidate edge (``CANDIDATE_EDGES`` order) of each op's price
    (``pair_prices``, priced once for all names; inf for ``none``): which op on an edge is cheapest, up to a
    shared constant."""
    base, price = pair_prices(op_sets, costs_of)
    missing = [n for n in names if n not in base]
    if missing:
        raise TndError(f"cost range: no cost model provides {missing[0]!r}")
    return {n: {c: [[cost_value(price[c][node][src][op], n) if op != "none" else float("inf") for op in op_sets[c]]
                    for src, node in CANDIDATE_EDGES] for c in CELL_TYPES} for n in names}


def extreme_genotypes(op_sets: Mapping[str, Sequence[str]], costs_of: CostsOf,
                      names: Sequence[str]) -> dict[str, tuple[Genotype, Genotype]]:
    """Per cost name, the (cheapest, dearest) genotype over ``op_sets`` (``none`` never chosen)."""
    base, price = pair_prices(op_sets, costs_of)
    out = {}
    for name in names:
        if name not in base:
            raise TndError(f"cost range: no cost model provides {name!r}")
        pair = []
        for dearest in (False, True):
            pick = max if dearest else min
            cells: dict[str, list[Pair]] = {}
            for c in CELL_TYPES:
                pairs: list[Pair] = []
                for node in range(N_NODES):
                    best = {src: pick(ops, key=lambda o, by=ops: cost_value(by[o], name))
                            for src, ops in price[c][node].items()}
                    srcs = sorted(best, key=lambda s: cost_value(price[c][node][s][best[s]], name), reverse=dearest)[:2]
                    pairs += [(best[s], s) for s in sorted(srcs)]
                cells[c] = pairs
            pair.append(_genotype(cells))
        out[name] = (pair[0], pair[1])
    return out


def stated_ranges(stated: Mapping[str, Sequence[Any]] | None) -> dict[str, tuple[float, float]]:
    """``{latency: ["0.05ms", "0.5ms"], params: [10000, 2e5]}`` in canonical units, checked."""
    out = {}
    for name, pair in (stated or {}).items():
        objective = get_objective(name)
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise TndError(f"derive.hv_range: {name} needs [lowest, highest], e.g. [{objective.example}, "
                           f"{objective.example}] with the first smaller, got {pair!r}")
        lo, hi = objective.parse(pair[0]), objective.parse(pair[1])
        if not 0 <= lo < hi:
            raise TndError(f"derive.hv_range: {name} range must satisfy 0 <= lowest < highest, got [{lo:g}, {hi:g}]")
        out[name] = (lo, hi)
    return out


def cost_ranges(names: Sequence[str], op_sets: Mapping[str, Sequence[str]], costs_of: CostsOf,
                stated: Mapping[str, Sequence[Any]] | None = None) -> dict[str, CostRange]:
    """Per cost name, its range: the config's where stated, else the cost model's extreme networks."""
    given = stated_ranges(stated)
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise TndError(f"derive.hv_range names {', '.join(unknown)}, which is not an objective of this search "
                       f"({', '.join(names)}); drop it or add it to the reward")
    out = {n: CostRange(*given[n], FROM_CONFIG) for n in names if n in given}
    rest = [n for n in names if n not in given]
    if rest:
        for n, (cheap, dear) in extreme_genotypes(op_sets, costs_of, rest).items():
            lo = cost_value(costs_of(Architecture.from_genotype(cheap)), n)
            hi = cost_value(costs_of(Architecture.from_genotype(dear)), n)
            if not hi > lo:
                raise TndError(f"cost range: every derivable network has the same {n} ({lo:g}); state a range "
                               f"with derive.hv_range: {{{n}: [LOW, HIGH]}}")
            out[n] = CostRange(lo, hi, FROM_COST_MODEL, cheap, dear)
    return {n: out[n] for n in names}
