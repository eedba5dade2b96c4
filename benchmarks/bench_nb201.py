"""How close searches get to the exact Pareto front of NAS-Bench-201 (error x measured latency).

For each dataset (validation accuracy) and each latency column of ``../shared/data/nb201/`` (HELP /
HW-NAS-Bench measurements, never copied into this repository): the exact front over all 15,625 cells,
then each strategy over seeds at equal budgets (distinct architectures queried). Score: hypervolume of
the front of what a strategy queried, as a fraction of the true front's, both with error and latency
normalised to [0, 1] by their min/max over the whole space and reference (1, 1) (as MODNAS); and the
queries it needed to reach 90% of the true hypervolume (from the prefixes of its largest run).

A strategy is ``make(task) -> (budget, seed) -> queried archs in query order``; add one to STRATEGIES
(e.g. TND-NAS's tabular search) and it is scored like random search.

Run: python benchmarks/bench_nb201.py [--quick] [--seeds N] [--strategy NAME ...] [--out FILE]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "nb201" / "nb201_val_latency.csv.gz"
DATASETS = ("val_cifar10", "val_cifar100", "val_ImageNet16-120")
BUDGETS = (10, 100, 300, 1000)
TARGET = 0.9                      # fraction of the true hypervolume for "queries to reach"
QUICK_COLUMNS = ("latency_ms_1080ti_1",)


@dataclass
class Task:
    """One (dataset, latency column) problem: the table's ground truth, for scoring and for strategies."""

    path: Path
    accuracy_column: str
    latency_column: str
    archs: list                   # every architecture of the space (row order)
    points: np.ndarray            # (n, 2): error in %, latency in ms, row order
    objective_range: object       # ObjectiveRange over the whole space
    true_hv: float
    front: np.ndarray             # row indices of the exact front


Strategy = Callable[[int, int], Sequence]           # (budget, seed) -> queried archs, in query order
StrategyMaker = Callable[[Task], Strategy]


def random_search(task: Task) -> Strategy:
    """Uniform sampling without replacement over the space's architectures."""
    def strategy(budget: int, seed: int) -> list:
        rng = random.Random(seed)
        return rng.sample(task.archs, min(budget, len(task.archs)))

    return strategy


STRATEGIES: dict[str, StrategyMaker] = {"random": random_search}


def load_tasks(path: Path, datasets: Sequence[str], columns: Sequence[str] | None) -> list[Task]:
    from tnd.data.tabular import TabularBenchmark, table_columns
    from tnd.search.normalised_hv import ObjectiveRange, normalised_hypervolume, pareto_front
    from tnd.space.nb201 import NB201Arch

    latency_columns = [c for c in table_columns(path) if c.startswith("latency_ms_")]
    if columns:
        latency_columns = [c for c in latency_columns if c in columns]
    tasks = []
    for dataset in datasets:
        bench = TabularBenchmark.load(path, dataset, {c: c for c in latency_columns}, NB201Arch.parse)
        for column in latency_columns:
            points = np.column_stack([100.0 - bench.accuracy, bench.costs[column]])
            rng = ObjectiveRange.of(points)
            front = pareto_front(points)
            tasks.append(Task(path, dataset, column, bench.archs, points, rng,
                              normalised_hypervolume(points[front], rng), front))
    return tasks


def hv_fraction(task: Task, rows: np.ndarray) -> float:
    from tnd.search.normalised_hv import normalised_hypervolume

    return normalised_hypervolume(task.points[rows], task.objective_range) / task.true_hv


def queries_to_reach(task: Task, rows: np.ndarray, target: float = TARGET) -> int | None:
    """Fewest leading queries whose front reaches ``target`` of the true hypervolume (None: never)."""
    if hv_fraction(task, rows) < target:
        return None
    lo, hi = 1, len(rows)                 # the hypervolume of a prefix never decreases: bisect
    while lo < hi:
        mid = (lo + hi) // 2
        if hv_fraction(task, rows[:mid]) >= target:
            hi = mid
        else:
            lo = mid + 1
    return lo


