"""``tnd derive RUN``: members of a finished conditioned run, for any preference and any device, in seconds.

The genotypes come from the run's record alone (f's weights, each training device's reference costs):
no supernet, no data, no training, the same cells every time. What they score is then *looked up* in
the run's table where it has the figures (accuracy, and the latency of a training device or of a new
one whose column is named); for a device the table does not hold, the genotypes are written with their
latency "not measured" (export and ``tnd bench`` them).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Sequence

from tnd import atomic
from tnd.data import load_dataset
from tnd.data.tabular import TabularBenchmark
from tnd.errors import TndError
from tnd.lut.reference import ReferenceMeasurements, reference_costs
from tnd.result_file import RESULT_NAME, load_result
from tnd.schema import from_data
from tnd.search.conditioned import parse_preference, preference_input, preference_record
from tnd.search.conditioned_supernet import (ConditionedSupernetSearch, conditioned_preference, placed_by_cost_model,
                                             policy_of)
from tnd.search.conditioned_tabular import FEATURE_COST, derive_members, placed_weights
from tnd.search.config import SearchConfig
from tnd.search.plots import plot_front
from tnd.search.run import build_costs, hypervolume_ranges, result_record
from tnd.search.run import summary_table as supernet_summary
from tnd.search.tabular import scored, summary_table, table_ranges
from tnd.space.nb201 import NB201Arch

DERIVED_NAME = "derived.json"   # genotypes whose costs on the asked device are not known


def conditioned_record(run: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The run's result and its conditioned record; a run of another strategy is refused."""
    result = load_result(Path(run) / RESULT_NAME)
    record = result.get("conditioned")
    if not isinstance(record, dict):
        raise TndError(f"{run} is not a conditioned search (its members are in its result.json already); "
                       "`tnd derive` needs a run of `tnd search --strategy conditioned`")
    return result, record


def weights_of(record: dict[str, Any], preferences: Sequence[str], grid: int | None,
               device: str | None) -> list[tuple[float, ...]]:
    """The members' preferences: those given, or ``--grid K`` placed as the run placed its own members on a
    training ``device`` (``placed_weights``), evenly spread on a new device (``device`` None)."""
    objectives = record["objectives"]
    if preferences and grid is not None:
        raise TndError("give --preference (one member each) or --grid K (K members), not both")
    if preferences:
        return [parse_preference(p, objectives) for p in preferences]
    if grid is not None and grid < 1:
        raise TndError(f"--grid must be at least 1, got {grid}")
    return placed_weights(record, grid or 5, device)


