"""Scoring derived genotypes on a common footing: each trained briefly from scratch (``derive.evaluate: train``).

Every preference trains its own supernet, so supernet accuracies of different preferences are not
comparable, and a Pareto front drawn from them mixes luck with merit. Training each derived network
(the deployed shape) for a few epochs with the same recipe and seed, and scoring it on the search's
validation split, gives accuracies that are. The test split is never used for this choice.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from tnd.deploy.train import RESULT, TrainConfig, train
from tnd.progress import Progress
from tnd.space.genotype import Genotype


def rescore_by_training(cfg: Any, data: Any, entries: list[dict[str, Any]], out: Path, progress: bool = True,
                        echo: Callable[[str], None] = print) -> None:
    d = cfg.derive
    tcfg = TrainConfig(dataset=cfg.dataset, data_dir=cfg.data_dir, layers=cfg.network.layers,
                       channels=cfg.network.channels, epochs=d.train_epochs, batch_size=cfg.weights.batch_size,
                       lr=d.train_lr, cutout=False, auxiliary=False, drop_path_prob=0.0, seed=cfg.seed)
    echo(f"scoring {len(entries)} derived genotype(s): each trained {d.train_epochs} epochs from scratch on the "
         "train split, accuracy on the validation split")
    with Progress(len(entries), "scoring derived", "genotype", enabled=progress, echo=echo, plain_every=1) as bar:
        for i, entry in enumerate(entries):
            folder = out / "derived" / str(i)
            if (folder / RESULT).is_file():  # scored before an interruption
                report = json.loads((folder / RESULT).read_text())
            else:
                report = train(Genotype.from_dict(entry["genotype"]), tcfg, folder,
                               resume=(folder / "checkpoint.pt").is_file(), progress=False, echo=lambda s: None,
                               data=data, source=f"derived genotype {i}")
            entry["objectives"]["supernet_accuracy"] = entry["objectives"]["accuracy"]
            entry["objectives"]["accuracy"] = report["history"][-1]["val_accuracy"]
            entry["sources"]["supernet_accuracy"] = entry["sources"]["accuracy"]
            entry["sources"]["accuracy"] = f"trained-{d.train_epochs}-epochs-validation"
            bar.update(1, accuracy=entry["objectives"]["accuracy"])
