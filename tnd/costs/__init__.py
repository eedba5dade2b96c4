"""Cost models: what a network costs (params, FLOPs, latency, energy) and where each number came from."""

from tnd.costs.base import SOURCES, CostModel, CostSuite, CostValue
from tnd.costs.counting import CountingCosts, NB201CountingCosts

__all__ = ["SOURCES", "CostModel", "CostSuite", "CostValue", "CountingCosts", "NB201CountingCosts"]
