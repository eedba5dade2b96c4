"""`tnd train`: train a genotype from scratch under the DARTS evaluation protocol, resumably.

Every epoch ends in an atomic checkpoint holding weights, optimizer, scheduler and both random
generators, so a resumed run finishes with the same weights as one that was never interrupted.
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

from tnd import atomic
from tnd.compute import COMPUTE_CHOICES, check_compute_spec, configure_backends, describe_compute, resolve_compute
from tnd.data import load_dataset
from tnd.data.datasets import DATASETS, cutout
from tnd.deploy.checkpoint import load_checkpoint, save_checkpoint
from tnd.errors import TndError
from tnd.run_folder import open_run_folder
from tnd.schema import from_data, load_yaml
from tnd.space.genotype import Genotype
from tnd.space.network import Network, build_network, count_parameters
from tnd.space.plan import NetworkShape

CHECKPOINT = "checkpoint.pt"
RESULT = "train.json"
# Settings that do not change what is computed, so a resume may differ in them.
_RESUMABLE_DIFFERENCES = ("data_dir", "device")


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
        for name in ("cutout", "auxiliary"):
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


def _batches(split, cfg: TrainConfig, generator: torch.Generator, augment: bool):
    # A last batch of one sample would break BatchNorm in training mode; drop it in that case only.
    drop_last = augment and len(split) % cfg.batch_size == 1
    return split.batches(cfg.batch_size, shuffle=augment, generator=generator, augment=augment,
                         drop_last=drop_last)


def steps_per_epoch(n_train: int, cfg: TrainConfig) -> int:
    steps = n_train // cfg.batch_size if n_train % cfg.batch_size == 1 else math.ceil(n_train / cfg.batch_size)
    return min(steps, cfg.max_steps_per_epoch) if cfg.max_steps_per_epoch else steps


@torch.no_grad()
def evaluate(model: nn.Module, split, device: torch.device, batch_size: int = 256) -> float:
    """Top-1 accuracy in eval mode (no drop-path, running BatchNorm statistics)."""
    if len(split) == 0:
        return float("nan")
    was_training = model.training
    model.eval()
    correct = torch.zeros((), dtype=torch.int64, device=device)
    for x, y in split.batches(batch_size):
        correct += (model(x.to(device)).argmax(1) == y.to(device)).sum()  # summed on the device: one sync
    model.train(was_training)
    return int(correct) / len(split)


def train_step(model: Network, x: torch.Tensor, y: torch.Tensor, optimizer: torch.optim.Optimizer,
               cfg: TrainConfig) -> tuple[float, int]:
    """One SGD step with the auxiliary loss and gradient clipping; returns (loss, correct)."""
    criterion = nn.functional.cross_entropy
    optimizer.zero_grad(set_to_none=True)
    out = model(x)
    logits, aux = out if isinstance(out, tuple) else (out, None)
    loss = criterion(logits, y)
    if aux is not None and cfg.auxiliary_weight:
        loss = loss + cfg.auxiliary_weight * criterion(aux, y)
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    optimizer.step()
    return float(loss.detach()), int((logits.detach().argmax(1) == y).sum())


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
          stop_after_epochs: int | None = None) -> dict[str, Any] | None:
    """Train ``genotype`` and write ``out_dir/checkpoint.pt`` (each epoch) and ``out_dir/train.json`` (at
    the end). ``data`` skips loading the dataset (tests); ``stop_after_epochs`` simulates an interruption
    and returns None. Returns the contents of train.json."""
    from tqdm import tqdm

    out = Path(out_dir)
    ckpt_path, resume = open_run_folder(out, resume, CHECKPOINT, (RESULT,), "training run")
    ckpt: dict[str, Any] | None = None
    if resume:
        ckpt = load_checkpoint(ckpt_path)
        _check_resumable(ckpt, genotype, cfg, ckpt_path)

    if data is None:
        # DARTS trains on the whole official training set and reports the test set.
        data = load_dataset(cfg.dataset, cfg.data_dir, seed=cfg.seed, val_fraction=0.0)
    elif data.name != cfg.dataset:
        raise ValueError(f"data is {data.name!r} but the config says {cfg.dataset!r}")
    device = resolve_compute(cfg.device)
    configure_backends(device)
    data = data.to(device)  # the whole dataset on the GPU: batches and augmentation are drawn there
    shape = _shape(cfg, data)

    torch.manual_seed(cfg.seed)
    generator = torch.Generator().manual_seed(cfg.seed)
    model = _build(genotype, shape).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.epochs, eta_min=cfg.lr_min)
    start, history, seconds = 0, [], 0.0
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        _set_rng_state(ckpt["rng"], generator, device)
        start = int(ckpt["epoch"])
        history = list(ckpt["metrics"].get("history", []))
        seconds = float(ckpt["metrics"].get("seconds", 0.0))

    params = count_parameters(model)
    source = source or "genotype"
    echo(f"tnd train: {source} on {cfg.dataset}, {cfg.layers} cells, {cfg.channels} channels, "
         f"{params / 1e6:.3f}M params (without auxiliary head), {_epochs(cfg.epochs)} on {describe_compute(device)}"
         + (f", resuming after epoch {start}" if start else ""))

    steps = steps_per_epoch(len(data.train), cfg)
    bar = tqdm(total=cfg.epochs * steps, initial=start * steps, disable=not progress, unit="step",
               dynamic_ncols=True, desc="train")
    try:
        for epoch in range(start, cfg.epochs):
            t0 = time.perf_counter()
            model.train()
            model.drop_path_prob = cfg.drop_path_prob * epoch / cfg.epochs
            lr = optimizer.param_groups[0]["lr"]
            total_loss, correct, seen = 0.0, 0, 0
            for step, (x, y) in enumerate(_batches(data.train, cfg, generator, augment=True)):
                if step >= steps:
                    break
                if cfg.cutout:
                    x = cutout(x, cfg.cutout_length, generator)
                x, y = x.to(device), y.to(device)
                loss, hits = train_step(model, x, y, optimizer, cfg)
                if not math.isfinite(loss):
                    raise TndError(f"training diverged at epoch {epoch + 1} (loss {loss}); lower --lr")
                total_loss += loss * len(y)
                correct += hits
                seen += len(y)
                bar.update(1)
                bar.set_postfix(epoch=f"{epoch + 1}/{cfg.epochs}", loss=f"{total_loss / seen:.3f}",
                                acc=f"{correct / seen:.3f}", refresh=False)
            scheduler.step()
            seconds += time.perf_counter() - t0
            record = {"epoch": epoch + 1, "lr": lr, "drop_path_prob": model.drop_path_prob,
                      "train_loss": total_loss / max(seen, 1), "train_accuracy": correct / max(seen, 1)}
            if len(data.val):
                record["val_accuracy"] = evaluate(model, data.val, device)
            history.append(record)
            save_checkpoint(ckpt_path, {
                "genotype": genotype.to_dict(), "shape": shape, "dataset": cfg.dataset, "config": cfg.to_dict(),
                "epoch": epoch + 1, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "rng": _rng_state(generator, device),
                "metrics": {"history": history, "seconds": seconds, "params": params},
            })
            if stop_after_epochs is not None and epoch + 1 >= stop_after_epochs and epoch + 1 < cfg.epochs:
                return None
    finally:
        bar.close()

    test_accuracy = evaluate(model, data.test, device)
    ckpt = load_checkpoint(ckpt_path)
    ckpt["metrics"] = {**ckpt["metrics"], "test_accuracy": test_accuracy}
    save_checkpoint(ckpt_path, ckpt)
    result = {
        "genotype": genotype.to_dict(), "genotype_source": source, "dataset": cfg.dataset, "shape": shape,
        "config": cfg.to_dict(), "params": params, "params_M": params / 1e6, "test_accuracy": test_accuracy,
        "test_images": len(data.test), "epochs": cfg.epochs, "seconds": seconds,
        "checkpoint": str(ckpt_path), "history": history,
    }
    atomic.write_json(out / RESULT, result)
    echo(f"params {params / 1e6:.3f}M (without auxiliary head), test accuracy {test_accuracy:.4f} "
         f"({len(data.test)} images) after {_epochs(cfg.epochs)}, {seconds:.0f} s")
    echo(f"checkpoint: {ckpt_path}, results: {out / RESULT}; deploy with `tnd export {ckpt_path} --out model.onnx`")
    return result