@dataclass
class Score:
    hv: dict[int, list[float]]            # budget -> HV fraction per seed
    to_target: list[int | None]           # per seed, from the largest budget's run


def score(task: Task, strategy: Strategy, budgets: Sequence[int], seeds: Sequence[int]) -> Score:
    row_of = {a: i for i, a in enumerate(task.archs)}
    hv: dict[int, list[float]] = {b: [] for b in budgets}
    to_target: list[int | None] = []
    for seed in seeds:
        for b in budgets:
            queried = list(strategy(b, seed))
            if len(set(queried)) > b:
                raise RuntimeError(f"strategy queried {len(set(queried))} distinct archs with a budget of {b}")
            rows = np.fromiter((row_of[a] for a in dict.fromkeys(queried)), dtype=np.int64)
            hv[b].append(hv_fraction(task, rows))
            if b == max(budgets):
                to_target.append(queries_to_reach(task, rows))
    return Score(hv, to_target)


def _mean_sd(xs: Sequence[float]) -> str:
    return f"{statistics.fmean(xs):.3f} +- {statistics.stdev(xs) if len(xs) > 1 else 0.0:.3f}"


def _reach(xs: Sequence[int | None], budget: int) -> str:
    hit = [x for x in xs if x is not None]
    if not hit:
        return f"> {budget} (0/{len(xs)})"
    text = f"{statistics.median(hit):.0f}"
    return text if len(hit) == len(xs) else f"{text} ({len(hit)}/{len(xs)} within {budget})"


def run(quick: bool = False, seeds: int = 20, strategies: Sequence[str] | None = None,
        data: Path = DATA) -> str:
    if not data.is_file():
        return (f"## NAS-Bench-201 tabular benchmark\n\nSkipped: {data} is absent. The NB201 ground truth is test "
                "data kept beside the checkout (`../shared/data/nb201/`), never copied into this repository.\n")
    sys.path.insert(0, str(ROOT))
    names = list(strategies or STRATEGIES)
    unknown = [n for n in names if n not in STRATEGIES]
    if unknown:
        raise SystemExit(f"unknown strategy {', '.join(unknown)}; known: {', '.join(STRATEGIES)}")
    seeds = 5 if quick else seeds
    tasks = load_tasks(data, DATASETS, QUICK_COLUMNS if quick else None)
    budgets = BUDGETS
    lines = ["## NAS-Bench-201: hypervolume against the exact front (error x latency)", "",
             f"Data: `{data.name}` (15,625 cells). Objectives: validation error and measured latency, each "
             "normalised to [0, 1] by its min/max over the whole space; reference (1, 1). HV = hypervolume of the "
             f"front of the queried architectures / the true front's, mean +- sd over {seeds} seeds; "
             f"'to {TARGET:.0%}' = median distinct queries to reach {TARGET:.0%} of the true HV "
             f"(within the {max(budgets)}-query run).", "",
             "| dataset | latency column | front size | strategy | "
             + " | ".join(f"HV @{b}" for b in budgets) + f" | to {TARGET:.0%} |",
             "|---|---|---|---|" + "---|" * len(budgets) + "---|"]
    for task in tasks:
        for name in names:
            s = score(task, STRATEGIES[name](task), budgets, range(seeds))
            lines.append(f"| {task.accuracy_column} | {task.latency_column} | {len(task.front)} | {name} | "
                         + " | ".join(_mean_sd(s.hv[b]) for b in budgets)
                         + f" | {_reach(s.to_target, max(budgets))} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help=f"{QUICK_COLUMNS[0]} only, 5 seeds")
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--strategy", nargs="*", choices=sorted(STRATEGIES))
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--out", type=Path, help="also write the markdown table to this file")
    args = ap.parse_args()
    if args.seeds < 2:
        ap.error("--seeds must be at least 2 (mean +- sd)")
    sys.path.insert(0, str(ROOT))
    text = run(args.quick, args.seeds, args.strategy, args.data)
    print(text)
    if args.out:
        from tnd import atomic

        atomic.write_text(args.out, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
