"""Latency and energy of a searched architecture from a measured lookup table (``tnd.lut.estimate``).

A thin adapter: the architecture becomes its network's parts at the deployed shape, the table's
estimate sums (and calibrates) them, and each figure carries its provenance: measured, predicted
(some part came from the table's regression) or estimated (TDP x time energy).
"""

from __future__ import annotations

from typing import Any, Callable

from tnd.costs.base import CostValue
from tnd.errors import TndError
from tnd.lut.estimate import NetworkEstimate
from tnd.lut.table import LookupTable
from tnd.space.genotype import Architecture
from tnd.space.parts import network_parts


class LutCosts:
    """``latency`` (ms) and, where the table has it, ``energy`` (mJ) per inference at the table's batch size."""

    def __init__(self, table: LookupTable, shape: Any, strict: bool = False, energy: str = "dynamic",
                 parts: Callable[[Any, Any], list] = network_parts):
        # ``parts``: the architecture and shape to the network's costed parts (DARTS's by default; NB201's
        # tnd.space.nb201.live_network_parts with an NB201Shape: only what the runtime executes)
        self.table, self.shape, self.parts = table, shape, parts
        self.estimate = NetworkEstimate(table, strict=strict, energy=energy)
        self.has_energy = self.estimate.has_energy
        self.provides = ("latency", "energy") if self.has_energy else ("latency",)

    def __call__(self, arch: Architecture) -> dict[str, CostValue]:
        t = self.estimate.predict(self.parts(arch, self.shape))
        out = {"latency": CostValue(t["latency"], "predicted" if t["predicted"] else "measured")}
        if self.has_energy:
            if t["energy"] is None:
                raise TndError(f"{self.table.name()}: the predictor has no {self.estimate.energy_kind} energy for a part the "
                               "table lacks; rebuild the table for this search (tools/build_lut.py --resume)")
            source = ("estimated" if self.table.energy_is_estimate else
                      "predicted" if t["predicted"] else "measured")
            out["energy"] = CostValue(t["energy"], source)
        return out
