"""`tnd train`: train a genotype from scratch (parses flags, calls tnd.deploy.train)."""

from __future__ import annotations

import argparse
from typing import Any

# flag attribute -> TrainConfig field; flags left unset keep the config file's (or built-in) value.
FLAG_FIELDS = {
    "dataset": "dataset", "data_dir": "data_dir", "layers": "layers", "channels": "channels",
    "epochs": "epochs", "batch_size": "batch_size", "lr": "lr", "cutout": "cutout", "auxiliary": "auxiliary",
    "auxiliary_weight": "auxiliary_weight", "drop_path": "drop_path_prob", "seed": "seed",
    "max_steps": "max_steps_per_epoch", "device": "device",
}


def overrides_from(args: argparse.Namespace) -> dict[str, Any]:
    return {key: getattr(args, flag) for flag, key in FLAG_FIELDS.items() if getattr(args, flag) is not None}


def run(args: argparse.Namespace) -> int:
    from tnd.deploy import load_train_config, resolve_genotype, train

    cfg = load_train_config(args.config, overrides_from(args))
    if args.download:
        from tnd.data import ensure_downloaded

        ensure_downloaded(cfg.dataset, cfg.data_dir)
    genotype, source = resolve_genotype(args.genotype)
    result = train(genotype, cfg, args.out, resume=args.resume, progress=not args.no_progress, source=source)
    return 0 if result is not None else 1


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a genotype from scratch (DARTS evaluation protocol)",
                       description="Train a genotype from scratch and report its test accuracy. Defaults follow "
                                   "DARTS's CIFAR-10 protocol; a config file gives settings, flags override it.")
    p.add_argument("--genotype", required=True, metavar="SPEC",
                   help="runs/X/result.json[:INDEX], a run folder, a genotype file, or a published name "
                        "(DARTS_V2, DARTS_V1, PDARTS)")
    p.add_argument("--config", help="training preset, e.g. configs/train/digits.yaml (default: DARTS CIFAR-10)")
    p.add_argument("--out", required=True, help="output folder for checkpoint.pt and train.json")
    p.add_argument("--dataset", help="digits, cifar10 or cifar100")
    p.add_argument("--data-dir", help="folder holding the CIFAR files")
    p.add_argument("--download", action="store_true", help="fetch CIFAR into --data-dir if it is not there")
    p.add_argument("--layers", type=int, help="number of cells")
    p.add_argument("--channels", type=int, help="initial channels")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float, help="initial learning rate (cosine-annealed)")
    p.add_argument("--cutout", action=argparse.BooleanOptionalAction, default=None, help="cutout augmentation")
    p.add_argument("--auxiliary", action=argparse.BooleanOptionalAction, default=None, help="auxiliary head")
    p.add_argument("--auxiliary-weight", type=float, help="weight of the auxiliary loss")
    p.add_argument("--drop-path", type=float, help="final drop-path probability (ramped linearly)")
    p.add_argument("--seed", type=int)
    p.add_argument("--max-steps", type=int, help="at most this many steps per epoch (smoke runs)")
    p.add_argument("--device", help="auto, cpu or cuda[:N]")
    p.add_argument("--resume", action="store_true", help="continue from --out's checkpoint")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
