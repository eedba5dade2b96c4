"""The demo search (`configs/search/demo.yaml`, latency reward): wall time, the cost model's share, and
whether TND-NAS beats random search with weight sharing at equal budget, over seeds.

Three parts, each a real `tnd search` run through ``run_search`` / ``run_seeds``:
1. timing: one run of the demo series (3 members), the cost model's share of its time;
2. TND-NAS vs ``strategy: random`` (the same supernet schedule on uniform samples, then as many uniform
   samples scored as the policy scored, the best by the member's reward kept), seeds 0-2 by default:
   each member's trained accuracy (``derive.evaluate: train``) and latency, mean +- sd, and the series'
   normalised hypervolume;
3. targets alone: a series whose members differ only in their latency target (same exponent; the absolute
   form by default, ``--targets-form mnas`` for MnasNet's), per seed: are the derived latencies ordered by target, and does each derived latency lie within the
   final policy's sampled range?

Run: python benchmarks/bench_search.py [--quick] [--seeds 0,1,2] [--strategies-only | --targets-only]
(``--quick``: one member, one seed, part 1 only.)
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TARGETS_MS = (0.10, 0.18, 0.28)   # part 3's latency targets (the derivable range is 0.064-0.367 ms); --targets
# part 3's reward forms: the exponent every member shares, and how the heading names it
TARGET_FORMS = {"absolute": ({"latency": -0.5}, "absolute form, weight -0.5"),
                "mnas": ({"latency": {"below": -0.07, "above": -1.0}}, "mnas form, exponents -0.07 below / -1 above")}


def _quiet(_: str) -> None:
    pass


def demo_config(overrides: dict[str, Any] | None = None):
    from tnd.search.config import load_search_config

    return load_search_config(str(ROOT / "configs" / "search" / "demo.yaml"),
                              {"cost.lut": str(ROOT / "lut" / "cpu.json"), **(overrides or {})})


def timing(quick: bool) -> tuple[list[str], dict[str, Any]]:
    from tnd.search.run import run_search

    cfg = demo_config({"preferences": []} if quick else None)
    r = run_search(cfg, Path(tempfile.mkdtemp()) / "search", progress=False, echo=_quiet)
    total, cost, scoring = r["search_seconds"], r["cost_model_seconds"], r["scoring_seconds"]
    return ["### Wall time and the cost model's share (one run, seed 0)", "",
            "| members | search s | cost model s | cost model share | then scoring the derived s |",
            "|---|---|---|---|---|",
            f"| {len(r['genotypes'])} | {total:.1f} | {cost:.3f} | {cost / total:.2%} | {scoring:.1f} |", "",
            "The cost model sums table entries over a sampled network's parts (cached per architecture); it is "
            "negligible next to training the supernet. Scoring trains each derived genotype for 10 epochs "
            "(`derive.evaluate: train`)."], r


def strategies(seeds: list[int]) -> tuple[list[str], dict[str, Any]]:
    """TND-NAS and the random baseline on the demo series, every seed; one summary per strategy."""
    from tnd.search.run import run_search
    from tnd.search.seeds import run_seeds

    summaries, seconds = {}, {}
    for strategy in ("tnd", "random"):
        t0 = time.perf_counter()
        summaries[strategy] = run_seeds(demo_config({"strategy": strategy}), seeds,
                                        Path(tempfile.mkdtemp()) / strategy, run_search, progress=False, echo=_quiet)
        seconds[strategy] = time.perf_counter() - t0
    lines = [f"### TND-NAS vs random search at equal budget (seeds {', '.join(map(str, seeds))})", "",
             "Each member's derived network trained for 10 epochs from scratch (accuracy on the validation split) "
             "and its latency from lut/cpu.json (measured, batch 1); mean +- sd over seeds. Random: the same "
             "supernet schedule trained on uniform samples, no shrinking, then as many uniform samples scored as "
             "the policy scores, the best by the member's reward kept.", "",
             "| member | strategy | accuracy | latency ms | accuracy per seed | latency ms per seed |",
             "|---|---|---|---|---|---|"]
    members = list(summaries["tnd"]["members"])
    for name in members:
        for strategy, s in summaries.items():
            m = s["members"][name]
            acc, lat = m["accuracy"], m[_latency_field(m)]
            lines.append(f"| {name} | {strategy} | {acc['mean']:.4f} +- {acc['sd']:.4f} | "
                         f"{lat['mean']:.4f} +- {lat['sd']:.4f} | "
                         f"{', '.join(f'{a:.3f}' for a in acc['per_seed'])} | "
                         f"{', '.join(f'{v:.4f}' for v in lat['per_seed'])} |")
    lines += ["", "| strategy | normalised HV of the series | HV per seed | wall s (all seeds) |", "|---|---|---|---|"]
    for strategy, s in summaries.items():
        hv = s["hypervolume"]
        lines.append(f"| {strategy} | {hv['mean']:.4f} +- {hv['sd']:.4f} | "
                     f"{', '.join(f'{v:.4f}' for v in hv['per_seed'])} | {seconds[strategy]:.0f} |")
    lines += ["", verdict(summaries)]
    return lines, summaries


def _latency_field(member: dict[str, Any]) -> str:
    """The latency objective's field in a seeds summary (its unit is in the name: latency_ms)."""
    return next(f for f in member if f.startswith("latency"))


