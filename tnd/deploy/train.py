"""`tnd train`: train a genotype from scratch under the DARTS evaluation protocol, resumably.

Every epoch ends in an atomic checkpoint holding weights, optimizer, scheduler and both random
generators, so a resumed run finishes with the same weights as one that was never interrupted; then a
line is printed and a record appended to ``log.jsonl`` (and TensorBoard, if asked). On a CUDA GPU the
step runs under mixed precision (bf16 where supported, else fp16 with a gradient scaler) on
channels-last tensors; on a CPU in float32, as before.

Under torchrun (the CLI joined the process group, see ``tnd.distributed``) the same loop trains one network
data-parallel: every rank draws the same global batch and cutout from the shared generator and trains on its
rank-strided share of it, gradients are averaged before clipping, BatchNorm's running statistics are averaged
at the end of each epoch (so evaluation and the checkpoint do not depend on the rank), evaluation splits its
batches across the ranks, and rank 0 alone prints and writes the folder.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from tnd import atomic, distributed, preemption
from tnd.compute import (
    COMPUTE_CHOICES,
    AmpPolicy,
    amp_policy,
    check_compute_spec,
    choose_amp,
    configure_backends,
    describe_compute,
    resolve_compute,
)
from tnd.data import load_dataset
from tnd.data.datasets import DATASETS, cutout
from tnd.deploy.checkpoint import load_checkpoint, save_checkpoint
from tnd.errors import TndError
from tnd.progress import Progress
from tnd.run_folder import open_run_folder
from tnd.schema import from_data, load_yaml
from tnd.sinks import JsonlSink, TensorBoardSink
from tnd.space.genotype import Genotype
from tnd.space.network import Network, build_network, count_parameters
from tnd.space.plan import NetworkShape

CHECKPOINT = "checkpoint.pt"
RESULT = "train.json"
LOG = "log.jsonl"
# Settings a resume may change: where data lives, where and how fast it runs.
_RESUMABLE_DIFFERENCES = ("data_dir", "device", "amp", "channels_last")
# The time estimate times steps [_TIMING_SKIP, _TIMING_SKIP + _TIMING_STEPS) of a run's first epoch
# (the first steps pay for allocation and cuDNN autotuning).
_TIMING_SKIP, _TIMING_STEPS = 2, 20


@dataclass
class TrainConfig:
    """Defaults are DARTS's CIFAR-10 evaluation protocol (Liu et al. 2019, train.py)."""

    dataset: str = "cifar10"
    data_dir: str | None = None
    layers: int = 20
    channels: int = 36
    epochs: int = 600
    batch_size: int = 96
    lr: float = 0.025
    lr_min: float = 0.0
    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float = 5.0
    cutout: bool = True
    cutout_length: int = 16
    auxiliary: bool = True
    auxiliary_weight: float = 0.4
    drop_path_prob: float = 0.2
    seed: int = 0
    max_steps_per_epoch: int | None = None   # cap on steps per epoch, for smoke runs
    device: str = "auto"                     # auto: cuda when available, else cpu
    amp: bool = True                         # CUDA only: bf16 autocast where supported, else fp16 + GradScaler
    channels_last: bool = True               # CUDA only: NHWC tensors (faster convolutions on tensor cores)

    def __post_init__(self) -> None:
        def fail(name: str, rule: str) -> None:
            raise TndError(f"train config: '{name}' must be {rule}, got {getattr(self, name)!r}")

        for name in ("layers", "channels", "epochs", "batch_size", "cutout_length"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                fail(name, "a positive integer")
        if self.max_steps_per_epoch is not None and (isinstance(self.max_steps_per_epoch, bool) or not isinstance(
                self.max_steps_per_epoch, int) or self.max_steps_per_epoch < 1):
            fail("max_steps_per_epoch", "a positive integer or null")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            fail("seed", "a non-negative integer")
        for name in ("lr", "grad_clip"):
            if not _number(getattr(self, name)) or getattr(self, name) <= 0:
                fail(name, "a positive number")
        for name in ("lr_min", "momentum", "weight_decay", "auxiliary_weight"):
            if not _number(getattr(self, name)) or getattr(self, name) < 0:
                fail(name, "a non-negative number")
        if self.lr_min > self.lr:
            fail("lr_min", f"at most lr ({self.lr})")
        if not _number(self.drop_path_prob) or not 0.0 <= self.drop_path_prob < 1.0:
            fail("drop_path_prob", "in [0, 1)")
        if not 0.0 <= self.momentum < 1.0:
            fail("momentum", "in [0, 1)")
        for name in ("cutout", "auxiliary", "amp", "channels_last"):
            if not isinstance(getattr(self, name), bool):
                fail(name, "true or false")
        try:
            check_compute_spec(self.device)
        except TndError:
            fail("device", COMPUTE_CHOICES)

        if self.dataset not in DATASETS:
            fail("dataset", f"one of {', '.join(DATASETS)}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def load_train_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Built-in defaults, then the YAML file, then ``overrides`` (flags), validated once."""

    data: dict[str, Any] = {}
    if path is not None:
        loaded = load_yaml(path)
        if not isinstance(loaded, dict):
            raise TndError(f"config file {path}: expected a mapping of settings, got {type(loaded).__name__}")
        data.update(loaded)
    data.update(overrides or {})
    return from_data(TrainConfig, data, str(path) if path else "train config")


def _epochs(n: int) -> str:
    return f"{n} epoch{'' if n == 1 else 's'}"


def _shape(cfg: TrainConfig, data) -> dict[str, Any]:
    """The checkpoint's shape record: the network's shape and whether it has the auxiliary head."""
    shape = NetworkShape(channels=cfg.channels, layers=cfg.layers, num_classes=data.num_classes,
                         in_channels=data.in_channels, input_size=data.input_size)
    return {**shape.to_dict(), "auxiliary": cfg.auxiliary}


def _build(genotype: Genotype, shape: dict[str, Any]) -> Network:
    return build_network(genotype, shape=NetworkShape.from_dict(shape), auxiliary=shape["auxiliary"])


def _check_resumable(ckpt: dict[str, Any], genotype: Genotype, cfg: TrainConfig, path: Path) -> None:
    if ckpt["genotype"] != genotype.to_dict():
        raise TndError(f"{path} was trained with a different genotype ({Genotype.from_dict(ckpt['genotype'])}); "
                       "resume with the same --genotype or choose another --out")
    old, new = dict(ckpt.get("config") or {}), cfg.to_dict()
    changed = [k for k in new if k not in _RESUMABLE_DIFFERENCES and old.get(k) != new[k]]
    if changed:
        diffs = ", ".join(f"{k}: {old.get(k)!r} -> {new[k]!r}" for k in changed)
        raise TndError(f"{path} was trained with other settings ({diffs}); resume with the same settings "
                       "or choose another --out")


def _drops_last(n: int, cfg: TrainConfig, world: int = 1) -> bool:
    """Whether the last training batch is dropped: when some process's share of it would hold fewer than two
    samples (BatchNorm in training mode cannot normalise one), and only then."""
    rest = n % cfg.batch_size
    return 0 < rest < 2 * world


def _batches(split, cfg: TrainConfig, generator: torch.Generator, augment: bool, world: int = 1):
    return split.batches(cfg.batch_size, shuffle=augment, generator=generator, augment=augment,
                         drop_last=augment and _drops_last(len(split), cfg, world))


def steps_per_epoch(n_train: int, cfg: TrainConfig, world: int = 1) -> int:
    steps = n_train // cfg.batch_size if _drops_last(n_train, cfg, world) else math.ceil(n_train / cfg.batch_size)
    return min(steps, cfg.max_steps_per_epoch) if cfg.max_steps_per_epoch else steps


@torch.no_grad()
def evaluate(model: nn.Module, split, device: torch.device, batch_size: int = 256) -> float:
    """Top-1 accuracy in eval mode (no drop-path, running BatchNorm statistics). Under torchrun the batches
    are dealt to the ranks in turn and the hits summed (every rank must hold the same weights and buffers)."""
    if len(split) == 0:
        return float("nan")
    was_training = model.training
    model.eval()
    rank, world = distributed.rank(), distributed.world_size()
    correct = torch.zeros((), dtype=torch.int64, device=device)
    for i, (x, y) in enumerate(split.batches(batch_size)):
        if i % world == rank:
            correct += (model(x.to(device)).argmax(1) == y.to(device)).sum()  # summed on the device: one sync
    model.train(was_training)
    return int(distributed.sum_over_ranks(correct)) / len(split)


@dataclass
class Precision:
    """How steps compute on the device: the mixed-precision policy (tnd.compute), fp16's scaler, layout."""

    amp: AmpPolicy = dataclasses.field(default_factory=lambda: choose_amp("cpu", None))
    scaler: Any = None
    channels_last: bool = False

    @property
    def dtype(self) -> torch.dtype | None:
        return getattr(torch, self.amp.dtype) if self.amp.dtype else None

    def describe(self) -> str:
        what = {None: "float32", "bfloat16": "bf16 mixed precision", "float16": "fp16 mixed precision"}[self.amp.dtype]
        return what + (", channels-last" if self.channels_last else "")


def precision_for(cfg: TrainConfig, device: torch.device) -> Precision:
    """Mixed precision (``tnd.compute.amp_policy``: bf16 from compute capability 8.0, else fp16 with a
    GradScaler) and channels-last on CUDA, each of which can be turned off; a CPU trains in float32."""
    if device.type != "cuda":
        return Precision(choose_amp(device.type, None))
    amp = amp_policy(device, enabled=cfg.amp)
    return Precision(amp, amp.grad_scaler() if amp.needs_scaler else None, cfg.channels_last)


def _step(model: Network, x: torch.Tensor, y: torch.Tensor, optimizer: torch.optim.Optimizer,
          cfg: TrainConfig, precision: Precision) -> tuple[torch.Tensor, torch.Tensor]:
    """One step; returns (loss, correct) as tensors on the device, so a GPU is not synchronised each step."""
    criterion = nn.functional.cross_entropy
    optimizer.zero_grad(set_to_none=True)
    with precision.amp.autocast():
        out = model(x)
        logits, aux = out if isinstance(out, tuple) else (out, None)
        loss = criterion(logits, y)
        if aux is not None and cfg.auxiliary_weight:
            loss = loss + cfg.auxiliary_weight * criterion(aux, y)
    if precision.scaler is not None:
        precision.scaler.scale(loss).backward()
        distributed.average_gradients(model.parameters())   # under torchrun; before clipping, as one process
        precision.scaler.unscale_(optimizer)
        nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        precision.scaler.step(optimizer)
        precision.scaler.update()
    else:
        loss.backward()
        distributed.average_gradients(model.parameters())
        nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
    return loss.detach().float(), (logits.detach().argmax(1) == y).sum()


def train_step(model: Network, x: torch.Tensor, y: torch.Tensor, optimizer: torch.optim.Optimizer,
               cfg: TrainConfig, precision: Precision | None = None) -> tuple[float, int]:
    """One SGD step with the auxiliary loss and gradient clipping; returns (loss, correct)."""
    loss, correct = _step(model, x, y, optimizer, cfg, precision or Precision())
    return float(loss), int(correct)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.1f} s"


def time_estimate_line(seconds_per_step: float, steps: int, epochs: int, measured: str) -> str:
    """The expected wall time of the whole run, labelled as the estimate it is."""
    per_epoch = seconds_per_step * steps
    return (f"estimated time: {_duration(per_epoch * epochs)} for {_epochs(epochs)} ({per_epoch:.1f} s/epoch, "
            f"{seconds_per_step * 1e3:.1f} ms/step from {measured}; evaluation not included; an ESTIMATE)")


def _rng_state(generator: torch.Generator, device: torch.device) -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "data": generator.get_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any], generator: torch.Generator, device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    generator.set_state(state["data"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state_all(state["cuda"])


def train(genotype: Genotype, cfg: TrainConfig, out_dir: str | Path, resume: bool = False, progress: bool = True,
          echo: Callable[[str], None] = print, data=None, source: str | None = None,
          stop_after_epochs: int | None = None, tensorboard: str | Path | None = None,
          preemptible: bool = False) -> dict[str, Any] | None:
    """Train ``genotype`` and write ``out_dir/checkpoint.pt`` and a ``log.jsonl`` record (each epoch) and
    ``out_dir/train.json`` (at the end). ``data`` skips loading the dataset (tests); ``stop_after_epochs``
    simulates an interruption and returns None; ``tensorboard`` also logs each epoch's record there;
    ``preemptible``: SIGTERM checkpoints at the next step and raises ``tnd.preemption.Preempted`` (the
    command that owns the process sets it). Returns the contents of train.json.

    Under torchrun every rank calls this with the same arguments (see the module's docstring); the returned
    record is the same on every rank."""
    out = Path(out_dir)
    rank, world = distributed.rank(), distributed.world_size()
    main = rank == 0
    if not main:
        echo, progress, tensorboard = (lambda _line: None), False, None
    ckpt_path, resume = open_run_folder(out, resume, CHECKPOINT, (RESULT,), "training run")
    distributed.barrier()   # every rank has seen the folder as it was before rank 0 writes into it
    if world > 1:
        distributed.shared_seed(cfg.seed)   # refused on every rank if the ranks were given different seeds
        if cfg.batch_size < 2 * world:
            raise TndError(f"a batch of {cfg.batch_size} gives some of the {world} processes fewer than 2 samples "
                           f"(BatchNorm needs 2); use --batch-size {2 * world} or more, or fewer processes")
    ckpt: dict[str, Any] | None = None
    if resume:
        ckpt = load_checkpoint(ckpt_path)
        _check_resumable(ckpt, genotype, cfg, ckpt_path)

    if data is None:
        # DARTS trains on the whole official training set and reports the test set.
        data = load_dataset(cfg.dataset, cfg.data_dir, seed=cfg.seed, val_fraction=0.0)
    elif data.name != cfg.dataset:
        raise ValueError(f"data is {data.name!r} but the config says {cfg.dataset!r}")
    env = distributed.dist_env()
    device = resolve_compute(cfg.device, env.local_rank if env.launched else None)
    configure_backends(device)
    data = data.to(device)  # the whole dataset on the GPU: batches and augmentation are drawn there
    precision = precision_for(cfg, device)
    memory_format = torch.channels_last if precision.channels_last else torch.contiguous_format
    shape = _shape(cfg, data)

    torch.manual_seed(cfg.seed)
    generator = torch.Generator().manual_seed(cfg.seed)
    model = _build(genotype, shape).to(device, memory_format=memory_format)
    distributed.broadcast_module(model)   # seeded alike on every rank; rank 0's, to be sure (no-op alone)
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.epochs, eta_min=cfg.lr_min)
    start, history, seconds = 0, [], 0.0
    partial: dict[str, Any] | None = None   # where an epoch stopped mid-way on SIGTERM (from the checkpoint)
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        _set_rng_state(ckpt["rng"], generator, device)
        if precision.scaler is not None and ckpt.get("scaler"):
            precision.scaler.load_state_dict(ckpt["scaler"])
        start = int(ckpt["epoch"])
        partial = ckpt.get("partial")
        history = list(ckpt["metrics"].get("history", []))
        seconds = float(ckpt["metrics"].get("seconds", 0.0))

    params = count_parameters(model)
    source = source or "genotype"
    echo(f"tnd train: {source} on {cfg.dataset}, {cfg.layers} cells, {cfg.channels} channels, "
         f"{params / 1e6:.3f}M params (without auxiliary head), {_epochs(cfg.epochs)} on {describe_compute(device)}, "
         f"{precision.describe()}" + (f", {world} processes (data-parallel, global batch {cfg.batch_size})"
                                      if world > 1 else "") + (f", resuming after epoch {start}" if start else ""))

    sinks: list[Any] = []
    if main:
        preemption.clear_stopped(out)   # a resumed run is going again
        log = JsonlSink(out / LOG)
        log.rewrite(history)   # a resumed run's log is its checkpoint's history, whatever was appended after it
        sinks.append(log)
        if tensorboard is not None:
            sinks.append(TensorBoardSink(tensorboard, step_key="epoch"))
    steps = steps_per_epoch(len(data.train), cfg, world)
    # On a GPU a step's loss is read back every few steps only (reading it waits for the GPU).
    read_every = 1 if device.type == "cpu" else 25
    timing: dict[str, Any] = {"start": None, "steps": 0, "done": False}
    bar = Progress(cfg.epochs * steps, "train", "step", enabled=progress,
                   initial=start * steps + (partial["step"] if partial else 0), echo=echo)
    def checkpoint(epochs_done: int, partial: dict[str, Any] | None = None) -> None:
        """The run's state after ``epochs_done`` epochs (``partial``: how far the next one got, on a stop)."""
        save_checkpoint(ckpt_path, {
            "genotype": genotype.to_dict(), "shape": shape, "dataset": cfg.dataset, "config": cfg.to_dict(),
            "epoch": epochs_done, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(), "rng": _rng_state(generator, device),
            "scaler": precision.scaler.state_dict() if precision.scaler is not None else None,
            "metrics": {"history": history, "seconds": seconds, "params": params},
            **({"partial": partial} if partial is not None else {})})

    if preemptible:
        preemption.install()
    try:
        for epoch in range(start, cfg.epochs):
            t0 = time.perf_counter()
            model.train()
            model.drop_path_prob = cfg.drop_path_prob * epoch / cfg.epochs
            lr = optimizer.param_groups[0]["lr"]
            total_loss = torch.zeros((), dtype=torch.float64, device=device)
            correct = torch.zeros((), dtype=torch.int64, device=device)
            seen, pending, first_step = 0, 0, 0
            epoch_rng = _rng_state(generator, device)   # to replay this epoch's data if it stops mid-way
            batches = _batches(data.train, cfg, generator, augment=True, world=world)
            if partial is not None:
                # Resumed mid-epoch: replay the data stream from the epoch's start to the step it stopped at
                # (its batches and cutouts), then the global streams (drop-path) as they were there.
                epoch_rng, first_step = partial["epoch_rng"], partial["step"]
                _set_rng_state(epoch_rng, generator, device)
                batches = _batches(data.train, cfg, generator, augment=True, world=world)
                for _, (x, _y) in zip(range(first_step), batches):
                    if cfg.cutout:
                        cutout(x, cfg.cutout_length, generator)
                _set_rng_state({**partial["rng"], "data": generator.get_state()}, generator, device)
                if len(partial.get("rank_buffers") or []) == world:   # this rank's own (else rank 0's, loaded)
                    model.load_state_dict(partial["rank_buffers"][rank], strict=False)
                if main:   # the totals are over all ranks' shares: counted once, by rank 0
                    total_loss += partial["total_loss"]
                    correct += partial["correct"]
                    seen = partial["seen"]
                partial = None
            for step, (x, y) in enumerate(batches, start=first_step):
                if step >= steps:
                    break
                if _stop_requested(world):
                    totals = _over_ranks(total_loss, correct, seen)
                    # BN running statistics are per rank until the epoch's end: every rank's go into the file
                    buffers = distributed.gather_objects([_buffers(model)], world) if world > 1 else None
                    if main:
                        checkpoint(epoch, partial={
                            "step": step, "epoch_rng": epoch_rng, "rng": _rng_state(generator, device),
                            "total_loss": totals[0], "correct": int(totals[1]), "seen": int(totals[2]),
                            **({"rank_buffers": buffers} if buffers else {})})
                        preemption.mark_stopped(out, ckpt_path, f"step {step} of epoch {epoch + 1}")
                    distributed.barrier()   # no rank exits (and gets the others killed) before the file is written
                    raise preemption.Preempted(f"checkpoint written at step {step} of epoch {epoch + 1} in "
                                               f"{ckpt_path}; run the same command with --resume")
                if not timing["done"] and step == min(_TIMING_SKIP, steps - 1) and steps > 1:
                    _sync(device)
                    timing["start"] = time.perf_counter()
                if cfg.cutout:
                    x = cutout(x, cfg.cutout_length, generator)
                if world > 1:   # every rank drew the same global batch and cutout: train on this rank's share
                    x, y = x[rank::world], y[rank::world]
                x, y = x.to(device, memory_format=memory_format), y.to(device)
                loss, hits = _step(model, x, y, optimizer, cfg, precision)
                total_loss += loss.double() * len(y)
                correct += hits
                seen += len(y)
                pending += 1
                if timing["start"] is not None and not timing["done"]:
                    timing["steps"] += 1
                    if timing["steps"] == _TIMING_STEPS or step == steps - 1:
                        _sync(device)
                        per_step = (time.perf_counter() - timing["start"]) / timing["steps"]
                        first = min(_TIMING_SKIP, steps - 1) + 1
                        bar.write(time_estimate_line(per_step, steps, cfg.epochs,
                                                     f"steps {first}-{first + timing['steps'] - 1} of this run"))
                        timing["done"] = True
                if pending == read_every or step == steps - 1:
                    sum_loss, hit, count = _over_ranks(total_loss, correct, seen)
                    mean_loss = sum_loss / count
                    if not math.isfinite(mean_loss):   # a non-finite loss on any rank makes the sum non-finite
                        raise TndError(f"training diverged at epoch {epoch + 1} (loss {float(loss)}); lower --lr"
                                       + ("" if precision.dtype is None else " or pass --no-amp"))
                    bar.update(pending, epoch=f"{epoch + 1}/{cfg.epochs}", loss=mean_loss, acc=hit / count)
                    pending = 0
            scheduler.step()
            distributed.average_buffers(model)   # BN running statistics of every rank's shares (no-op alone)
            sum_loss, hit, count = _over_ranks(total_loss, correct, seen)
            _sync(device)
            epoch_seconds = time.perf_counter() - t0
            if not timing["done"]:  # a one-step epoch: the estimate comes from the whole epoch
                bar.write(time_estimate_line(epoch_seconds / max(steps, 1), steps, cfg.epochs, "the first epoch"))
                timing["done"] = True
            seconds += epoch_seconds
            record = {"epoch": epoch + 1, "lr": lr, "drop_path_prob": model.drop_path_prob,
                      "train_loss": sum_loss / max(count, 1), "train_accuracy": hit / max(count, 1)}
            if len(data.val):
                record["val_accuracy"] = evaluate(model, data.val, device)
            record["seconds"] = epoch_seconds
            history.append(record)
            if main:
                checkpoint(epoch + 1)
            for sink in sinks:
                sink(record)
            bar.write(epoch_line(record, cfg.epochs))
            if stop_after_epochs is not None and epoch + 1 >= stop_after_epochs and epoch + 1 < cfg.epochs:
                distributed.barrier()
                return None
    finally:
        if preemptible:
            preemption.uninstall()
        bar.close()
        for sink in sinks:
            sink.close()

    test_accuracy = evaluate(model, data.test, device)
    distributed.write_rank_hash("train", model.state_dict().items())   # test hook; nothing without its variable
    result = {
        "genotype": genotype.to_dict(), "genotype_source": source, "dataset": cfg.dataset, "shape": shape,
        "config": cfg.to_dict(), "params": params, "params_M": params / 1e6, "test_accuracy": test_accuracy,
        "test_images": len(data.test), "epochs": cfg.epochs, "seconds": seconds,
        "checkpoint": str(ckpt_path), "history": history, **({"processes": world} if world > 1 else {}),
    }
    if main:
        ckpt = load_checkpoint(ckpt_path)
        ckpt["metrics"] = {**ckpt["metrics"], "test_accuracy": test_accuracy}
        save_checkpoint(ckpt_path, ckpt)
        atomic.write_json(out / RESULT, result)
    distributed.barrier()   # leave when rank 0 has written its files
    echo(f"params {params / 1e6:.3f}M (without auxiliary head), test accuracy {test_accuracy:.4f} "
         f"({len(data.test)} images) after {_epochs(cfg.epochs)}, {seconds:.0f} s")
    echo(f"checkpoint: {ckpt_path}, results: {out / RESULT}, log: {out / LOG}; deploy with "
         f"`tnd export {ckpt_path} --out model.onnx`")
    return result


def _stop_requested(world: int) -> bool:
    """A stop asked of this process or, under torchrun, of any rank (one tiny collective), so all stop together."""
    return preemption.stop_requested() if world == 1 else distributed.any_rank(preemption.stop_requested())


def _buffers(model: nn.Module) -> dict[str, torch.Tensor]:
    """The model's floating-point buffers (BN running statistics) on the CPU."""
    return {k: v.detach().cpu().clone() for k, v in model.named_buffers() if v.is_floating_point()}


def _over_ranks(total_loss: torch.Tensor, correct: torch.Tensor, seen: int) -> tuple[float, int, int]:
    """(summed loss, hits, samples) of the epoch so far over every rank's shares (one read of the device)."""
    t = torch.stack([total_loss.double(), correct.double(), torch.tensor(float(seen), dtype=torch.float64,
                                                                           device=total_loss.device)])
    loss, hits, count = distributed.sum_over_ranks(t).tolist()
    return loss, int(hits), int(count)


def epoch_line(record: dict[str, Any], epochs: int) -> str:
    """``epoch 3/20: loss 0.4123, train acc 0.8810, val acc 0.9012, lr 0.04, 2.1 s``."""
    val = f", val acc {record['val_accuracy']:.4f}" if "val_accuracy" in record else ""
    return (f"epoch {record['epoch']}/{epochs}: loss {record['train_loss']:.4f}, train acc "
            f"{record['train_accuracy']:.4f}{val}, lr {record['lr']:.4g}, {record['seconds']:.1f} s")