def derive_run(run: str | Path, out: str | Path, preferences: Sequence[str] = (), grid: int | None = None,
               device: str | None = None, features: str | Path | None = None, latency_column: str | None = None,
               plot: bool = True, echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Derive members from ``run`` into ``out`` (result.json, pareto.png; or derived.json when the asked
    device's latency is not in the table). ``device``: a training device; ``features``: a new device's
    reference measurements (``tnd lut reference``), ``latency_column`` its column in the run's table if
    it has one (to score the derived cells)."""
    t0 = time.perf_counter()
    result, record = conditioned_record(run)
    if record.get("kind") == "supernet":
        if device is not None or features is not None or latency_column is not None:
            raise TndError("a supernet run's policy has no device input (it optimised its config's cost model "
                           "alone); leave --device, --device-features and --latency-column out")
        return derive_supernet(run, out, result, record, weights_of(record, preferences, grid, None), plot, echo,
                               t0)
    trained = list(record["devices"])
    multi = bool(record.get("uses_device_features"))
    if features is not None and device is not None:
        raise TndError("give --device (a device the run trained on) or --device-features FILE (a new one), not both")
    if not multi and (features is not None or (device is not None and device not in trained)):
        raise TndError("this run trained on one device, so its policy has no device input; train on several with "
                       "--devices A=COL,B=COL to derive for new devices")
    if latency_column is not None and features is None:
        raise TndError("--latency-column scores a new device's cells; it goes with --device-features")
    weights = weights_of(record, preferences, grid, None if features is not None else device or trained[0])
    if features is not None:
        measured = ReferenceMeasurements.load(features)
        name = measured.device
        cells = derive_members(record, weights, reference_costs=reference_costs(measured, record["reference_archs"]))
    else:
        name = device or trained[0]
        cells = derive_members(record, weights, device=name if multi else None)
    cfg = result["config"]
    costs = dict(cfg["costs"])
    if multi:   # the asked device's latency column (None: the table has none for it)
        costs[FEATURE_COST] = latency_column if features is not None else cfg["devices"][name]
    out = fresh_out(out)
    seconds = time.perf_counter() - t0
    entries_base = [{"genotype": cell.to_dict(), "preference": preference_record(record["objectives"], w, name)}
                    for cell, w in zip(cells, weights)]
    if costs.get(FEATURE_COST, "") is None or not Path(cfg["table"]).is_file():
        why = (f"the run's table {cfg['table']} is not here" if not Path(cfg["table"]).is_file() else
               f"the table has no latency column named for {name} (add --latency-column COLUMN if it has one)")
        derived = {"format": "tnd-derived/1", "run": str(run), "device": name, "genotypes": entries_base,
                   "latency": "not measured", "note": f"{why}; export and `tnd bench` the cells to measure them"}
        atomic.write_json(out / DERIVED_NAME, derived)
        echo("\n".join([f"{len(cells)} member(s) derived for {name} in {seconds * 1e3:.0f} ms (no data, no training); "
                        f"latency not measured: {why}",
                        *(f"  {e['preference']['name']}: {e['genotype']['arch']}" for e in entries_base),
                        f"genotypes: {out / DERIVED_NAME}"]))
        return derived
    bench = TabularBenchmark.load(cfg["table"], cfg["accuracy"], costs, NB201Arch.parse)
    entries = [{**e, **scored(bench.query(cell), {c: c for c in costs})} for e, cell in zip(entries_base, cells)]
    ranges = table_ranges(bench)
    derived = result_record(cfg, [], entries, seconds, ranges, derived_from={
        "run": str(run), "device": name, "zero_shot": features is not None,
        "features": str(features) if features is not None else None, "latency_column": costs.get(FEATURE_COST)})
    atomic.write_json(out / RESULT_NAME, derived)
    plot_path = plot_front(derived, out / "pareto.png") if plot else None
    echo("\n".join([summary_table(derived),
                    f"{len(cells)} member(s) derived for {name} in {seconds * 1e3:.0f} ms from the run's policy (no "
                    f"data, no training); accuracy and costs looked up in {bench.path.name}"]))
    for w in derived["warnings"]:
        echo(f"WARNING: {w}")
    echo(f"results: {out / RESULT_NAME}" + (f", plot: {plot_path}" if plot_path else ""))
    return derived



def fresh_out(out: str | Path) -> Path:
    """``out``, created; refused if an earlier derive wrote there (nothing already written is lost)."""
    out = Path(out)
    for written in (RESULT_NAME, DERIVED_NAME):
        if (out / written).exists():
            raise TndError(f"{out / written} already exists (an earlier derive); pass another --out DIR, or remove it")
    out.mkdir(parents=True, exist_ok=True)
    return out


def derive_supernet(run: str | Path, out: str | Path, result: dict[str, Any], record: dict[str, Any],
                    weights: Sequence[Sequence[float]], plot: bool, echo: Callable[[str], None],
                    t0: float) -> dict[str, Any]:
    """Members of a supernet run: derived from f, each scored through the run's final supernet (its saved
    weights, no training) on the validation split and costed by the run's cost model, as the search scored
    its own. Where that cost model cannot be built here (its lookup table is not on this machine), the
    genotypes are written to derived.json with their costs "not measured"."""
    cfg = from_data(SearchConfig, result["config"], where=f"{run}/{RESULT_NAME} config")
    out = fresh_out(out)
    try:
        costs = build_costs(cfg, [conditioned_preference(cfg)])
    except TndError as e:
        cells, space = policy_of(cfg, record), cfg.search_space()
        entries = [{"genotype": space.arch_to_dict(space.derive(cfg, cells.at(preference_input(w)), [])),
                    "preference": preference_record(record["objectives"], w)} for w in weights]
        for w, entry in zip(weights, entries):
            if placed_by_cost_model(cfg.conditioned, w):
                entry["note"] = ("the policy's choice, not the run's member for this preference: that member is "
                                 "the cost model's local optimum near it (conditioned.exact_cost_ends), and the "
                                 "cost model cannot be built here")
        derived = {"format": "tnd-derived/1", "run": str(run), "genotypes": entries, "accuracy": "not measured",
                   "costs": "not measured", "note": f"the run's cost model cannot be built here ({e}); train and "
                   "`tnd bench` the genotypes to measure them"}
        atomic.write_json(out / DERIVED_NAME, derived)
        echo(f"{len(entries)} genotype(s) derived; accuracy and costs not measured: {e}\ngenotypes: {out / DERIVED_NAME}")
        return derived
    data = load_dataset(cfg.dataset, cfg.data_dir, seed=cfg.seed)
    search = ConditionedSupernetSearch(cfg, data, costs, out, progress=False)
    search.log_path.write_text("")
    entries = search.members(search.final_stage(Path(run), record), weights)
    names = list(conditioned_preference(cfg).spec.costs)
    derived = result_record(result["config"], result["reward"], entries, time.perf_counter() - t0,
                            hypervolume_ranges(cfg, costs, names), search.cost_seconds, derived_from={
                                "run": str(run), "accuracy": "the run's final supernet (saved weights, no "
                                "training), whole validation split", "costs": "the run's cost model"})
    atomic.write_json(out / RESULT_NAME, derived)
    plot_path = plot_front(derived, out / "pareto.png") if plot else None
    echo(supernet_summary(derived))
    for w in derived["warnings"]:
        echo(f"WARNING: {w}")
    echo(f"{len(entries)} member(s) derived in {derived['search_seconds']:.1f} s from the run's policy and supernet "
         "(no training)")
    echo(f"results: {out / RESULT_NAME}" + (f", plot: {plot_path}" if plot_path else ""))
    return derived
