"""The TND-NAS search: configuration, reward, policy, supernet, derivation, Pareto and the loop.

Names are loaded on first use, so that importing a light module of the package (the reward's help
texts, for the CLI's ``--help``) does not import torch.
"""

from tnd.lazy_exports import lazy_getattr

_EXPORTS = {"SearchConfig": "tnd.search.config", "load_search_config": "tnd.search.config",
            "ProgressiveSearch": "tnd.search.progressive", "RewardSpec": "tnd.search.reward",
            "run_search": "tnd.search.run"}

__all__ = list(_EXPORTS)

__getattr__ = lazy_getattr(__name__, _EXPORTS)
