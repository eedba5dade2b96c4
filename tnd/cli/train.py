"""`tnd train`: train a genotype from scratch (parses flags, calls tnd.deploy.train)."""

from __future__ import annotations

import argparse
from typing import Any

from tnd.cli.launch import under_launcher
from tnd.cli.renamed_flag import read_renamed
from tnd.cli.set_option import add_set_option, parse_set

# flag attribute -> TrainConfig field; flags left unset keep the config file's (or built-in) value.
FLAG_FIELDS = {
    "dataset": "dataset", "data_dir": "data_dir", "layers": "layers", "channels": "channels",
    "epochs": "epochs", "batch_size": "batch_size", "lr": "lr", "cutout": "cutout", "auxiliary": "auxiliary",
    "auxiliary_weight": "auxiliary_weight", "drop_path": "drop_path_prob", "seed": "seed",
    "max_steps": "max_steps_per_epoch", "compute": "device", "amp": "amp", "channels_last": "channels_last",
}


def overrides_from(args: argparse.Namespace) -> dict[str, Any]:
    """The flags that were given, then ``--set`` (which wins where both name a setting)."""
    read_renamed(args, "device", "compute", "tnd train",
                 "where the network trains; tnd search names the hardware whose costs are optimised --hardware")
    flags = {key: getattr(args, flag) for flag, key in FLAG_FIELDS.items() if getattr(args, flag) is not None}
    return {**flags, **parse_set(args.set)}


def run(args: argparse.Namespace) -> int:
    from tnd.deploy import load_train_config, resolve_genotype, train
    from tnd.presets import config_path

    config = config_path(args.config, "train") if args.config else None
    cfg = load_train_config(config, overrides_from(args))
    if args.download:
        from tnd.data import ensure_downloaded

        ensure_downloaded(cfg.dataset, cfg.data_dir)
    genotype, source = resolve_genotype(args.genotype)
    # one process, or one training data-parallel over torchrun's processes (rank 0 writes the folder)
    result = under_launcher(cfg.device, lambda: train(
        genotype, cfg, args.out, resume=args.resume, progress=not args.no_progress, source=source,
        tensorboard=args.tensorboard, preemptible=True))
    return 0 if result is not None else 1


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a genotype from scratch (DARTS evaluation protocol)",
                       description="Train a genotype from scratch and report its test accuracy. Defaults follow "
                                   "DARTS's CIFAR-10 protocol (600 epochs, 20 cells, 36 channels); a config "
                                   "file gives settings, flags and --set override it.")
    p.add_argument("--genotype", required=True, metavar="SPEC",
                   help="runs/X/result.json[:INDEX], a run folder, a genotype file, or a published name "
                        "(DARTS_V2, DARTS_V1, PDARTS)")
    p.add_argument("--config", help="training preset name (digits, cifar10) or config file (default: DARTS "
                   "CIFAR-10 settings)")
    add_set_option(p, "lr=1e-3")
    p.add_argument("--out", required=True, help="output folder for checkpoint.pt, log.jsonl and train.json")
    p.add_argument("--dataset", help="digits, cifar10 or cifar100 (default: the config's, cifar10)")
    p.add_argument("--data-dir", help="folder holding the CIFAR files (default: data)")
    p.add_argument("--download", action="store_true", help="fetch CIFAR into --data-dir if it is not there")
    p.add_argument("--layers", type=int, help="number of cells (default: the config's, 20)")
    p.add_argument("--channels", type=int, help="initial channels (default: the config's, 36)")
    p.add_argument("--epochs", type=int, help="training epochs (default: the config's, 600)")
    p.add_argument("--batch-size", type=int, help="training batch size (default: the config's, 96)")
    p.add_argument("--lr", type=float, help="initial learning rate, cosine-annealed (default: the config's, 0.025)")
    p.add_argument("--cutout", action=argparse.BooleanOptionalAction, default=None,
                   help="cutout augmentation (default: the config's, on)")
    p.add_argument("--auxiliary", action=argparse.BooleanOptionalAction, default=None,
                   help="auxiliary head (default: the config's, on)")
    p.add_argument("--auxiliary-weight", type=float, help="weight of the auxiliary loss (default: the config's, 0.4)")
    p.add_argument("--drop-path", type=float,
                   help="final drop-path probability, ramped linearly (default: the config's, 0.2)")
    p.add_argument("--seed", type=int, help="random seed (default: the config's, 0)")
    p.add_argument("--max-steps", type=int, help="at most this many steps per epoch, for smoke runs (default: all)")
    p.add_argument("--compute", metavar="auto|cpu|cuda[:N]",
                   help="where the network trains (default: auto, the CUDA GPU where there is one)")
    p.add_argument("--device", metavar="auto|cpu|cuda[:N]", help="old name of --compute (still accepted, with a note)")
    p.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None,
                   help="mixed precision on a CUDA GPU: bf16 where supported, else fp16 with loss scaling "
                        "(default: on; a CPU always trains in float32)")
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None,
                   help="channels-last (NHWC) tensors on a CUDA GPU (default: on; not used on a CPU)")
    p.add_argument("--tensorboard", metavar="DIR",
                   help="also log each epoch's loss, accuracy and lr to TensorBoard in DIR (needs the "
                        "tensorboard package)")
    p.add_argument("--resume", action="store_true", help="continue from --out's checkpoint")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
