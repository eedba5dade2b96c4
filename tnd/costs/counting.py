"""Costs counted from the network itself: parameters and multiply-accumulates of the deployed network."""

from __future__ import annotations

from tnd.costs.base import CostValue
from tnd.space.genotype import Architecture
from tnd.space.parts import network_parts, part_flops, part_params
from tnd.space.plan import NetworkShape


class CountingCosts:
    """params and flops (MACs at batch 1) of the evaluation network of ``shape`` built from an architecture."""

    provides = ("params", "flops")

    def __init__(self, shape: NetworkShape):
        self.shape = shape

    def __call__(self, arch: Architecture) -> dict[str, CostValue]:
        parts = network_parts(arch, self.shape)
        return {"params": CostValue(float(sum(part_params(p) for p in parts)), "counted"),
                "flops": CostValue(float(sum(part_flops(p) for p in parts)), "counted")}
