"""One `tnd search` run end to end: data, cost models, the search, and the files a user reads after."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import yaml

from tnd import atomic, distributed
from tnd.compute import describe_compute
from tnd.costs import CostSuite
from tnd.costs.objectives import by_field, get_objective
from tnd.errors import TndError
from tnd.data import load_dataset
from tnd.result_file import RESULT_FORMAT, RESULT_NAME
from tnd.run_folder import open_run_folder
from tnd.search.conditioned_supernet import ConditionedSupernetSearch, conditioned_preference
from tnd.search.config import SearchConfig
from tnd.search.cost_range import ERROR_RANGE, ERROR_SOURCE, CostRange
from tnd.search.local_search import RECORD_KEY
from tnd.search.lut_source import table_path
from tnd.search.normalised_hv import ObjectiveRange, normalised_hypervolume
from tnd.search.pareto import hypervolume, pareto_front
from tnd.search.plots import plot_front
from tnd.search.progressive import ProgressiveSearch
from tnd.search.rescore import rescore_by_training
from tnd.search.plan_report import describe_plan
from tnd.search.reward import Preference, equivalence_message, targets_only_hint
from tnd.search.spaces import get_space


def searched_preferences(cfg: SearchConfig) -> tuple[list[Preference], list[Preference]]:
    """(the whole series, the members this run searches). A conditioned search has one policy for the whole
    front: one pseudo-member whose reward names the objectives its preferences weigh."""
    if cfg.strategy == "conditioned":
        prefs = [conditioned_preference(cfg)]
        return prefs, prefs
    return cfg.resolve_preferences(), cfg.run_preferences()


def new_search(cfg: SearchConfig, series: list[Preference], prefs: list[Preference], data: Any, costs: CostSuite,
               out: Path, ranges: dict[str, CostRange] | None = None,
               **kwargs: Any) -> tuple[ProgressiveSearch, list[str]]:
    """The search the strategy runs, and the warnings about its settings. ``ranges``: the hypervolume's cost
    ranges, which the conditioned search also normalises its rewards on (one source for both)."""
    if cfg.strategy == "conditioned":
        search = ConditionedSupernetSearch(cfg, data, costs, out, ranges=ranges, **kwargs)
        return search, search.warnings()
    search = ProgressiveSearch(cfg, prefs, data, costs, out, **kwargs)
    return search, [w for w in (equivalence_message(series), targets_only_hint(series)) if w]


def rewarded_costs(prefs: list[Preference]) -> list[str]:
    """Every cost some member of the series rewards, in the order they are first named."""
    return list(dict.fromkeys(c for p in prefs for c in p.spec.costs))


def build_costs(cfg: SearchConfig, prefs: list[Preference]) -> CostSuite:
    """Counting costs always; a lookup-table cost model when the reward needs latency or energy (the space's)."""
    return CostSuite(cfg.search_space().cost_models(cfg, set(rewarded_costs(prefs))))


def hypervolume_ranges(cfg: SearchConfig, costs: CostSuite, names: list[str]) -> dict[str, CostRange]:
    """Each cost's stated range: ``derive.hv_range`` where given, else the cheapest and dearest derivable network.
    The hypervolume's, and the conditioned search's fixed reward ranges (``ConditionedSupernetSearch``)."""
    return cfg.search_space().cost_ranges(cfg, costs, names)


def front_of(entries: list[dict[str, Any]], costs: list[str], ranges: dict[str, CostRange]) -> dict[str, Any]:
    """Pareto indices and hypervolume over (error, costs...), all minimised.

    Comparable across runs: each objective is scaled to [0, 1] over a stated range (error over [0, 1], each
    cost over ``ranges``) and the reference point is (1, ..., 1), as MODNAS does; the raw figure (reference:
    error 1 and each range's upper end) is reported beside it. A dominated member changes neither."""
    fields = ["error"] + [get_objective(c).field for c in costs]
    lower = [ERROR_RANGE[0]] + [ranges[c].lower for c in costs]
    upper = [ERROR_RANGE[1]] + [ranges[c].upper for c in costs]
    source = {"error": ERROR_SOURCE,
              **{get_objective(c).field: ranges[c].to_dict() for c in costs}}
    return front_over(entries, fields, lower, upper, source)


def front_over(entries: list[dict[str, Any]], fields: list[str], lower: list[float], upper: list[float],
               range_source: dict[str, Any]) -> dict[str, Any]:
    """``front_of`` over stated objective fields and ranges (``tnd result merge`` reuses a result's own)."""
    points = [[1.0 - e["objectives"]["accuracy"]] + [e["objectives"][f] for f in fields[1:]] for e in entries]
    objective_range = ObjectiveRange(tuple(lower), tuple(upper))
    outside = [i for i, p in enumerate(points) if any(not lo <= v <= hi for v, lo, hi in zip(p, lower, upper))]
    return {
        "pareto": pareto_front(points),
        "hypervolume": {
            "value": normalised_hypervolume(points, objective_range) if points else 0.0,
            "objectives": fields,
            "reference": [1.0] * len(fields),
            "range": {f: [lo, hi] for f, lo, hi in zip(fields, lower, upper)},
            "range_source": range_source,
            "raw": {"value": hypervolume(points, upper), "reference": upper},
            "outside_range": outside,
            "note": "all objectives minimised; value: normalised to [0, 1] over 'range' with reference (1, ..., 1); "
                    "raw: in the objectives' units with reference at each range's upper end (error = 1 - accuracy, "
                    "its source: genotypes[].sources); members in 'outside_range' count for nothing",
        },
    }


COLLAPSED_SHARE = 0.01   # members spanning at most this share of every cost's range are one point


def result_record(config: dict[str, Any], reward: list[dict[str, Any]], entries: list[dict[str, Any]],
                  seconds: float, ranges: dict[str, CostRange], cost_seconds: float | None = None,
                  scoring_seconds: float | None = None, warnings: list[str] | None = None,
                  **extra: Any) -> dict[str, Any]:
    """result.json's contents (one layout for searches, merges and derives): the members, their front and
    normalised hypervolume over ``ranges``, timings, warnings, and ``extra`` top-level records."""
    return {
        "format": RESULT_FORMAT,
        "config": config,
        "reward": reward,
        "genotypes": entries,
        **front_of(entries, list(ranges), ranges),
        "search_seconds": seconds,
        "cost_model_seconds": cost_seconds,  # time inside the cost model (this process; a resume restarts it)
        "scoring_seconds": scoring_seconds,  # short trainings of the derived genotypes (derive.evaluate: train)
        # about the series as a whole (each member has its own)
        "warnings": list(warnings or []) + [w for w in (collapsed_front_warning(entries, ranges),) if w],
        **extra,
    }


def collapsed_front_warning(entries: list[dict[str, Any]], ranges: dict[str, CostRange],
                            share: float = COLLAPSED_SHARE) -> str | None:
    """A warning when the members do not spread in any cost: each cost of the hypervolume's ranges spans at
    most ``share`` of its range over the members. Neighbouring preferences sharing a network is normal; all
    of them on one cost is a conditioned policy that collapsed (its shared weights settled on one path, or a
    few of the same cost, for every preference; design notes, issue 14) or a series whose rewards do not
    separate, and the user should not read it as a front. Members a cost model placed alone (a conditioned
    run's cost-only end, with a ``local_search`` record) are left out: they spread from the rest whatever the
    policy learned, so they would hide its collapse."""
    climbed = [e for e in entries if RECORD_KEY in e]
    entries = [e for e in entries if RECORD_KEY not in e]
    if len(entries) < 2 or not ranges:
        return None
    spans = []
    for c, r in ranges.items():
        field = get_objective(c).field
        values = [e["objectives"].get(field) for e in entries]
        if any(v is None for v in values) or r.upper <= r.lower:
            return None
        if max(values) - min(values) > share * (r.upper - r.lower):
            return None
        spans.append(f"{field} {min(values):.4g}-{max(values):.4g} of the range {r.lower:.4g}-{r.upper:.4g}")
    names = ", ".join(e["preference"]["name"] for e in entries)
    aside = (f" (not counting {', '.join(e['preference']['name'] for e in climbed)}, placed by the cost model "
             "alone)" if climbed else "")
    return (f"the {len(entries)} members (preferences {names}) do not spread: {'; '.join(spans)} (at most "
            f"{share:.0%} of each range){aside}. The run found one point, not a front. A conditioned supernet "
            "search that does this has collapsed (every preference settled on networks of one cost); run it with "
            "another seed, or search a per-preference series (--strategy tnd), whose members each train their own "
            "supernet")


def write_result(out: Path, cfg: SearchConfig, prefs: list[Preference], entries: list[dict[str, Any]],
                 seconds: float, ranges: dict[str, CostRange], cost_seconds: float | None = None,
                 scoring_seconds: float | None = None, warnings: list[str] | None = None,
                 run: dict[str, Any] | None = None, conditioned: dict[str, Any] | None = None,
                 write: bool = True) -> dict[str, Any]:
    # run: where it computed (compute device, mixed precision) and whose costs it optimised;
    # conditioned (strategy conditioned): what `tnd derive` rebuilds f from
    extra = {k: v for k, v in (("run", run), ("conditioned", conditioned)) if v is not None}
    result = result_record(cfg.to_dict(), [p.to_dict() for p in prefs], entries, seconds, ranges, cost_seconds,
                           scoring_seconds, warnings, **extra)
    if write:
        atomic.write_json(out / RESULT_NAME, result)
    return result


def run_search(cfg: SearchConfig, out: str | Path, resume: bool = False, progress: bool = True,
               costs: CostSuite | None = None, data: Any = None, stop_after_epochs: int | None = None,
               echo: Callable[[str], None] = print, tensorboard: str | Path | None = None,
               preemptible: bool = False) -> dict[str, Any] | None:
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
        tensorboard: also log the epoch and alpha records (loss, entropy, reward, baseline, accuracy, costs)
            to TensorBoard in this folder; log.jsonl stays the source of truth.
        preemptible: turn SIGTERM into a checkpoint at the next step and ``tnd.preemption.Preempted``
            (the command that owns the process sets it; the handler is process-wide).

    Returns:
        The contents of result.json, or None when stopped early.

    Under torchrun (the caller joined the process group, see ``tnd.cli.search``) every rank calls this with the
    same arguments; they train one search data-parallel (``ProgressiveSearch``) and rank 0 alone writes files
    and prints. ``derive.evaluate: train`` is refused there (the rescoring trainings are not split).
    """
    out = Path(out)
    main = distributed.is_main()
    if distributed.world_size() > 1 and cfg.derive.evaluate == "train":
        raise TndError("derive.evaluate: train is not run under torchrun (its short trainings are not split over "
                       "processes); search with derive.evaluate: supernet, then train the result with `tnd train`")
    if not main:
        echo, progress = (lambda s: None), False
    _, resume = open_run_folder(out, resume, "checkpoint.pt", (RESULT_NAME,), "search")
    distributed.barrier()   # every rank has seen the folder as it was before rank 0 writes into it
    # The whole series gives the cost models, the hypervolume ranges and the series' warnings, so that one
    # member run alone (cfg.member, `--member`) is costed and ranged exactly as inside the series.
    series, prefs = searched_preferences(cfg)
    if data is None:
        data = load_dataset(cfg.dataset, cfg.data_dir, seed=cfg.seed)
    costs = costs if costs is not None else build_costs(cfg, series)
    if main:
        out.mkdir(parents=True, exist_ok=True)
        atomic.write_text(out / "config.yaml", yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    # Before the search, so that a range the cost model cannot give stops the run at once, not after it (the
    # conditioned search normalises its rewards on the same ranges).
    costs.require(rewarded_costs(series))   # (a missing cost model named as the search would name it)
    ranges = hypervolume_ranges(cfg, costs, rewarded_costs(series) or ["params"])
    search, warnings = new_search(cfg, series, prefs, data, costs, out, ranges=ranges, resume=resume,
                                  progress=progress, tensorboard=tensorboard, preemptible=preemptible)
    echo(f"tnd search '{cfg.name}': {cfg.dataset}, {len(cfg.stages)} stages "
         f"({'/'.join(str(s.cells) for s in cfg.stages)} cells, "
         f"{'/'.join(str(s.ops) for s in cfg.stages)} ops per edge), weights on the {cfg.weights.mode} path")
    echo(f"  compute: {describe_compute(search.device)}, mixed precision {search.amp.describe()}; "
         f"hardware whose costs are optimised: {hardware_of(cfg, series)}")
    if cfg.member is not None:
        echo(f"  member {cfg.member} only ({len(series)} in the series; join the members' runs with "
             "`tnd result merge`)")
    for p in prefs:
        echo(f"  preference {p.name}: {p.spec.describe()}")
    for w in warnings:
        echo(f"  WARNING: {w}")
    t0 = time.perf_counter()
    outcome = search.run(stop_after_epochs=stop_after_epochs)
    if outcome is None:
        return None
    search_seconds = time.perf_counter() - t0
    if cfg.derive.evaluate == "train":
        rescore_by_training(cfg, data, outcome.entries, out, progress=progress, echo=echo)
    scoring_seconds = time.perf_counter() - t0 - search_seconds
    result = write_result(out, cfg, prefs, outcome.entries, search_seconds, ranges, cost_seconds=search.cost_seconds,
                          scoring_seconds=scoring_seconds, warnings=warnings,
                          run={"compute": str(search.device), "compute_name": describe_compute(search.device),
                               "amp": search.amp.to_dict(), "hardware": hardware_of(cfg, series),
                               **({"processes": distributed.world_size()} if distributed.world_size() > 1 else {})},
                          conditioned=outcome.conditioned, write=main)
    if not main:
        distributed.barrier()   # leave when rank 0 has written its files
        return result
    plot_path = plot_front(result, out / "pareto.png")
    echo(summary_table(result))
    for w in result["warnings"][len(warnings):]:   # those about the members (the settings' were echoed above)
        echo(f"WARNING: {w}")
    echo(f"results: {out / 'result.json'}, plot: {plot_path}, log: {out / 'log.jsonl'}")
    distributed.barrier()
    return result


def hardware_of(cfg: SearchConfig, prefs: list[Preference]) -> str:
    """The hardware whose costs the reward reads (its lookup table), or that there is none (counted costs)."""
    if not {"latency", "energy"} & set(rewarded_costs(prefs)):
        return "none measured (the reward reads counted costs only)"
    return str(table_path(cfg))


def plan_search(cfg: SearchConfig, costs: CostSuite | None = None) -> str:
    """`tnd search --dry-run`: the resolved plan (stages, op sets, rewards, the cheapest and dearest network,
    the work) as text; loads the cost models the search would, trains nothing, writes nothing."""
    prefs = searched_preferences(cfg)[0]
    return describe_plan(cfg, prefs, costs if costs is not None else build_costs(cfg, prefs))


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
    space = get_space(result["config"].get("space", "darts"))
    for i, e in enumerate(entries):
        out.append(f"[{i}] {space.describe(e['genotype'])}")
    for i, e in enumerate(entries):
        if RECORD_KEY in e:
            climb = e[RECORD_KEY]
            out.append(f"[{i}] placed by the cost model alone (its preference gives accuracy no weight): "
                       f"{climb['steps']} single changes from the policy's choice, reward "
                       f"{climb['reward_before']:.4f} -> {climb['reward_after']:.4f}")
    out.append(hypervolume_line(result["hypervolume"]))
    return "\n".join(out)


def hypervolume_line(hv: dict[str, Any]) -> str:
    ranges = ", ".join(f"{f} over [{lo:.4g}, {hi:.4g}]" for f, (lo, hi) in hv["range"].items())
    raw = hv["raw"]
    line = (f"hypervolume {hv['value']:.4f} (normalised: {ranges}; reference (1, ..., 1)); raw {raw['value']:.4g} "
            f"with reference ({', '.join(f'{r:.4g}' for r in raw['reference'])})")
    if hv["outside_range"]:
        line += f"; members {hv['outside_range']} lie outside the range and count for nothing"
    return line
