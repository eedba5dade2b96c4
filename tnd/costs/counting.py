"""Costs counted from the network itself: parameters and multiply-accumulates of the deployed network."""

from __future__ import annotations

from tnd.costs.base import CostValue
from tnd.space.genotype import Architecture
from tnd.space.nb201 import NB201Arch, NB201Shape
from tnd.space.nb201 import network_parts as nb201_network_parts
from tnd.space.parts import PartKey, network_parts, part_flops, part_params
from tnd.space.plan import NetworkShape


def counted(parts: list[PartKey]) -> dict[str, CostValue]:
    return {"params": CostValue(float(sum(part_params(p) for p in parts)), "counted"),
            "flops": CostValue(float(sum(part_flops(p) for p in parts)), "counted")}


class CountingCosts:
    """params and flops (MACs at batch 1) of the evaluation network of ``shape`` built from an architecture."""

    provides = ("params", "flops")

    def __init__(self, shape: NetworkShape):
        self.shape = shape

    def __call__(self, arch: Architecture) -> dict[str, CostValue]:
        return counted(network_parts(arch, self.shape))


class NB201CountingCosts:
    """params and flops of NAS-Bench-201's macro network of ``shape`` around a cell (its costed parts)."""

    provides = ("params", "flops")

    def __init__(self, shape: NB201Shape):
        self.shape = shape

    def __call__(self, arch: NB201Arch) -> dict[str, CostValue]:
        return counted(nb201_network_parts(arch, self.shape))