def verdict(summaries: dict[str, Any]) -> str:
    """Plainly: does TND-NAS beat random here, member by member and on the hypervolume, beyond one sd?"""
    t, r = summaries["tnd"], summaries["random"]
    hv_t, hv_r = t["hypervolume"], r["hypervolume"]
    spread = max(hv_t["sd"], hv_r["sd"])
    if hv_t["mean"] - hv_r["mean"] > spread:
        hv = f"TND-NAS's hypervolume is ahead of random's by more than one sd ({hv_t['mean']:.4f} vs {hv_r['mean']:.4f})"
    elif hv_r["mean"] - hv_t["mean"] > spread:
        hv = f"random's hypervolume is ahead of TND-NAS's by more than one sd ({hv_r['mean']:.4f} vs {hv_t['mean']:.4f})"
    else:
        hv = (f"the hypervolumes are within one sd of each other ({hv_t['mean']:.4f} vs {hv_r['mean']:.4f}, "
              f"sd up to {spread:.4f}): TND-NAS does not clearly beat random here")
    dominated = []
    for name, m in t["members"].items():
        q = r["members"][name]
        lat = _latency_field(m)
        better_acc = m["accuracy"]["mean"] >= q["accuracy"]["mean"]
        faster = m[lat]["mean"] <= q[lat]["mean"]
        dominated.append(f"{name}: " + ("tnd dominates" if better_acc and faster else
                                        "random dominates" if not better_acc and not faster else "a trade-off"))
    return (f"Verdict: {hv}. Per member (means): {'; '.join(dominated)}. On digits every network scores within a "
            "few points, so accuracy differences of the order of the sd are noise.")


def targets_alone(seeds: list[int], targets_ms: tuple[float, ...] = TARGETS_MS,
                  form: str = "absolute") -> tuple[list[str], list[Any]]:
    """A series over latency targets alone (same exponents): ordered, and within the policy's range?"""
    from tnd.search.run import run_search

    prefs = [{"name": f"T={t}ms", "targets": {"latency": f"{t}ms"}} for t in targets_ms]
    rows, results = [], []
    for seed in seeds:
        cfg = demo_config({"seed": seed, "preferences": prefs, "reward.form": form,
                           "reward.exponents": TARGET_FORMS[form][0], "derive.evaluate": "supernet"})
        r = run_search(cfg, Path(tempfile.mkdtemp()) / f"targets-{seed}", progress=False, echo=_quiet)
        results.append(r)
        derived = [e["targets"]["latency"]["derived"] for e in r["genotypes"]]
        within = [e["targets"]["latency"]["policy_min"] <= e["targets"]["latency"]["derived"]
                  <= e["targets"]["latency"]["policy_max"] for e in r["genotypes"]]
        ordered = all(a <= b for a, b in zip(derived, derived[1:]))
        cells = " | ".join(f"{e['targets']['latency']['derived']:.4f} "
                           f"[{e['targets']['latency']['policy_min']:.4f}, "
                           f"{e['targets']['latency']['policy_max']:.4f}]" for e in r["genotypes"])
        rows.append(f"| {seed} | {cells} | {'yes' if ordered else '**no**'} | {sum(within)}/{len(within)} |")
    n_ordered = sum("| yes |" in row for row in rows)
    head = " | ".join(f"T = {t} ms: derived [policy range]" for t in targets_ms)
    return ([f"### A series over targets alone ({TARGET_FORMS[form][1]}, seeds "
             f"{', '.join(map(str, seeds))})", "",
             "Members differ only in their latency target. Derived = the deployed network's latency from the table; "
             "policy range = min and max over 64 samples of the final policy.", "",
             f"| seed | {head} | ordered by target | derived within the policy's range |",
             "|---|" + "---|" * len(targets_ms) + "---|---|", *rows, "",
             f"Derived latencies ordered by target on {n_ordered}/{len(seeds)} seeds."], results)


def run(quick: bool = False, seeds: list[int] | None = None, parts: tuple[str, ...] = ("timing", "strategies",
                                                                                        "targets"),
        targets_ms: tuple[float, ...] = TARGETS_MS, targets_form: str = "absolute") -> str:
    seeds = seeds or [0, 1, 2]
    if parts == ("targets",):
        return "\n".join(targets_alone(seeds, targets_ms, targets_form)[0])
    if parts == ("strategies",):
        return "\n".join(strategies(seeds)[0])
    lines = ["## Demo search (digits, 3 stages, reward acc x latency from lut/cpu.json, 2 CPU cores)", ""]
    part, _ = timing(quick)
    lines += part
    if not quick:
        part, _ = strategies(seeds)
        lines += [""] + part
        part, _ = targets_alone(seeds)
        lines += [""] + part
    return "\n".join(lines)


if __name__ == "__main__":
    from tnd.search.seeds import parse_seeds

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one member, one seed, the timing part only")
    ap.add_argument("--seeds", default="0,1,2", help="seeds of parts 2 and 3")
    ap.add_argument("--targets-only", action="store_true", help="part 3 alone (the series over targets)")
    ap.add_argument("--strategies-only", action="store_true", help="part 2 alone (TND-NAS vs random)")
    ap.add_argument("--targets", default=",".join(map(str, TARGETS_MS)), help="part 3's latency targets in ms")
    ap.add_argument("--targets-form", choices=tuple(TARGET_FORMS), default="absolute", help="part 3's reward form")
    args = ap.parse_args()
    print(run(args.quick, parse_seeds(args.seeds), ("targets",) if args.targets_only else
              ("strategies",) if args.strategies_only else ("timing", "strategies", "targets"), tuple(float(t) for t in args.targets.split(",")),
              args.targets_form))
