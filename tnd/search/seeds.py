"""`tnd search --seeds 0,1,2`: the whole series once per seed, then every member's mean and spread.

The spread across seeds is the first thing a reviewer of a DARTS-family result asks for: one seed's front
mixes the preference's effect with the seed's luck. Each seed runs in its own folder (``seed-N``) as a
complete `tnd search` run, so a seed that finished is never run again and an interrupted one resumes;
``seeds.json`` and ``pareto_seeds.png`` at the top summarise them.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Sequence

import matplotlib
from matplotlib.figure import Figure

from tnd import atomic
from tnd.costs.objectives import by_field
from tnd.errors import TndError
from tnd.result_file import RESULT_NAME
from tnd.search.config import SearchConfig

SEEDS_NAME = "seeds.json"
SEEDS_FORMAT = "tnd-search-seeds/1"


def parse_seeds(text: str) -> list[int]:
    """``0,1,2`` or ``0-4`` (inclusive) -> distinct seeds in the order given."""
    seeds: list[int] = []
    for item in filter(None, (t.strip() for t in text.split(","))):
        lo, dash, hi = item.partition("-")
        try:
            seeds += list(range(int(lo), int(hi) + 1)) if dash and lo else [int(item)]
        except ValueError:
            raise TndError(f"--seeds: cannot read {item!r}; write e.g. --seeds 0,1,2 or --seeds 0-4") from None
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise TndError(f"--seeds: give distinct non-negative seeds, e.g. 0,1,2 (got {text!r})")
    return seeds


def seed_folder(out: Path, seed: int) -> Path:
    return out / f"seed-{seed}"


def _spread(values: Sequence[float]) -> dict[str, float]:
    return {"mean": statistics.fmean(values), "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values), "max": max(values)}


def summarise(results: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """Per member (matched by preference name): mean, sd and range over seeds of accuracy and each cost;
    and the same for the series' normalised hypervolume. Pure: reads result.json contents only."""
    seeds = sorted(results)
    names = [e["preference"]["name"] for e in results[seeds[0]]["genotypes"]]
    members = {}
    for name in names:
        per_seed = [next(e for e in results[s]["genotypes"] if e["preference"]["name"] == name) for s in seeds]
        fields = list(per_seed[0]["objectives"])
        members[name] = {f: {**_spread([e["objectives"][f] for e in per_seed]),
                             "per_seed": [e["objectives"][f] for e in per_seed]} for f in fields}
        members[name]["sources"] = per_seed[0]["sources"]
    hv = [results[s]["hypervolume"]["value"] for s in seeds]
    return {"format": SEEDS_FORMAT, "seeds": seeds, "members": members,
            "hypervolume": {**_spread(hv), "per_seed": hv,
                            "note": "normalised hypervolume of each seed's series (see a seed's result.json)"},
            "runs": {str(s): f"{seed_folder(Path('.'), s)}/{RESULT_NAME}" for s in seeds}}


ACCURACY_FIELDS = ("accuracy", "supernet_accuracy")  # supernet_accuracy: beside a trained score (rescore.py)


def _label_and_scale(f: str) -> tuple[str, float]:
    if f in ACCURACY_FIELDS:
        return f.replace("_", " "), 1.0
    return by_field(f).label, by_field(f).display_scale


def summary_table(summary: dict[str, Any]) -> str:
    seeds = summary["seeds"]
    fields = [f for f in next(iter(summary["members"].values())) if f not in ("sources",)]
    head = f"over {len(seeds)} seeds ({', '.join(map(str, seeds))}): mean +- sd"
    rows = [["member", *(_label_and_scale(f)[0] for f in fields)]]
    for name, m in summary["members"].items():
        cells = []
        for f in fields:
            scale = _label_and_scale(f)[1]
            cells.append(f"{m[f]['mean'] * scale:.4g} +- {m[f]['sd'] * scale:.2g}")
        rows.append([name, *cells])
    widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
    lines = [head] + ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    hv = summary["hypervolume"]
    lines.append(f"normalised hypervolume {hv['mean']:.4f} +- {hv['sd']:.4f} (range {hv['min']:.4f}-{hv['max']:.4f})")
    return "\n".join(lines)


def plot_seed_fronts(results: dict[int, dict[str, Any]], path: Path) -> Path:
    """Every seed's derived members and front in one figure per cost, one colour per seed."""
    first = results[min(results)]
    fields = [f for f in first["hypervolume"]["objectives"] if f != "error"]
    fig = Figure(figsize=(4.5 * len(fields), 3.8))   # the object API: the user's pyplot backend is left alone
    axes = fig.subplots(1, len(fields), squeeze=False)
    colours = matplotlib.colormaps["tab10"]
    for ax, f in zip(axes[0], fields):
        objective = by_field(f)
        for k, (seed, result) in enumerate(sorted(results.items())):
            entries = result["genotypes"]
            xs = [e["objectives"][f] * objective.display_scale for e in entries]
            ys = [e["objectives"]["accuracy"] for e in entries]
            ax.scatter(xs, ys, color=colours(k % 10), label=f"seed {seed}", zorder=3, s=18)
            pts = sorted((xs[i], ys[i]) for i in result["pareto"])
            if len(pts) > 1:
                ax.step([p[0] for p in pts], [p[1] for p in pts], where="post", color=colours(k % 10), alpha=0.5)
        est = any(e["sources"].get(f) == "estimated" for r in results.values() for e in r["genotypes"])
        ax.set_xlabel(objective.label + (" (ESTIMATE)" if est else ""))
        ax.set_ylabel("accuracy")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"{first['config']['name']}: per-seed fronts")
    fig.tight_layout()
    return atomic.save_with(path, lambda p: fig.savefig(p, format="png", dpi=110))


def run_seeds(cfg: SearchConfig, seeds: Sequence[int], out: str | Path, search: Callable[..., dict[str, Any] | None],
              resume: bool = False, echo: Callable[[str], None] = print, tensorboard: str | Path | None = None,
              **kwargs: Any) -> dict[str, Any] | None:
    """Run ``search(cfg with seed s, out/seed-s, resume=...)`` for each seed, then write the summary.

    With ``tensorboard`` each seed logs into its own ``tensorboard/seed-s``, so the curves sit side by side.

    A seed whose folder already holds a result is read, not rerun (with ``resume``); without ``resume`` a
    folder holding any seed is refused by the search itself. Returns the summary, or None if a run stopped."""
    out = Path(out)
    results: dict[int, dict[str, Any]] = {}
    for seed in seeds:
        folder = seed_folder(out, seed)
        done = folder / RESULT_NAME
        if resume and done.is_file():
            echo(f"seed {seed}: finished earlier, read from {done}")
            results[seed] = json.loads(done.read_text())
            continue
        echo(f"== seed {seed} ({len(results) + 1} of {len(seeds)}) ==")
        again = resume and (folder / "checkpoint.pt").is_file()
        if tensorboard is not None:
            kwargs["tensorboard"] = Path(tensorboard) / folder.name
        result = search(replace(cfg, seed=seed), folder, resume=again, echo=echo, **kwargs)
        if result is None:
            return None
        results[seed] = result
    summary = summarise(results)
    atomic.write_json(out / SEEDS_NAME, summary)
    plot = plot_seed_fronts(results, out / "pareto_seeds.png")
    echo(summary_table(summary))
    echo(f"seeds summary: {out / SEEDS_NAME}, plot: {plot}")
    return summary
