"""One `tnd search` run end to end: data, cost models, the search, and the files a user reads after."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

import yaml

from tnd import atomic
from tnd.costs import CostSuite, CountingCosts
from tnd.errors import TndError
from tnd.search.config import SearchConfig
from tnd.search.pareto import hypervolume, pareto_front
from tnd.search.plots import plot_front
from tnd.search.progressive import COST_FIELDS, ProgressiveSearch, preferences_of

RESULT_FORMAT = "tnd-search-result/1"


def build_costs(cfg: SearchConfig, lut_loader: Callable[[SearchConfig], Any] | None = None) -> CostSuite:
    """Counting costs always; a lookup-table cost model when the reward needs latency or energy."""
    models: list[Any] = [CountingCosts(cfg.target_shape())]
    needed = {c for p in preferences_of(cfg) for c in p.spec.costs}
    if needed & {"latency", "energy"} or cfg.cost.lut:
        if lut_loader is None:
            from tnd.search.lut_source import load_search_lut as lut_loader  # noqa: N813
        models.append(lut_loader(cfg))
    return CostSuite(models)


def front_of(entries: list[dict[str, Any]], costs: list[str]) -> tuple[list[int], float, list[float], list[str]]:
    """Pareto indices and hypervolume over (error, costs...), reference point stated alongside."""
    fields = ["error"] + [COST_FIELDS[c] for c in costs]
    points = [[1.0 - e["objectives"]["accuracy"]] + [e["objectives"][COST_FIELDS[c]] for c in costs]
              for e in entries]
    reference = [1.0] + [1.1 * max(p[i] for p in points) for i in range(1, len(fields))]
    return pareto_front(points), hypervolume(points, reference), reference, fields


def write_result(out: Path, cfg: SearchConfig, entries: list[dict[str, Any]], costs: list[str],
                 seconds: float, cost_seconds: float | None = None,
                 scoring_seconds: float | None = None) -> dict[str, Any]:
    front, hv, reference, fields = front_of(entries, costs)
    result = {
        "format": RESULT_FORMAT,
        "config": cfg.to_dict(),
        "reward": [p.to_dict() for p in preferences_of(cfg)],
        "genotypes": entries,
        "pareto": front,
        "hypervolume": {"value": hv, "objectives": fields, "reference": reference,
                        "note": "all objectives minimised; error = 1 - accuracy (its source: genotypes[].sources)"},
        "search_seconds": seconds,
        "cost_model_seconds": cost_seconds,  # time inside the cost model (this process; a resume restarts it)
        "scoring_seconds": scoring_seconds,  # short trainings of the derived genotypes (derive.evaluate: train)
    }
    atomic.write_json(out / "result.json", result)
    return result


def pareto_costs(cfg: SearchConfig) -> list[str]:
    """The costs a front is drawn over: those any preference rewards, else parameters."""
    named: list[str] = []
    for p in preferences_of(cfg):
        named += [c for c in p.spec.costs if c not in named]
    return named or ["params"]


def run_search(cfg: SearchConfig, out: str | Path, resume: bool = False, progress: bool = True,
               costs: CostSuite | None = None, data=None, stop_after_epochs: int | None = None,
               echo: Callable[[str], None] = print) -> dict[str, Any] | None:
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not resume:
        if (out / "checkpoint.pt").exists() or (out / "result.json").exists():
            raise TndError(f"{out} already holds a search; pass --resume to continue it or choose another --out")
    if data is None:
        from tnd.data import load_dataset

        data = load_dataset(cfg.dataset, cfg.data_dir, seed=cfg.seed)
    costs = costs if costs is not None else build_costs(cfg)
    out.mkdir(parents=True, exist_ok=True)
    atomic.write_text(out / "config.yaml", yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    search = ProgressiveSearch(cfg, data, costs, out, resume=resume, progress=progress)
    echo(f"tnd search '{cfg.name}': {cfg.dataset}, {len(cfg.stages)} stages "
         f"({'/'.join(str(s.cells) for s in cfg.stages)} cells, "
         f"{'/'.join(str(s.ops) for s in cfg.stages)} ops per edge), weights on the {cfg.weights.mode} path")
    for p in search.prefs:
        echo(f"  preference {p.name}: {p.spec.describe()}")
    t0 = time.perf_counter()
    outcome = search.run(stop_after_epochs=stop_after_epochs)
    if outcome is None:
        return None
    search_seconds = time.perf_counter() - t0
    if cfg.derive.evaluate == "train":
        from tnd.search.rescore import rescore_by_training

        rescore_by_training(cfg, data, outcome.entries, out, progress=progress, echo=echo)
    result = write_result(out, cfg, outcome.entries, pareto_costs(cfg), search_seconds,
                          cost_seconds=search.cost_seconds, scoring_seconds=time.perf_counter() - t0 - search_seconds)
    plot_path = plot_front(result, out / "pareto.png")
    echo(summary_table(result))
    echo(f"results: {out / 'result.json'}, plot: {plot_path}, log: {out / 'log.jsonl'}")
    return result


def _fmt(field: str, value: float | None, source: str | None) -> str:
    if value is None:
        return "-"
    mark = " (est.)" if source == "estimated" else (" (pred.)" if source == "predicted" else "")
    if field == "params":
        return f"{value / 1e6:.3f}M{mark}"
    if field == "flops":
        return f"{value / 1e6:.1f}M{mark}"
    if field == "latency_ms":
        return f"{value:.3f} ms{mark}"
    if field == "energy_mj":
        return f"{value:.3f} mJ{mark}"
    return f"{value:.4f}"


def summary_table(result: dict[str, Any]) -> str:
    entries = result["genotypes"]
    fields = ["params", "flops"] + [f for f in ("latency_ms", "energy_mj") if any(f in e["objectives"] for e in entries)]
    header = ["#", "preference", "val acc", *fields, "pareto"]
    rows = []
    for i, e in enumerate(entries):
        obj, src = e["objectives"], e["sources"]
        rows.append([str(i), e["preference"]["name"], f"{obj['accuracy']:.4f}",
                     *[_fmt(f, obj.get(f), src.get(f)) for f in fields], "*" if i in result["pareto"] else ""])
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
        from tnd.space.genotype import Genotype

        out.append(f"[{i}] {Genotype.from_dict(e['genotype'])}")
    hv = result["hypervolume"]
    out.append(f"hypervolume {hv['value']:.4g} over ({', '.join(hv['objectives'])}), reference "
               f"({', '.join(f'{r:.4g}' for r in hv['reference'])})")
    return "\n".join(out)


def load_result(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    try:
        data = json.loads(p.read_text())
    except FileNotFoundError:
        raise TndError(f"result file {p} not found") from None
    except json.JSONDecodeError as e:
        raise TndError(f"{p} is not valid JSON ({e.msg}, line {e.lineno}); was the search interrupted?") from None
    if not isinstance(data, dict) or data.get("format") != RESULT_FORMAT:
        raise TndError(f"{p} is not a tnd search result ({RESULT_FORMAT})")
    return data
