"""Data-parallel building blocks for runs launched by torchrun (one process per GPU, any number of nodes).

torchrun sets RANK, WORLD_SIZE, LOCAL_RANK and the rendezvous address in each process's environment;
without them every helper here is a one-process no-op, so the same code runs with and without
torchrun. Backend: NCCL for CUDA, gloo for the CPU (tests, and the CPU figures of the benchmark).

The pattern these serve: every rank samples the same path from a shared generator, weight gradients
are averaged (``average_gradients``), reward samples are split across ranks (``split_work``) and
their scores gathered back in order on every rank (``gather_work``), so every rank takes the same
alpha step; only the main rank writes files (``is_main``).
"""

from __future__ import annotations

import hashlib
import math
import os
import secrets
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Iterable, Iterator, Mapping, Sequence, TypeVar

from tnd.errors import TndError

T = TypeVar("T")
TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


@dataclass(frozen=True)
class DistEnv:
    """This process's place in the launch: rank among ``world_size``, and its GPU index on its node."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    launched: bool = False        # torchrun's variables are set

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def dist_env(environ: Mapping[str, str] | None = None) -> DistEnv:
    """Read torchrun's variables (all three or none; a partial set is a broken launch)."""
    environ = os.environ if environ is None else environ
    present = [k for k in TORCHRUN_VARS if k in environ]
    if not present:
        return DistEnv()
    if len(present) < len(TORCHRUN_VARS):
        missing = ", ".join(k for k in TORCHRUN_VARS if k not in environ)
        raise TndError(f"{', '.join(present)} set but {missing} not: launch with torchrun (e.g. torchrun "
                       "--standalone --nproc_per_node=N -m tnd ...), or unset them for one process")
    try:
        rank, world, local = (int(environ[k]) for k in TORCHRUN_VARS)
    except ValueError:
        raise TndError("RANK, WORLD_SIZE and LOCAL_RANK must be integers (as torchrun sets them), got "
                       + ", ".join(f"{k}={environ[k]!r}" for k in TORCHRUN_VARS)) from None
    if world < 1 or not 0 <= rank < world or local < 0:
        raise TndError(f"inconsistent launch: RANK={rank}, WORLD_SIZE={world}, LOCAL_RANK={local}")
    return DistEnv(rank, world, local, launched=True)


def backend_for(device: Any) -> str:
    return "nccl" if device.type == "cuda" else "gloo"


def init_process_group(device: Any, env: DistEnv | None = None, timeout_s: float = 1800) -> DistEnv:
    """Join the launch's process group (no-op outside torchrun, or when already joined)."""
    import torch
    import torch.distributed as dist

    env = dist_env() if env is None else env
    if not env.launched or dist.is_initialized():
        return env
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend_for(device), rank=env.rank, world_size=env.world_size,
                            timeout=timedelta(seconds=timeout_s))
    return env


def destroy_process_group() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


@contextmanager
def process_group(device: Any, env: DistEnv | None = None) -> Iterator[DistEnv]:
    """``init_process_group`` for the block, and leave the group at its end, also on errors."""
    env = init_process_group(device, env)
    try:
        yield env
    finally:
        destroy_process_group()


def _dist() -> Any | None:
    """torch.distributed when a group is joined, else None (one process: every helper is a no-op)."""
    import torch.distributed as dist

    return dist if dist.is_available() and dist.is_initialized() else None


def rank() -> int:
    dist = _dist()
    return dist.get_rank() if dist else 0


def world_size() -> int:
    dist = _dist()
    return dist.get_world_size() if dist else 1


def is_main() -> bool:
    """The one process that writes logs, checkpoints and results."""
    return rank() == 0


def _flag_device() -> Any:
    """Where small collective tensors must live for the group's backend (NCCL: the current GPU)."""
    import torch

    dist = _dist()
    if dist and dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def barrier() -> None:
    dist = _dist()
    if dist:
        dist.barrier()


# ---- gradients and state ----------------------------------------------------------------------

def average_gradients(params: Iterable[Any], check: bool = False) -> None:
    """Average the gradients of ``params`` over all ranks, in place, one bucket per device and dtype.

    Parameters without a gradient (off the sampled path) are skipped, so every rank must have
    gradients for the same parameters -- true when all ranks sample the same path. ``check`` verifies
    that with one extra small collective (use it in tests and debugging, not every step).
    """
    import torch

    dist = _dist()
    if dist is None:
        return
    grads = [p.grad for p in params if p.grad is not None]
    if check:
        numel = sum(g.numel() for g in grads)
        mine = torch.tensor([len(grads), numel], dtype=torch.int64, device=_flag_device())
        lo, hi = mine.clone(), mine.clone()
        dist.all_reduce(lo, op=dist.ReduceOp.MIN)
        dist.all_reduce(hi, op=dist.ReduceOp.MAX)
        if not torch.equal(lo, hi):
            raise RuntimeError(f"ranks hold gradients for different parameters (rank {dist.get_rank()}: "
                               f"{len(grads)} tensors, {numel} values); every rank must sample the same path")
    buckets: dict[tuple[Any, Any], list[Any]] = {}
    for g in grads:
        buckets.setdefault((g.device, g.dtype), []).append(g)
    world = dist.get_world_size()
    for bucket in buckets.values():
        flat = torch.cat([g.reshape(-1) for g in bucket])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)   # gloo has no AVG
        flat.div_(world)
        offset = 0
        for g in bucket:
            g.copy_(flat[offset: offset + g.numel()].view_as(g))
            offset += g.numel()


