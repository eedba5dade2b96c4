"""One `tnd search` run end to end: data, cost models, the search, and the files a user reads after."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import yaml

from tnd import atomic
from tnd.costs import CostSuite, CountingCosts
from tnd.costs.objectives import by_field, get_objective
from tnd.data import load_dataset
from tnd.result_file import RESULT_FORMAT, RESULT_NAME
from tnd.run_folder import open_run_folder
from tnd.search.config import SearchConfig
from tnd.search.lut_source import load_search_lut
from tnd.search.pareto import hypervolume, pareto_front
from tnd.search.plots import plot_front
from tnd.search.progressive import ProgressiveSearch
from tnd.search.rescore import rescore_by_training
from tnd.search.reward import Preference
from tnd.space.genotype import Genotype


def rewarded_costs(prefs: list[Preference]) -> list[str]:
    """Every cost some member of the series rewards, in the order they are first named."""
    return list(dict.fromkeys(c for p in prefs for c in p.spec.costs))


def build_costs(cfg: SearchConfig, prefs: list[Preference]) -> CostSuite:
    """Counting costs always; a lookup-table cost model when the reward needs latency or energy."""
    models: list[Any] = [CountingCosts(cfg.target_shape())]
    needed = set(rewarded_costs(prefs))
    if needed & {"latency", "energy"} or cfg.cost.lut:
        models.append(load_search_lut(cfg, needs_energy="energy" in needed))
    return CostSuite(models)


def front_of(entries: list[dict[str, Any]], costs: list[str]) -> tuple[list[int], float, list[float], list[str]]:
    """Pareto indices and hypervolume over (error, costs...), reference point stated alongside."""
    fields = ["error"] + [get_objective(c).field for c in costs]
    points = [[1.0 - e["objectives"]["accuracy"]] + [e["objectives"][f] for f in fields[1:]] for e in entries]
    reference = [1.0] + [1.1 * max(p[i] for p in points) for i in range(1, len(fields))]
    return pareto_front(points), hypervolume(points, reference), reference, fields


def write_result(out: Path, cfg: SearchConfig, prefs: list[Preference], entries: list[dict[str, Any]],
                 seconds: float, cost_seconds: float | None = None,
                 scoring_seconds: float | None = None) -> dict[str, Any]:
    front, hv, reference, fields = front_of(entries, rewarded_costs(prefs) or ["params"])
    result = {
        "format": RESULT_FORMAT,
        "config": cfg.to_dict(),
        "reward": [p.to_dict() for p in prefs],
        "genotypes": entries,
        "pareto": front,
        "hypervolume": {"value": hv, "objectives": fields, "reference": reference,
                        "note": "all objectives minimised; error = 1 - accuracy (its source: genotypes[].sources)"},
        "search_seconds": seconds,
        "cost_model_seconds": cost_seconds,  # time inside the cost model (this process; a resume restarts it)
        "scoring_seconds": scoring_seconds,  # short trainings of the derived genotypes (derive.evaluate: train)
    }
    atomic.write_json(out / RESULT_NAME, result)
    return result


def run_search(cfg: SearchConfig, out: str | Path, resume: bool = False, progress: bool = True,
               costs: CostSuite | None = None, data: Any = None, stop_after_epochs: int | None = None,
               echo: Callable[[str], None] = print) -> dict[str, Any] | None:
    """Search, derive and score one genotype per preference, and write the run folder.

    Args:
        cfg: the validated search configuration (``load_search_config``).
        out: run folder; it gets result.json, log.jsonl, checkpoint.pt, config.yaml and pareto.png.
        resume: continue from ``out``'s checkpoint (refused if the settings differ).
        progress: show a progress bar.
        costs: cost models to use instead of those the config names (tests, custom models).
        data: dataset splits to use instead of loading ``cfg.dataset``.
        stop_after_epochs: stop after this many epochs and return None (simulates an interruption).
        echo: where the header and summary table are printed.

    Returns:
        The contents of result.json, or None when stopped early.
    """
    out = Path(out)
    open_run_folder(out, resume, "checkpoint.pt", (RESULT_NAME,), "search")
    prefs = cfg.resolve_preferences()
    if data is None:
        data = load_dataset(cfg.dataset, cfg.data_dir, seed=cfg.seed)
    costs = costs if costs is not None else build_costs(cfg, prefs)
    out.mkdir(parents=True, exist_ok=True)
    atomic.write_text(out / "config.yaml", yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    search = ProgressiveSearch(cfg, prefs, data, costs, out, resume=resume, progress=progress)
    echo(f"tnd search '{cfg.name}': {cfg.dataset}, {len(cfg.stages)} stages "
         f"({'/'.join(str(s.cells) for s in cfg.stages)} cells, "
         f"{'/'.join(str(s.ops) for s in cfg.stages)} ops per edge), weights on the {cfg.weights.mode} path")
    for p in prefs:
        echo(f"  preference {p.name}: {p.spec.describe()}")
    t0 = time.perf_counter()
    outcome = search.run(stop_after_epochs=stop_after_epochs)
    if outcome is None:
        return None
    search_seconds = time.perf_counter() - t0
    if cfg.derive.evaluate == "train":
        rescore_by_training(cfg, data, outcome.entries, out, progress=progress, echo=echo)
    result = write_result(out, cfg, prefs, outcome.entries, search_seconds, cost_seconds=search.cost_seconds,
                          scoring_seconds=time.perf_counter() - t0 - search_seconds)
    plot_path = plot_front(result, out / "pareto.png")
    echo(summary_table(result))
    echo(f"results: {out / 'result.json'}, plot: {plot_path}, log: {out / 'log.jsonl'}")
    return result


def summary_table(result: dict[str, Any]) -> str:
    entries = result["genotypes"]
    fields = ["params", "flops"] + [f for f in ("latency_ms", "energy_mj") if any(f in e["objectives"] for e in entries)]
    header = ["#", "preference", "val acc", *fields, "pareto"]
    rows = []
    for i, e in enumerate(entries):
        obj, src = e["objectives"], e["sources"]
        rows.append([str(i), e["preference"]["name"], f"{obj['accuracy']:.4f}",
                     *[by_field(f).format(obj.get(f), src.get(f)) for f in fields],
                     "*" if i in result["pareto"] else ""])
    widths = [max(len(h), *(len(r[k]) for r in rows)) for k, h in enumerate(header)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths))  # noqa: E731
    out = ["", line(header), line(["-" * w for w in widths])] + [line(r) for r in rows]
    source = entries[0]["sources"]["accuracy"] if entries else ""
    if source.startswith("trained-"):
        epochs = source.split("-")[1]
        out.append(f"val acc: each derived network trained {epochs} epochs from scratch, accuracy on the validation "
                   "split (same recipe for all); train it fully with `tnd train` for the real figure.")
    else:
        out.append("val acc: supernet validation accuracy of the derived cell (shared weights), a proxy; "
                   "train it with `tnd train` for the real figure.")
    for i, e in enumerate(entries):
        out.append(f"[{i}] {Genotype.from_dict(e['genotype'])}")
    hv = result["hypervolume"]
    out.append(f"hypervolume {hv['value']:.4g} over ({', '.join(hv['objectives'])}), reference "
               f"({', '.join(f'{r:.4g}' for r in hv['reference'])})")
    return "\n".join(out)
