"""The TND-NAS search: configuration, reward, policy, supernet, derivation, Pareto and the loop.

Names are loaded on first use, so that importing a light module of the package (the reward's help
texts, for the CLI's ``--help``) does not import torch.
"""

from importlib import import_module

_EXPORTS = {"SearchConfig": "tnd.search.config", "load_search_config": "tnd.search.config",
            "ProgressiveSearch": "tnd.search.progressive", "RewardSpec": "tnd.search.reward",
            "run_search": "tnd.search.run"}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'tnd.search' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