def average_buffers(module: Any) -> None:
    """Every floating-point buffer of ``module`` (BatchNorm running statistics) set to its mean over the ranks.

    Each rank's BN layers see only its shard of each batch, so their running statistics drift apart; the mean
    is the estimate a full batch would give (up to the variance's between-shard term) and makes evaluation and
    the checkpoint independent of the rank. Integer buffers (batches tracked) are equal on every rank."""
    dist = _dist()
    if dist is None:
        return
    import torch

    with torch.no_grad():
        for t in module.buffers():
            if t.is_floating_point():
                dist.all_reduce(t, op=dist.ReduceOp.SUM)
                t.div_(dist.get_world_size())


def sum_over_ranks(tensor: Any) -> Any:
    """``tensor`` summed over the ranks (a new tensor; ``tensor`` itself with one process)."""
    dist = _dist()
    if dist is None:
        return tensor
    total = tensor.clone()
    dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return total


def broadcast_(tensor: Any, src: int = 0) -> Any:
    """``tensor`` overwritten with rank ``src``'s, in place (returned for chaining)."""
    dist = _dist()
    if dist:
        dist.broadcast(tensor, src)
    return tensor


def broadcast_module(module: Any, src: int = 0) -> None:
    """Every parameter and buffer of ``module`` set to rank ``src``'s values (call once, after building it)."""
    import torch

    with torch.no_grad():
        for t in module.state_dict().values():
            broadcast_(t, src)


def broadcast_object(obj: T, src: int = 0) -> T:
    """Rank ``src``'s ``obj`` (any picklable value) on every rank."""
    dist = _dist()
    if dist is None:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src)
    return box[0]


def all_ranks_equal(tensor: Any) -> bool:
    """Whether ``tensor`` holds the same values on every rank (e.g. alpha after a step; two small collectives)."""
    dist = _dist()
    if dist is None:
        return True
    import torch

    t = tensor.detach().reshape(-1).double()
    lo, hi = t.clone(), t.clone()
    dist.all_reduce(lo, op=dist.ReduceOp.MIN)
    dist.all_reduce(hi, op=dist.ReduceOp.MAX)
    return bool(torch.equal(lo, hi))


def any_rank(flag: bool) -> bool:
    """True on every rank if ``flag`` is true on any (e.g. a SIGTERM seen by one rank: all stop together).

    Costs a host synchronisation: call it at step boundaries that already sync (logging, checkpoints)."""
    dist = _dist()
    if dist is None:
        return bool(flag)
    import torch

    t = torch.tensor([int(bool(flag))], device=_flag_device())
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


# ---- work split across ranks ------------------------------------------------------------------

def split_work(items: Sequence[T]) -> list[T]:
    """This rank's share of ``items``: every ``world_size``-th item from its rank (shares differ by at most 1)."""
    return list(items[rank()::world_size()])


def gather_work(local: Any, n: int) -> Any:
    """All ranks' results for the ``n`` items of ``split_work``, in the items' order, on every rank.

    ``local`` is a tensor whose first dimension is this rank's share (rewards, losses...), on the
    backend's device; the result is a tensor of ``n`` rows. One all-gather, no host synchronisation."""
    import torch

    dist = _dist()
    world, me = world_size(), rank()
    share = len(range(me, n, world))
    if local.shape[0] != share:
        raise ValueError(f"rank {me} has {local.shape[0]} results for a share of {share} of {n} items")
    if dist is None:
        return local
    per = math.ceil(n / world)
    padded = local.new_zeros((per, *local.shape[1:]))
    padded[:share] = local
    parts = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded)
    # rank r's j-th item is item j * world + r: stack ranks as the inner axis and read row-major
    return torch.stack(parts, dim=1).reshape(per * world, *local.shape[1:])[:n]


def gather_objects(local: Sequence[T], n: int) -> list[T]:
    """``gather_work`` for picklable Python values (slower: pickles; use tensors inside a step loop)."""
    dist = _dist()
    world = world_size()
    if dist is None:
        return list(local)
    every: list[Any] = [None] * world
    dist.all_gather_object(every, list(local))
    return [every[i % world][i // world] for i in range(n)]


# ---- shared randomness ------------------------------------------------------------------------

def shared_seed(seed: int | None = None) -> int:
    """A seed every rank agrees on: ``seed`` itself (refused on every rank if the ranks were given different
    seeds), or, for None, one drawn by rank 0 and sent to the others."""
    dist = _dist()
    if seed is None:
        return broadcast_object(secrets.randbits(62) if rank() == 0 else None)
    if dist is not None:
        seeds: list[Any] = [None] * dist.get_world_size()
        dist.all_gather_object(seeds, int(seed))
        if len(set(seeds)) > 1:
            raise TndError(f"the ranks were started with different seeds ({sorted(set(seeds))}); give every rank "
                           "the same --seed")
    return int(seed)


def shared_generator(seed: int | None = None, device: Any = "cpu") -> Any:
    """A torch.Generator on ``device`` producing the same stream on every rank (e.g. the sampled paths)."""
    import torch

    return torch.Generator(device=device).manual_seed(shared_seed(seed))


# ---- a test hook ------------------------------------------------------------------------------

RANK_HASH_VAR = "TND_TEST_RANK_HASH"


def write_rank_hash(label: str, named: Iterable[tuple[str, Any]]) -> None:
    """Test hook: with ``TND_TEST_RANK_HASH=DIR`` append ``label`` and a sha256 of the ``named`` tensors to
    DIR/rank<R>.hash, so a test can check that every rank ended with the same state; nothing without it."""
    folder = os.environ.get(RANK_HASH_VAR)
    if not folder:
        return
    import torch

    h = hashlib.sha256()
    for name, t in sorted(named, key=lambda kv: kv[0]):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    with open(os.path.join(folder, f"rank{rank()}.hash"), "a") as f:
        f.write(f"{label} {h.hexdigest()}\n")
