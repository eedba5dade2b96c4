"""A best-improvement hill climb over architectures: the polish a derived member gets where its reward can be
computed exactly (a conditioned member whose preference gives accuracy no weight: the cost model alone
decides its reward, so no supernet and no data are needed).

Pure: the space supplies the moves (``SearchSpace.neighbours``), the caller the reward. Deterministic: of
equally good moves the first in the neighbourhood's order is taken, and a move must improve the reward by more
than ``tolerance``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

RECORD_KEY = "local_search"   # a member's result.json entry: its climb (``Climb.to_dict``), when it had one


@dataclass(frozen=True)
class Climb:
    """Where a climb started and ended, with the numbers that decided it."""

    arch: Any                  # the architecture reached: no neighbour rewards more
    reward: float
    start_reward: float
    steps: int                 # moves taken
    scored: int                # architectures whose reward was computed

    def to_dict(self) -> dict[str, Any]:
        return {"reward_before": self.start_reward, "reward_after": self.reward, "steps": self.steps,
                "scored": self.scored}


def hill_climb(start: Any, neighbours: Callable[[Any], Sequence[Any]], reward: Callable[[Any], float],
               max_steps: int = 1000, tolerance: float = 1e-12) -> Climb:
    """From ``start``, move to the best-rewarded neighbour while it beats the current architecture by more than
    ``tolerance`` (at most ``max_steps`` moves); a local optimum of ``reward`` under the moves."""
    arch, best = start, reward(start)
    first, scored, steps = best, 1, 0
    while steps < max_steps:
        candidates = list(neighbours(arch))
        if not candidates:
            break
        rewards = [reward(a) for a in candidates]
        scored += len(candidates)
        i = max(range(len(candidates)), key=lambda k: (rewards[k], -k))
        if not rewards[i] > best + tolerance:
            break
        arch, best, steps = candidates[i], rewards[i], steps + 1
    return Climb(arch, best, first, steps, scored)
