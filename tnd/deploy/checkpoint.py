"""Training checkpoints: one self-describing file that rebuilds the model without the run's config.

A checkpoint carries the genotype and network shape next to the weights, so `tnd export` needs nothing
else; it is loaded with ``weights_only=True`` so opening a stranger's file never runs pickled code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from tnd import atomic
from tnd.errors import TndError
from tnd.run_folder import load_state
from tnd.space.genotype import Genotype
from tnd.space.network import build_network
from tnd.space.plan import NetworkShape

FORMAT = "tnd-checkpoint/1"
SHAPE_KEYS = ("channels", "layers", "num_classes", "in_channels", "input_size", "auxiliary")
REQUIRED = ("genotype", "shape", "model")


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` (genotype, shape, dataset, config, epoch, model, optimizer, scheduler, rng,
    metrics) atomically, stamped with FORMAT, so an interrupted save leaves the previous file intact."""
    missing = [k for k in REQUIRED if k not in payload]
    if missing:
        raise ValueError(f"checkpoint payload lacks {', '.join(missing)}")
    shape = payload["shape"]
    absent = [k for k in SHAPE_KEYS if k not in shape]
    if absent:
        raise ValueError(f"checkpoint shape lacks {', '.join(absent)}")
    body = {k: v for k, v in payload.items() if k not in ("format", "path")}  # "path": added by load_checkpoint
    return atomic.torch_save(path, {"format": FORMAT, **body})


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load and check a checkpoint; every way it can be wrong becomes a one-line TndError."""
    p = Path(path)
    if not p.is_file():
        raise TndError(f"checkpoint {p} not found; pass the checkpoint.pt written by `tnd train --out DIR`")
    ckpt = load_state(p, FORMAT, "tnd checkpoint")
    missing = [k for k in REQUIRED if k not in ckpt]
    if missing:
        raise TndError(f"checkpoint {p} lacks {', '.join(missing)}; it was not written by `tnd train`")
    ckpt["path"] = str(p)  # for later error messages; save_checkpoint drops it again
    return ckpt


def model_from_checkpoint(ckpt: dict[str, Any]) -> nn.Module:
    """The inference network in eval mode: built without the auxiliary head (only training uses it),
    whose weights are dropped explicitly so every other key must match exactly."""
    shape = NetworkShape.from_dict(ckpt["shape"], where=f"{ckpt.get('path', 'checkpoint')}: shape")
    model = build_network(Genotype.from_dict(ckpt["genotype"]), shape=shape, auxiliary=False)
    state = {k: v for k, v in ckpt["model"].items() if not k.startswith("auxiliary_head.")}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        where = ckpt.get("path", "checkpoint")
        raise TndError(f"{where}: weights do not fit its genotype/shape "
                       f"({str(e).splitlines()[0][:160]}); the file was edited or is damaged") from None
    model.drop_path_prob = 0.0
    return model.eval()
