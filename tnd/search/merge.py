"""`tnd result merge`: join finished runs of members of one series (`tnd search --member`) into one result.

A series run as a SLURM array leaves one run folder per member. Each holds a complete result.json whose
config is the whole series with ``member`` naming the one it ran; the runs are joined when their configs
agree in everything but ``member``. The merged file has the same format as a whole series' result.json: the
members in the series' order, the Pareto front and the normalised hypervolume recomputed over the union with
the ranges the runs share (derived from the config and cost model, never from the members, so they are the
same in every member's run and in the whole series' run).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from tnd import atomic
from tnd.errors import TndError
from tnd.result_file import RESULT_NAME, load_result

MEMBER_KEY = "member"   # the one config key member runs of one series may differ in


def result_path(run: str | Path) -> Path:
    """A run folder's result.json, or the file itself."""
    p = Path(run)
    if p.is_dir():
        p = p / RESULT_NAME
        if not p.is_file():
            raise TndError(f"{run} holds no {RESULT_NAME}; give finished run folders or their result.json files")
    return p


def first_difference(a: Any, b: Any, where: str = "") -> str | None:
    """The dotted key (or index) where two JSON values first differ, '' for the top; None when equal."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in list(a) + [k for k in b if k not in a]:
            if k not in a or k not in b:
                return f"{where}{k}"
            d = first_difference(a[k], b[k], f"{where}{k}.")
            if d is not None:
                return d
        return None
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            d = first_difference(x, y, f"{where}{i}.")
            if d is not None:
                return d
        return None
    return None if a == b else (where.rstrip(".") or "(the whole value)")


def series_names(config: dict[str, Any]) -> list[str]:
    return [p["name"] for p in config.get("preferences") or []] or ["default"]


def _without_member(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k != MEMBER_KEY}


def merge_results(runs: list[str | Path], out: str | Path) -> dict[str, Any]:
    """Join the runs' members into ``out``/result.json (and pareto.png); returns the merged result.

    Refused, before anything is written: a run that is not a finished search result, runs whose configs
    differ other than in ``member`` (the key is named), a member given twice, and an ``out`` that already
    holds a result."""
    from tnd.search.plots import plot_front
    from tnd.search.run import front_over

    out = Path(out)
    if (out / RESULT_NAME).exists():
        raise TndError(f"{out} already holds a {RESULT_NAME}; choose another --out (merge never overwrites)")
    if not runs:
        raise TndError("tnd result merge: give at least one run folder or result.json")
    loaded = [(str(r), load_result(result_path(r))) for r in runs]
    first_run, first = loaded[0]
    base = _without_member(first["config"])
    hv0 = first["hypervolume"]
    for run, result in loaded[1:]:
        key = first_difference(base, _without_member(result["config"]))
        if key is not None:
            raise TndError(f"{run}: its config differs from {first_run}'s at '{key}'; merge only runs of members "
                           "of one series (the same config and flags, differing in --member alone)")
        for field in ("objectives", "range"):
            if result["hypervolume"][field] != hv0[field]:
                raise TndError(f"{run}: its hypervolume {field} differs from {first_run}'s although the configs "
                               "agree (a different cost table?); rerun the members against the same files")
    names = series_names(first["config"])
    owner: dict[str, str] = {}
    entries: dict[str, dict[str, Any]] = {}
    rewards: dict[str, dict[str, Any]] = {}
    for run, result in loaded:
        by_name = {r["name"]: r for r in result.get("reward", [])}
        for e in result["genotypes"]:
            name = e["preference"]["name"]
            if name in owner:
                raise TndError(f"member '{name}' is in both {owner[name]} and {run}; give each member's run once")
            if name not in names:
                raise TndError(f"{run}: member '{name}' is not in the series ({', '.join(names)})")
            owner[name], entries[name] = run, e
            rewards[name] = by_name.get(name, e["preference"])
    order = [n for n in names if n in entries]
    missing = [n for n in names if n not in entries]
    merged_entries = [entries[n] for n in order]
    warnings = list(dict.fromkeys(w for _, r in loaded for w in r.get("warnings", [])))
    if missing:
        warnings.append(f"merged {len(order)} of the series' {len(names)} members; missing: {', '.join(missing)}")

    def total(key: str) -> float | None:
        values = [r.get(key) for _, r in loaded]
        return None if any(v is None for v in values) else sum(values)

    fields = hv0["objectives"]
    lower = [hv0["range"][f][0] for f in fields]
    upper = [hv0["range"][f][1] for f in fields]
    config = copy.deepcopy(first["config"])
    config[MEMBER_KEY] = None
    result = {
        "format": first["format"],
        "config": config,
        "reward": [rewards[n] for n in order],
        "genotypes": merged_entries,
        **front_over(merged_entries, fields, lower, upper, copy.deepcopy(hv0["range_source"])),
        "search_seconds": total("search_seconds"),       # summed over the member runs (machine time)
        "cost_model_seconds": total("cost_model_seconds"),
        "scoring_seconds": total("scoring_seconds"),
        "warnings": warnings,
        # each run's own record: which members, where it computed and whose costs it optimised
        "merged_from": [{"run": run, "members": [e["preference"]["name"] for e in r["genotypes"]],
                         **({"where": r["run"]} if "run" in r else {})} for run, r in loaded],
    }
    out.mkdir(parents=True, exist_ok=True)
    atomic.write_json(out / RESULT_NAME, result)
    plot_front(result, out / "pareto.png")
    return result
