"""``tnd lut validate``: does the table predict whole networks? Rank correlation, error, and a retest.

Random networks of the table's space (DARTS or NB201, told by its shape records) at the widths and depths it covers are predicted from the table, exported
whole and measured with the same provider and threads, twice, in shuffled order. The two passes give
the measurement's own ceiling (test-retest), the yardstick the table's agreement is read against. A
linear calibration (measured ~ intercept + sum over part families of weight x the family's table sum) is
fitted; its error is reported by leave-one-out cross-validation so that it is never scored on the networks
it was fitted to. The weights are shrunk towards 1 within bounds, and each is stored with its bootstrap spread.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from profilers.devices import check_device, detect, load_preset
from profilers import energy as energy_meters
from profilers.latency import time_calls
from tnd import atomic
from tnd.errors import TndError
from tnd.lut.estimate import GROUP_ORDER, NetworkEstimate, calibration_fit, format_fit, leave_one_out
from tnd.lut.runtime import describe, module_model, runtime_name, settings_for_table
from tnd.lut.table import LookupTable
from tnd.progress import Progress
from tnd.space.families import NetworkFamily, family_of_shape


@dataclass
class ValidateRequest:
    lut: str
    samples: int = 30
    seed: int = 0
    out: str | None = None
    repeats: int = 100
    warmup: int = 20
    save_calibration: bool = True
    progress: bool = True
    runtime: str | None = None      # onnxruntime | torch; None: the table's own (another one is refused)


def agreement(predicted: np.ndarray, measured: np.ndarray) -> dict[str, float]:
    from scipy.stats import spearmanr

    err = np.abs(predicted - measured) / measured
    rho = spearmanr(predicted, measured).statistic if len(measured) > 2 else float("nan")
    return {"spearman": float(rho), "mape": float(err.mean()), "within_10pct": float((err <= 0.10).mean()),
            "ratio_mean": float((predicted / measured).mean())}


def sample_networks(table: LookupTable, n: int, seed: int) -> tuple[NetworkFamily, list[tuple[Any, Any]]]:
    """The table's network family and ``n`` random (shape, architecture) pairs, the shapes taken in turn."""
    shapes = table.settings.get("shapes")
    if not shapes:
        raise TndError(f"{table.name()} does not list the network shapes it covers (settings.shapes); rebuild it "
                       "with tools/build_lut.py")
    where = f"{table.name()}: settings.shapes"
    family = family_of_shape(shapes[0], where)
    if any(family_of_shape(record, where) is not family for record in shapes):
        raise TndError(f"{where} mixes {family.name} and other networks' shapes; validate one space per table")
    ops = family.sampled_ops(k.op for k in table.keys())
    rng = random.Random(seed)
    nets = []
    for i in range(n):
        nets.append((family.shape_from_dict(shapes[i % len(shapes)], where), family.random_arch(rng, ops)))
    return family, nets


