"""The TND-NAS search: configuration, reward, policy, supernet, derivation, Pareto and the loop."""

from tnd.search.config import SearchConfig, load_search_config
from tnd.search.progressive import ProgressiveSearch
from tnd.search.reward import RewardSpec
from tnd.search.run import run_search

__all__ = ["SearchConfig", "load_search_config", "ProgressiveSearch", "RewardSpec", "run_search"]
