"""Which runtime measures a table: ONNX Runtime (the default) or PyTorch, chosen once and recorded.

A table's ``runtime`` section names its runtime (``name``; tables without one were all measured with
ONNX Runtime). Figures from one runtime say nothing exact about the other (ORT folds BatchNorm and
fuses ops, torch runs eagerly or replays CUDA graphs), so validating or benchmarking a table with the
other runtime is refused rather than compared.
"""

from __future__ import annotations

import platform
from typing import Any

from profilers.devices import check_stack
from profilers.latency import OrtModel, RuntimeSettings, measure_call_overhead
from profilers.runtime import DEFAULT_RUNTIME, RUNTIMES, import_onnxruntime  # noqa: F401 (names re-exported)
from profilers.torch_runtime import (
    TorchModel,
    TorchSettings,
    check_torch_stack,
    measure_torch_overhead,
    torch_runtime_info,
)
from tnd.errors import TndError
from tnd.lut.parts_onnx import OPSET, module_onnx, part_onnx
from tnd.lut.table import LookupTable
from tnd.space.parts import PartKey, part_inputs, part_module


def check_runtime_name(name: str) -> str:
    if name not in RUNTIMES:
        raise TndError(f"unknown runtime {name!r}; use one of {', '.join(RUNTIMES)}")
    return name


def runtime_name(settings: Any) -> str:
    return "torch" if isinstance(settings, TorchSettings) else "onnxruntime"


def runtime_settings(name: str, preset: Any, threads: int | None, gpu_index: int = 0,
                     cuda_graphs: bool = True) -> Any:
    """The settings that measure on ``preset``'s device with runtime ``name``."""
    if check_runtime_name(name) == "torch":
        device = f"cuda:{gpu_index}" if preset.kind == "gpu" else "cpu"
        return TorchSettings(device=device, threads=threads, cuda_graphs=cuda_graphs)
    return RuntimeSettings(provider=preset.provider, threads=threads, device_id=gpu_index)


def check_runtime_stack(name: str, preset: Any, gpu_index: int = 0) -> None:
    """The runtime's software must run on the preset's device before anything is measured."""
    if check_runtime_name(name) == "torch":
        check_torch_stack(preset, gpu_index)
    else:
        check_stack(preset)


def part_model(key: PartKey, batch_size: int, settings: Any, seed: int = 0) -> Any:
    """A part ready to time: an ORT session of its ONNX export, or the torch module itself."""
    if isinstance(settings, TorchSettings):
        return TorchModel(part_module(key), part_inputs(key, batch_size), settings)
    return OrtModel(part_onnx(key, batch_size), settings, seed=seed)


def module_model(module: Any, inputs: tuple, settings: Any, seed: int = 0) -> Any:
    """A whole module on ``inputs`` ready to time with the settings' runtime."""
    if isinstance(settings, TorchSettings):
        return TorchModel(module, inputs, settings)
    return OrtModel(module_onnx(module, inputs), settings, seed=seed)


def call_overhead(settings: Any) -> Any:
    """The runtime's fixed cost per call (LatencyStats), paid once by every entry and once by a network."""
    if isinstance(settings, TorchSettings):
        return measure_torch_overhead(settings)
    return measure_call_overhead(settings)


def runtime_section(settings: Any) -> dict[str, Any]:
    """The table's ``runtime`` section: which runtime, its versions and how it was set up."""
    if isinstance(settings, TorchSettings):
        return torch_runtime_info(settings)
    import onnx
    import torch

    onnxruntime = import_onnxruntime()
    return {"name": "onnxruntime", "onnxruntime": onnxruntime.__version__, "provider": settings.provider,
            "provider_options": settings.provider_options(), "threads": settings.threads, "opset": OPSET,
            "onnx": onnx.__version__, "torch": torch.__version__, "python": platform.python_version()}


def describe(settings: Any) -> str:
    """``provider CPUExecutionProvider, 1 thread(s)`` / ``torch on cuda:0, CUDA-graph replay where the part allows``."""
    threads = f", {settings.threads} thread(s)" if settings.threads else ""
    if isinstance(settings, TorchSettings):
        if settings.is_cuda:
            return f"torch on {settings.device}, " + ("CUDA-graph replay where the part allows" if settings.cuda_graphs
                                                      else "eager")
        return f"torch on cpu{threads}"
    return f"provider {settings.provider}{threads}"


def table_runtime(table: LookupTable) -> str:
    """The runtime that measured ``table`` (tables from before the ``name`` field are ONNX Runtime's)."""
    return str(table.runtime.get("name", "onnxruntime"))


def check_table_runtime(table: LookupTable, name: str, doing: str) -> None:
    """Refuse to compare a table with measurements of another runtime."""
    measured = table_runtime(table)
    if measured != name:
        raise TndError(f"{table.name()} was measured with {measured}, not {name}: {doing} with --runtime {measured}, "
                       f"or build a table with tools/build_lut.py --runtime {name}")


def settings_for_table(table: LookupTable, name: str | None = None) -> Any:
    """The runtime settings a table was measured with (``name``, when given, must be the table's)."""
    if name is not None:
        check_table_runtime(table, check_runtime_name(name), "validate it")
    r = table.runtime
    if table_runtime(table) == "torch":
        return TorchSettings(device=r.get("device", "cpu"), threads=r.get("threads"),
                             cuda_graphs=bool(r.get("cuda_graphs", True)))
    return RuntimeSettings(provider=r["provider"], threads=r.get("threads"),
                           device_id=int(r.get("provider_options", {}).get("device_id", 0)))
