"""``tnd bench``: measure an exported model on a device, and put the lookup table's prediction beside it.

The model is measured with the same profilers, provider and thread count the table was built with,
so the ratio answers the user's question: can I trust the table's numbers for this network?
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from profilers.devices import check_device, detect, load_preset
from profilers.energy import energy_per_call
from profilers.latency import OrtModel, time_calls
from tnd import atomic
from tnd.deploy.export import read_metadata
from tnd.deploy.rebuild import network_from_metadata
from tnd.errors import TndError
from tnd.lut.estimate import NetworkEstimate
from tnd.lut.pipeline import make_meter
from tnd.lut.runtime import check_runtime_name, check_runtime_stack, check_table_runtime, module_model, runtime_settings
from tnd.lut.table import LookupTable
from tnd.presets import lut_path
from tnd.space.genotype import Architecture, Genotype
from tnd.space.parts import network_parts
from tnd.space.plan import NetworkShape


@dataclass
class BenchRequest:
    model: str
    device: str = "cpu"
    lut: str | None = None            # default lut/<device>.json where it exists
    use_lut: bool = True
    batch_size: int = 1
    threads: int | None = None
    warmup: int = 50
    repeats: int = 300
    energy: str = "auto"              # auto | none (energy where the device can measure it)
    energy_window_s: float = 2.0
    allow_mismatch: bool = False
    json_out: str | None = None
    runtime: str = "onnxruntime"      # onnxruntime | torch (a table of the other runtime is refused)


def predict_from_lut(meta: dict[str, Any], table_path: Path, batch_size: int) -> dict[str, Any]:
    """The table's latency/energy for the network described by the model's metadata."""
    if "genotype" not in meta or "shape" not in meta:
        raise TndError("the model has no tnd genotype/shape metadata (export it with `tnd export`); "
                       "pass --no-lut to measure it without a prediction")
    table = LookupTable.load(table_path)
    if int(table.settings["batch_size"]) != batch_size:
        raise TndError(f"{table_path} was measured at batch {table.settings['batch_size']}; bench with "
                       f"--batch-size {table.settings['batch_size']} to compare, or --no-lut")
    shape = NetworkShape.from_dict(meta["shape"], where=f"{table_path}: the model's shape metadata")
    arch = Architecture.from_genotype(Genotype.from_dict(meta["genotype"]))
    estimate = NetworkEstimate(table, energy="total")
    p = estimate.predict(network_parts(arch, shape))
    return {"lut": str(table_path), "latency_ms_raw": p["latency_raw"], "predicted_parts": p["predicted"],
            "latency_ms_calibrated": p["latency"] if p["calibrated"] else None,
            "energy_mj": p["energy"] if estimate.has_energy else None, "energy_is_estimate": table.energy_is_estimate}


def bench_model(req: BenchRequest, echo: Callable[[str], None] = print) -> dict[str, Any]:

    meta = read_metadata(req.model)
    preset = load_preset(req.device)
    device = detect(preset)
    check_device(preset, device, req.allow_mismatch)
    check_runtime_stack(check_runtime_name(req.runtime), preset)
    lut = Path(req.lut) if req.lut else lut_path(req.device)
    if req.use_lut and (req.lut or lut.is_file()):  # before measuring: a table of another runtime is refused
        check_table_runtime(LookupTable.load(lut), req.runtime, "bench against it")
    threads = (req.threads or preset.threads) if preset.kind == "cpu" else None
    runtime = runtime_settings(req.runtime, preset, threads)
    inputs = None
    if meta.get("shape"):
        chw = NetworkShape.from_dict(meta["shape"], where=f"{req.model}: shape metadata").input_chw()
        inputs = [np.random.default_rng(0).standard_normal((req.batch_size, *chw)).astype(np.float32)]
    if req.runtime == "torch":  # the same network rebuilt in torch (a torch module cannot load ONNX)
        import torch

        model = module_model(network_from_metadata(meta, str(req.model)), (torch.from_numpy(inputs[0]),), runtime)
    else:
        model = OrtModel(str(req.model), runtime, inputs=inputs)
    latency = time_calls(model, req.warmup, req.repeats)
    result: dict[str, Any] = {
        "model": str(req.model), "device": device.to_dict(), "preset": preset.name, "runtime": req.runtime,
        "provider": runtime.provider, "runtime_notes": getattr(model, "notes", None) or None, "threads": threads, "batch_size": req.batch_size,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "latency_ms": latency.to_dict(), "energy_mj": None}
    meter = None if req.energy == "none" else make_meter(preset, threads=threads)
    if meter is not None:
        try:
            idle = None if meter.is_estimate else meter.idle_power_w(2.0)
            result["energy_mj"] = {**energy_per_call(meter, model, latency.median, req.energy_window_s, idle),
                                   "method": meter.method, "idle_power_w": idle, "estimate": meter.is_estimate}
        finally:
            meter.close()
    if req.use_lut and (req.lut or lut.is_file()):
        result["prediction"] = predict_from_lut(meta, lut, req.batch_size)
    if req.json_out:
        atomic.write_json(req.json_out, result)
    echo(format_bench(result))
    return result


def format_bench(r: dict[str, Any]) -> str:
    lat = r["latency_ms"]
    lines = [f"{Path(r['model']).name} on {r['device']['name']} ({r['provider']}"
             + (f", {r['threads']} thread(s)" if r["threads"] else "") + f"), batch {r['batch_size']}",
             f"  measured latency   {lat['median']:.4f} ms (p10 {lat['p10']:.4f}, p90 {lat['p90']:.4f}, n={lat['n']})"]
    e = r.get("energy_mj")
    if e:
        label = " ESTIMATE (TDP x time, not measured)" if e.get("estimate") else f" ({e['method']})"
        lines.append(f"  energy             {e['total']:.4f} mJ per inference{label}"
                     + (f", dynamic {e['dynamic']:.4f} mJ" if e.get("dynamic") is not None else ""))
    p = r.get("prediction")
    if p:
        m = lat["median"]
        lines.append(f"  LUT prediction     {p['latency_ms_raw']:.4f} ms table sum ({p['latency_ms_raw'] / m:.2f}x "
                     f"measured)" + (" [some parts predicted by the regression]" if p["predicted_parts"] else ""))
        if p["latency_ms_calibrated"] is not None:
            c = p["latency_ms_calibrated"]
            lines.append(f"                     {c:.4f} ms calibrated by `tnd lut validate` ({c / m:.2f}x measured)")
        if p.get("energy_mj") is not None and e:
            lines.append(f"  LUT energy         {p['energy_mj']:.4f} mJ ({p['energy_mj'] / e['total']:.2f}x measured)"
                         + (" (both ESTIMATES)" if p["energy_is_estimate"] else ""))
    return "\n".join(lines)
