"""Device presets (shipped, or the user's own), detection of the real device, and the checks before measuring.

A preset says what the user *means* (``--device 1080ti``); detection reads what the machine *is*
(NVML for GPUs, /proc/cpuinfo for CPUs). Measuring on the wrong device, or with a software stack that
cannot run on it, produces a table that silently lies, so both are refused with the fix in the message.
"""

from __future__ import annotations

import os
import platform
import re
from dataclasses import asdict, dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from profilers.energy.base import CHOICES as ENERGY_CHOICES
from profilers.errors import ProfilerError
from profilers.runtime import import_onnxruntime

# The shipped presets: package data (the repository's configs/devices, which profilers/presets links to).
# A wheel is installed unpacked, so the resource is a real folder.
PRESETS_DIR = Path(str(resources.files("profilers") / "presets"))
USER_DIR_ENV = "TND_PRESETS"
KINDS = ("gpu", "cpu")
PROVIDERS = ("CUDAExecutionProvider", "CPUExecutionProvider", "TensorrtExecutionProvider")
# CUDA 13 builds (PyPI's torch 2.14 and onnxruntime-gpu 1.31) run only on Turing (sm_75) and newer.
MIN_CC_FOR_CUDA = {13: (7, 5), 12: (5, 0)}


@dataclass(frozen=True)
class DevicePreset:
    name: str
    kind: str
    match: tuple[str, ...]
    architecture: str
    energy: str
    tdp_w: float
    provider: str
    compute_capability: str | None = None
    tdp_cores: int | None = None
    threads: int | None = None

    def __post_init__(self) -> None:
        where = f"device preset {self.name!r}"
        if self.kind not in KINDS:
            raise ProfilerError(f"{where}: kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.energy not in ENERGY_CHOICES:
            raise ProfilerError(f"{where}: energy must be one of {', '.join(ENERGY_CHOICES)}, got {self.energy!r}")
        if self.provider not in PROVIDERS:
            raise ProfilerError(f"{where}: provider must be one of {', '.join(PROVIDERS)}, got {self.provider!r}")
        if self.kind == "gpu" and not re.fullmatch(r"\d+\.\d+", self.compute_capability or ""):
            raise ProfilerError(f"{where}: a GPU preset needs compute_capability like \"8.0\"")
        if not self.tdp_w > 0:
            raise ProfilerError(f"{where}: tdp_w must be a positive number of watts")

    @property
    def cc(self) -> tuple[int, int] | None:
        return tuple(int(v) for v in self.compute_capability.split(".")) if self.compute_capability else None

    def matches(self, detected_name: str) -> bool:
        return any(re.search(p, detected_name, re.IGNORECASE) for p in self.match)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["match"] = list(self.match)
        return d


def user_config_dir() -> Path:
    """The user's own presets and tables: $TND_PRESETS, else $XDG_CONFIG_HOME/tnd (~/.config/tnd).

    It mirrors the shipped layout (devices/, search/, train/, lut/); a file there wins over a shipped one
    of the same name.
    """
    if os.environ.get(USER_DIR_ENV):
        return Path(os.environ[USER_DIR_ENV]).expanduser()
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config").expanduser() / "tnd"


def preset_dirs() -> list[Path]:
    """Where device presets are looked up, first match wins: the user's folder, then the shipped ones."""
    return [user_config_dir() / "devices", PRESETS_DIR]


def available_presets(presets_dir: Path | None = None) -> list[str]:
    dirs = [Path(presets_dir)] if presets_dir is not None else preset_dirs()
    return sorted({p.stem for d in dirs if d.is_dir() for p in d.glob("*.yaml")})


def preset_path(name: str, presets_dir: Path | None = None) -> Path:
    dirs = [Path(presets_dir)] if presets_dir is not None else preset_dirs()
    for d in dirs:
        if (d / f"{name}.yaml").is_file():
            return d / f"{name}.yaml"
    raise ProfilerError(f"unknown device {name!r}; presets: {', '.join(available_presets(presets_dir))} "
                        f"(add {dirs[0] / (name + '.yaml')} for a new one)")


def load_preset(name: str, presets_dir: Path | None = None) -> DevicePreset:
    path = preset_path(name, presets_dir)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ProfilerError(f"{path}: not valid YAML ({str(e).splitlines()[0]}); fix the file") from None
    if not isinstance(data, dict):
        raise ProfilerError(f"{path}: expected a mapping of preset settings, got {type(data).__name__}; fix the file")
    known = {f.name for f in fields(DevicePreset)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ProfilerError(f"{path}: unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(sorted(known))}")
    data.setdefault("name", name)
    data["match"] = tuple(data.get("match") or ())
    try:
        return DevicePreset(**data)
    except (TypeError, ProfilerError) as e:
        raise ProfilerError(f"{path}: {e}") from None


# ---- what the machine is ---------------------------------------------------------------------

@dataclass
class DetectedDevice:
    kind: str
    name: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, **self.details}


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def detect_cpu() -> DetectedDevice:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    governor = Path("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")
    return DetectedDevice("cpu", cpu_model(), {
        "cores_online": os.cpu_count(), "cores_usable": usable, "machine": platform.machine(),
        "governor": governor.read_text().strip() if governor.exists() else None})


def detect_gpu(index: int = 0, nvml: Any = None) -> DetectedDevice:
    """Name, driver, compute capability, power limit, clocks and temperature, read through NVML."""
    from profilers.energy.nvml import nvml_device_info

    try:
        info = nvml_device_info(index, nvml=nvml)
    except ProfilerError as e:
        detail = str(e).split(";")[0].split(": ")[-1]
        raise ProfilerError(f"no NVIDIA GPU/NVML found on this machine ({detail}): run this on the machine with "
                            "the GPU, or use --device cpu here") from None
    return DetectedDevice("gpu", info.pop("name"), info)


def detect(preset: DevicePreset, gpu_index: int = 0, nvml: Any = None) -> DetectedDevice:
    return detect_gpu(gpu_index, nvml) if preset.kind == "gpu" else detect_cpu()


def check_device(preset: DevicePreset, device: DetectedDevice, allow_mismatch: bool = False) -> None:
    """Refuse to label a table with a device it was not measured on."""
    if preset.matches(device.name) or allow_mismatch:
        return
    raise ProfilerError(f"--device {preset.name} expects a device matching {' or '.join(preset.match)}, but this "
                        f"machine has {device.name!r}; pick the preset for this device or pass --allow-mismatch")


def check_stack(preset: DevicePreset, providers: list[str] | None = None, ort_cuda: str | None = None,
                torch_cuda: str | None = None) -> None:
    """Before measuring on a GPU: the runtime must have the provider and a CUDA build that runs on the card."""
    if preset.provider == "CPUExecutionProvider":
        return
    ort = import_onnxruntime()

    providers = ort.get_available_providers() if providers is None else providers
    if preset.provider not in providers:
        raise ProfilerError(f"onnxruntime {ort.__version__} has no {preset.provider} (it has "
                            f"{', '.join(providers)}); install onnxruntime-gpu built for this card's CUDA")
    ort_cuda = ort_cuda if ort_cuda is not None else getattr(ort, "cuda_version", None)
    if torch_cuda is None:
        try:
            import torch
            torch_cuda = torch.version.cuda
        except ImportError:
            torch_cuda = None
    cc = preset.cc
    for what, version in (("onnxruntime-gpu", ort_cuda), ("torch", torch_cuda)):
        if not version:
            continue
        major = int(str(version).split(".")[0])
        need = MIN_CC_FOR_CUDA.get(major)
        if need and cc and cc < need:
            raise ProfilerError(
                f"{preset.name} is compute capability {preset.compute_capability} but {what} is a CUDA {version} "
                f"build, which needs sm_{need[0]}{need[1]}+; install CUDA 12 builds (torch: pip install torch "
                f"--index-url https://download.pytorch.org/whl/cu126; onnxruntime-gpu for CUDA 12), see README")


def drift_warnings(start: dict[str, Any], end: dict[str, Any], clock_drop: float = 0.10,
                   temperature_rise_c: float = 15.0) -> list[str]:
    """What changed on the device between the start and the end of a measurement (throttling, heat)."""
    out = []
    for key, what in (("sm_clock_mhz", "SM clock"), ("mem_clock_mhz", "memory clock")):
        a, b = start.get(key), end.get(key)
        if a and b is not None and b < (1 - clock_drop) * a:
            out.append(f"{what} fell from {a} to {b} MHz during the measurement (throttling?); lock clocks or "
                       "let the device cool, then rebuild with --resume on a fresh --out")
    t0, t1 = start.get("temperature_c"), end.get("temperature_c")
    if t0 is not None and t1 is not None and t1 - t0 > temperature_rise_c:
        out.append(f"temperature rose from {t0} to {t1} C during the measurement; power (and energy) grows with heat")
    if start.get("power_limit_w") != end.get("power_limit_w"):
        out.append(f"power limit changed from {start.get('power_limit_w')} to {end.get('power_limit_w')} W")
    return out
