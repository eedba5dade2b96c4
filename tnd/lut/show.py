"""A readable summary of a lookup table: where and how it was measured, and what dominates it."""

from __future__ import annotations

from tnd.lut.estimate import format_fit
from tnd.lut.table import LookupTable


def _rows(table: LookupTable, value, n: int) -> list[tuple[str, float]]:
    vals = [(k, value(k)) for k in table.entries]
    vals = [(k, v) for k, v in vals if v is not None]
    return sorted(vals, key=lambda kv: kv[1], reverse=True)[:n]


def _runtime_line(r: dict) -> str:
    threads = f", {r['threads']} thread(s)" if r.get("threads") else ""
    if r.get("name") == "torch":
        how = (", CUDA-graph replay where a part allows (see entries' runtime_notes)" if r.get("cuda_graphs")
               else ", eager") if str(r.get("device", "")).startswith("cuda") else ""
        return f"runtime        torch {r.get('torch')} on {r.get('device')}{threads}{how}, timed by {r.get('timing')}"
    return f"runtime        onnxruntime {r.get('onnxruntime')} on {r.get('provider')}{threads}, opset {r.get('opset')}"


def summarise(table: LookupTable, top: int = 5) -> str:
    d, r, s = table.device, table.runtime, table.settings
    start = d.get("start", {})
    estimate = " (ESTIMATE: TDP x time, not measured)" if table.energy_is_estimate else ""
    lines = [
        f"lookup table   {table.name()}",
        f"device         {d.get('preset')}: {start.get('name')}"
        + (f", driver {start['driver_version']}" if start.get("driver_version") else "")
        + (f", sm {start['compute_capability']}" if start.get("compute_capability") else "")
        + (f", {start['cores_usable']} usable cores" if start.get("cores_usable") else ""),
        _runtime_line(r),
        f"settings       batch {s['batch_size']}, {s['dtype']}, warm-up {s['warmup']}, repeats {s['repeats']}, "
        f"measured {s.get('date')}",
        f"energy         {s['energy_method']}{estimate}"
        + (f", idle {s['idle_power_w']:.1f} W subtracted for dynamic energy" if s.get("idle_power_w") else ""),
        f"call overhead  {s['call_overhead_ms'] * 1000:.1f} us per run() (included in every entry)",
        f"entries        {len(table.entries)}",
    ]
    for warning in s.get("drift_warnings") or []:
        lines.append(f"WARNING        {warning}")
    if d.get("mismatch_allowed"):
        lines.append("WARNING        measured with --allow-mismatch on a device the preset does not name")
    lines.append(f"\nslowest {top} parts (median ms, p10-p90):")
    for k, v in _rows(table, table.latency_ms, top):
        lat = table.entries[k]["latency_ms"]
        lines.append(f"  {v:9.4f}  [{lat['p10']:.4f}-{lat['p90']:.4f}]  {k}")
    if table.has_energy:
        lines.append(f"\nmost energy-hungry {top} parts (mJ per inference, total{estimate}):")
        for k, v in _rows(table, table.energy_mj, top):
            dyn = table.energy_mj(k, "dynamic")
            lines.append(f"  {v:9.4f}  " + (f"(dynamic {dyn:.4f})  " if dyn is not None else "") + k)
    if table.predictor:
        lines.append("\npredictor (held-out error over the table's entries):")
        for name, t in table.predictor["targets"].items():
            h = t["holdout"]
            if h["mape"] is not None:
                est = " (of an ESTIMATE)" if name == "energy_mj" and table.energy_is_estimate else ""
                lines.append(f"  {name:11s} MAPE {h['mape']:.1%}, within 10%: {h['within_10pct']:.0%} "
                             f"(n={h['n']}){est}")
    if table.calibration:
        c = table.calibration
        lines.append(f"\nwhole-network check ({c.get('samples')} networks, {c.get('date')}): Spearman raw "
                     f"{c['raw']['spearman']:.3f} / calibrated {c['calibrated']['spearman']:.3f}, MAPE raw "
                     f"{c['raw']['mape']:.1%} / calibrated {c['calibrated']['mape']:.1%}; test-retest Spearman "
                     f"{c['retest']['spearman']:.3f}")
        if c.get("fit"):
            lines.append(format_fit(c["fit"]))
    return "\n".join(lines)
