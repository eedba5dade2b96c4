"""Cost models: what a network costs (params, FLOPs, latency, energy) and where each number came from.

Names are loaded on first use, so that the light objective registry (``tnd.costs.objectives``, read by
the CLI's ``--help``) does not import torch.
"""

from tnd.lazy_exports import lazy_getattr

_EXPORTS = {"SOURCES": "tnd.costs.base", "CostModel": "tnd.costs.base", "CostSuite": "tnd.costs.base",
            "CostValue": "tnd.costs.base", "CountingCosts": "tnd.costs.counting",
            "NB201CountingCosts": "tnd.costs.counting"}

__all__ = list(_EXPORTS)

__getattr__ = lazy_getattr(__name__, _EXPORTS)