def validate_lut(req: ValidateRequest, echo: Callable[[str], None] = print) -> dict[str, Any]:
    import torch

    if req.samples < 5:
        raise TndError(f"--samples {req.samples} is too few to judge a table; use 30 or more (at least 5)")
    table = LookupTable.load(req.lut)
    preset = load_preset(table.device["preset"])
    device = detect(preset)
    check_device(preset, device)
    runtime = settings_for_table(table, req.runtime)
    batch = int(table.settings["batch_size"])
    family, nets = sample_networks(table, req.samples, req.seed)
    echo(f"validating {table.name()} on {device.name} ({describe(runtime)}): {len(nets)} random networks, "
         "each measured twice in shuffled order")

    predicted, predicted_energy, group_sums, models = [], [], [], []
    raw = NetworkEstimate(table, energy="total", calibrated=False)
    # A bar on a terminal; in a log, a status line at every quarter of each phase.
    def bar(desc: str) -> Progress:
        return Progress(len(nets), desc, "network", enabled=req.progress, echo=echo,
                        plain_every=max(1, len(nets) // 4))

    exporting = bar("exporting")
    for shape, arch in nets:
        t = raw.totals(family.parts(arch, shape))
        predicted.append(t["latency"])
        predicted_energy.append(t["energy"])
        group_sums.append([t["groups"][k] for k in GROUP_ORDER])
        torch.manual_seed(req.seed)
        net = family.build(arch, shape)
        x = torch.randn(batch, *shape.input_chw())
        models.append(module_model(net, (x,), runtime, seed=req.seed))
        exporting.update(1)
    exporting.close()

    rng = random.Random(req.seed + 1)
    passes = []
    for p in range(2):
        order = list(range(len(models)))
        rng.shuffle(order)
        medians = np.zeros(len(models))
        with bar(f"measuring (pass {p + 1}/2)") as measuring:
            for i in order:
                medians[i] = time_calls(models[i], req.warmup, req.repeats).median
                measuring.update(1)
        passes.append(medians)
    measured = (passes[0] + passes[1]) / 2
    predicted, X = np.array(predicted), np.array(group_sums)
    fit = calibration_fit(X, measured, GROUP_ORDER, seed=req.seed)
    coef, intercept = np.array([fit["coef"][g] for g in GROUP_ORDER]), fit["intercept"]
    report = {
        "lut": str(table.path), "device": device.to_dict(), "runtime": runtime_name(runtime),
        "provider": runtime.provider, "threads": runtime.threads,
        "space": family.name, "samples": len(nets), "seed": req.seed, "repeats": req.repeats,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "raw": agreement(predicted, measured),
        "calibrated": {**agreement(leave_one_out(X, measured), measured), "method": "leave-one-out"},
        "retest": {"spearman": agreement(passes[0], passes[1])["spearman"],
                   "mean_change": float(np.mean(np.abs(passes[0] - passes[1]) / measured))},
        "fit": fit,
        "networks": [{"shape": s.to_dict(), "shape_name": family.describe_shape(s), **family.arch_record(a),
                      "predicted_ms": float(pr),
                      "calibrated_ms": float(X[i] @ coef + intercept), "group_sums_ms": X[i].tolist(),
                      "measured_ms": float(m), "pass_ms": [float(passes[0][i]), float(passes[1][i])],
                      **({"runtime_notes": models[i].notes} if getattr(models[i], "notes", None) else {})}
                     for i, ((s, a), pr, m) in enumerate(zip(nets, predicted, measured))],
    }
    if table.has_energy and not table.energy_is_estimate:
        report["energy"] = validate_energy(table, models, np.array(predicted_energy, dtype=float), req)
    elif table.energy_is_estimate:
        report["energy"] = {"skipped": "tdp-estimate energy is power x time: validating it would repeat the latency check"}
    report["per_shape"] = per_shape(report["networks"], passes)
    report["goal"] = goal(report)
    out = Path(req.out) if req.out else Path(table.path).with_suffix("")
    json_path, png_path = Path(f"{out}.validate.json"), Path(f"{out}.validate.png")
    atomic.write_json(json_path, report)
    plot_validation(report, png_path)
    if req.save_calibration:
        table.calibration = {k: report[k] for k in ("samples", "date", "raw", "calibrated", "retest", "fit")}
        table.save()
    echo(format_report(report) + f"\nwritten: {json_path}, {png_path}"
         + (f"; calibration stored in {table.path}" if req.save_calibration else ""))
    return report


def validate_energy(table: LookupTable, models: list[Any], predicted: np.ndarray,
                    req: ValidateRequest) -> dict[str, Any]:
    """Whole-network energy (total per inference) with the table's own meter, against the table's sum."""

    window = float(table.settings.get("energy_window_s") or 1.0)
    meter = energy_meters.make_energy_meter(table.energy_method)
    try:
        measured = np.array([meter.measure(m, min_window_s=window).per_call_mj for m in models])
    finally:
        meter.close()
    return {"method": table.energy_method, "window_s": window, **agreement(predicted, measured),
            "measured_mj": measured.tolist(), "predicted_mj": predicted.tolist()}


def per_shape(networks: list[dict[str, Any]], passes: list[np.ndarray]) -> list[dict[str, Any]]:
    """The same figures within one width/depth: the hard case, where networks differ only by their ops."""
    groups: dict[str, list[int]] = {}
    for i, n in enumerate(networks):
        groups.setdefault(n["shape_name"], []).append(i)
    out = []
    for name, idx in groups.items():
        if len(idx) < 5:
            continue
        meas = np.array([networks[i]["measured_ms"] for i in idx])
        out.append({"shape": name, "n": len(idx),
                    "raw_spearman": agreement(np.array([networks[i]["predicted_ms"] for i in idx]), meas)["spearman"],
                    "calibrated": agreement(np.array([networks[i]["calibrated_ms"] for i in idx]), meas),
                    "retest_spearman": agreement(passes[0][idx], passes[1][idx])["spearman"],
                    "spread": float(meas.max() / meas.min())})
    return out


def goal(r: dict[str, Any]) -> dict[str, Any]:
    """DESIGN's yardstick: Spearman >= 0.9 x test-retest, MAPE <= 2 x retest change (calibrated figures)."""
    rho_ok = r["calibrated"]["spearman"] >= 0.9 * r["retest"]["spearman"]
    mape_ok = r["calibrated"]["mape"] <= max(2 * r["retest"]["mean_change"], 0.15)
    return {"spearman_vs_retest": rho_ok, "mape": mape_ok, "met": bool(rho_ok and mape_ok)}


def format_report(r: dict[str, Any]) -> str:
    rows = [("", "Spearman", "MAPE", "within 10%", "pred/meas"),
            ("table sum (raw)", *_cells(r["raw"])),
            ("calibrated (LOO)", *_cells(r["calibrated"])),
            ("test-retest", f"{r['retest']['spearman']:.3f}", f"{r['retest']['mean_change']:.1%}", "", "")]
    lines = ["  ".join(f"{c:>16s}" if j else f"{c:<18s}" for j, c in enumerate(row)) for row in rows]
    e = r.get("energy") or {}
    if "spearman" in e:
        lines.append(f"energy ({e['method']}, total per inference): Spearman {e['spearman']:.3f}, "
                     f"MAPE {e['mape']:.1%}, table/measured {e['ratio_mean']:.2f}x")
    elif e:
        lines.append(f"energy: not validated ({e['skipped']})")
    for p in r.get("per_shape", []):
        lines.append(f"  within {p['shape']} (n={p['n']}, spread {p['spread']:.2f}x): Spearman raw "
                     f"{p['raw_spearman']:.3f}, calibrated {p['calibrated']['spearman']:.3f}, MAPE "
                     f"{p['calibrated']['mape']:.1%}; test-retest {p['retest_spearman']:.3f}")
    g = r["goal"]
    lines.append(f"goal (Spearman >= 0.9 x retest, MAPE <= max(2 x retest change, 15%)): "
                 f"{'met' if g['met'] else 'NOT met'}")
    lines.append(format_fit(r["fit"]))
    return "\n".join(lines)


def _cells(a: dict[str, float]) -> tuple[str, ...]:
    return (f"{a['spearman']:.3f}", f"{a['mape']:.1%}", f"{a['within_10pct']:.0%}", f"{a['ratio_mean']:.2f}x")


def plot_validation(r: dict[str, Any], path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # the object API: the user's backend is left alone
    from matplotlib.figure import Figure

    meas = np.array([n["measured_ms"] for n in r["networks"]])
    pred = np.array([n["predicted_ms"] for n in r["networks"]])
    cal = np.array([n["calibrated_ms"] for n in r["networks"]])
    fig = Figure(figsize=(5, 4.5))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.scatter(meas, pred, s=14, label=f"table sum (rho {r['raw']['spearman']:.2f})", color="tab:gray")
    ax.scatter(meas, cal, s=14, label=f"calibrated (rho {r['calibrated']['spearman']:.2f})", color="tab:blue")
    lo, hi = float(min(meas.min(), pred.min(), cal.min())), float(max(meas.max(), pred.max(), cal.max()))
    ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="predicted = measured")
    ax.set_xlabel("measured whole-network latency (ms)")
    ax.set_ylabel("predicted from table (ms)")
    ax.set_title(f"{Path(r['lut']).name}: {r['samples']} random networks")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    atomic.save_with(path, lambda p: fig.savefig(p, format="png", dpi=110))
    return path
