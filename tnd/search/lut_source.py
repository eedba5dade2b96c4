"""Which lookup table a search reads, and the checks that it fits the search (schema, batch, energy)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from profilers.devices import available_presets, detect_gpu, load_preset, user_config_dir
from profilers.errors import ProfilerError
from tnd.costs.lut_costs import LutCosts
from tnd.errors import TndError
from tnd.lut.build import Coverage
from tnd.lut.table import LookupTable
from tnd.presets import config_path, lut_path
from tnd.search.config import load_search_config


def default_device() -> str:
    """The preset matching this machine's first NVIDIA GPU, or ``cpu`` where NVML finds none."""
    try:
        gpu = detect_gpu(0)
    except ProfilerError:
        return "cpu"
    for name in available_presets():
        preset = load_preset(name)
        if preset.kind == "gpu" and preset.matches(gpu.name):
            return name
    raise TndError(f"no device preset matches this machine's GPU {gpu.name!r}; add "
                   f"{user_config_dir() / 'devices' / 'NAME.yaml'} and pass --device NAME")


def table_coverage(config_paths: list[str]) -> Coverage:
    """What one table must measure to serve every search config named (their parts, shapes, batch sizes)."""
    cfgs = [load_search_config(config_path(c, "search")) for c in config_paths]
    return Coverage(keys=tuple(sorted({k for c in cfgs for k in c.part_keys()})),
                    shapes=tuple(dict.fromkeys(s for c in cfgs for s in c.cost_shapes())),
                    batch_sizes=tuple(c.cost.batch_size for c in cfgs), sources=tuple(config_paths))


def table_path(cfg: Any) -> Path:
    if cfg.cost.lut:
        return Path(cfg.cost.lut)
    return lut_path(cfg.cost.device or default_device())


def check_table(table: LookupTable, cfg: Any, needs_energy: bool) -> None:
    name = table.name()
    if int(table.settings["batch_size"]) != cfg.cost.batch_size:
        raise TndError(f"{name} was measured at batch size {table.settings['batch_size']}, the search asks for "
                       f"{cfg.cost.batch_size}; set cost.batch_size or build a table at that batch size")
    if table.settings["dtype"] != "float32":
        raise TndError(f"{name} holds {table.settings['dtype']} timings; tnd deploys float32 networks")
    if cfg.cost.device and table.device.get("preset") not in (cfg.cost.device, None):
        raise TndError(f"{name} was measured on {table.device.get('preset')!r}, not {cfg.cost.device!r}; "
                       "pass the matching --lut or --device")
    if needs_energy and not table.has_energy:
        raise TndError(f"{name} has no energy figures (built with --energy none); rebuild it on the target device "
                       "with an energy meter (tools/build_lut.py --device NAME) or drop energy from --reward")
    if needs_energy and table.energy_is_estimate and not cfg.cost.allow_estimates:
        raise TndError(f"{name} holds only tdp-estimate energy (TDP x time, not a measurement); build a real "
                       "table on a GPU (NVML) or a CPU with readable RAPL, or pass --allow-estimates")
    if needs_energy and cfg.reward.energy == "dynamic" and not table.has_energy_figure("dynamic"):
        raise TndError(f"{name} has no dynamic (above-idle) energy ({table.energy_method}); pass --energy total "
                       "(reward.energy: total) or build the table with NVML/RAPL, which measure idle power")


def load_search_lut(cfg: Any, needs_energy: bool) -> LutCosts:
    """The search's table as a cost model, after checking it fits (``needs_energy``: some reward uses energy)."""
    path = table_path(cfg)
    if not path.is_file():
        raise TndError(f"no lookup table at {path}; build it with tools/build_lut.py --device "
                       f"{cfg.cost.device or 'cpu'} --config YOUR_CONFIG (or pass --lut PATH)")
    table = LookupTable.load(path)
    check_table(table, cfg, needs_energy)
    return LutCosts(table, cfg.target_shape(), strict=cfg.cost.strict_lut, energy=cfg.reward.energy)
