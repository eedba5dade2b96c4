"""One call for a user's question: what will this genotype cost on that device?"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tnd.costs.base import CostSuite, CostValue
from tnd.costs.counting import CountingCosts
from tnd.costs.lut_costs import LutCosts
from tnd.lut.table import LookupTable
from tnd.space.genotype import Architecture, Genotype
from tnd.space.plan import NetworkShape
from tnd.space.published import as_genotype


def predict_costs(genotype: Genotype | dict | str | Any, table: LookupTable | str | Path | None = None,
                  shape: NetworkShape | None = None, energy: str = "total") -> dict[str, CostValue]:
    """Parameters and MACs (counted) and, given a table, latency and energy (measured, predicted or estimated).

    Args:
        genotype: a ``Genotype``, a DARTS-style dict or named tuple, its text, or a published name.
        table: a lookup table or its path (e.g. ``lut/cpu.json``); without one only counted costs come back.
        shape: the deployed network's shape (default: DARTS's CIFAR-10 network, C=36, 20 cells, 32x32).
        energy: ``total`` or ``dynamic`` (above idle) energy per inference, where the table has it.

    Returns:
        ``{"params": CostValue, "flops": ..., "latency": ..., "energy": ...}``; each value carries its source.
    """
    g = as_genotype(genotype)
    shape = shape or NetworkShape()
    models: list[Any] = [CountingCosts(shape)]
    if table is not None:
        models.append(LutCosts(table if isinstance(table, LookupTable) else LookupTable.load(table), shape,
                               energy=energy))
    return CostSuite(models)(Architecture.from_genotype(g))
