"""Cost models: what a network costs (params, FLOPs, latency, energy) and where each number came from.

Names are loaded on first use, so that the light objective registry (``tnd.costs.objectives``, read by
the CLI's ``--help``) does not import torch.
"""

from importlib import import_module

_EXPORTS = {"SOURCES": "tnd.costs.base", "CostModel": "tnd.costs.base", "CostSuite": "tnd.costs.base",
            "CostValue": "tnd.costs.base", "CountingCosts": "tnd.costs.counting",
            "NB201CountingCosts": "tnd.costs.counting"}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'tnd.costs' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
