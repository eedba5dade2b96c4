"""Running a command's work under torchrun: the one place that turns torchrun's variables into a process group.

Without torchrun's variables ``under_launcher`` just calls the work; with them, each process joins the group on
its own device (CUDA: GPU LOCAL_RANK with NCCL; the CPU: gloo), does the same work, and leaves the group.
"""

from __future__ import annotations

from typing import Callable, TypeVar

from tnd.errors import TndError

T = TypeVar("T")


def under_launcher(compute: str, work: Callable[[], T]) -> T:
    """``work()`` in this process, inside torchrun's process group when launched by torchrun."""
    from tnd.compute import resolve_compute
    from tnd.distributed import dist_env, process_group

    env = dist_env()
    if not env.launched:
        return work()
    if env.world_size > 1 and str(compute).startswith("cuda:"):
        raise TndError(f"--compute {compute} names one GPU for every process; under torchrun give --compute "
                       "cuda (or auto): each process takes GPU LOCAL_RANK")
    with process_group(resolve_compute(compute, env.local_rank), env):
        return work()
