"""Where search/train presets and lookup tables are found: an explicit path, the user's folder, the wheel.

The presets and the CPU table ship inside the package (``tnd/_shipped``, links to the repository's
``configs/`` and ``lut/``), so an installed tnd finds them wherever it runs. A user adds or replaces
presets in their own folder (``$TND_PRESETS``, else ``~/.config/tnd``; same layout: ``search/``,
``train/``, ``lut/``, ``devices/``) without copying the package's files.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from profilers.devices import user_config_dir
from tnd.errors import TndError

# Installed wheels are unpacked, so the package's data is a real folder.
SHIPPED_DIR = Path(str(resources.files("tnd") / "_shipped"))
KINDS = ("search", "train")
DEFAULT_LUT_CONFIG = "demo"  # the search preset whose networks `tnd lut build` covers unless told otherwise
LUT_DIR = Path("lut")  # where `tnd lut build` writes by default, relative to the working directory


def is_name(spec: str | os.PathLike) -> bool:
    """A bare preset name (``demo``), as opposed to a path (``my/demo.yaml``, ``demo.yaml``)."""
    s = str(spec)
    return bool(s) and "/" not in s and os.sep not in s and not s.endswith((".yaml", ".yml", ".json"))


def preset_names(kind: str) -> list[str]:
    dirs = (user_config_dir() / kind, SHIPPED_DIR / kind)
    return sorted({p.stem for d in dirs if d.is_dir() for p in d.glob("*.yaml")})


def config_path(spec: str | os.PathLike, kind: str) -> Path:
    """``--config SPEC``: an existing file, or a preset name looked up in the user's folder, then the wheel."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    path = Path(spec).expanduser()
    if path.is_file():
        return path
    if is_name(spec):
        for d in (user_config_dir() / kind, SHIPPED_DIR / kind):
            if (d / f"{spec}.yaml").is_file():
                return d / f"{spec}.yaml"
        raise TndError(f"no {kind} preset {str(spec)!r}; presets: {', '.join(preset_names(kind))} "
                       f"(or add {user_config_dir() / kind / (str(spec) + '.yaml')}, or pass a file path)")
    raise TndError(f"config file {path} not found; pass an existing file or a {kind} preset name "
                   f"({', '.join(preset_names(kind))})")


def lut_candidates(device: str) -> list[Path]:
    """Where the table for ``device`` may be, first match wins: ./lut (what `tnd lut build` writes), the
    user's folder, the tables shipped with tnd."""
    name = f"{device}.json"
    return [LUT_DIR / name, user_config_dir() / "lut" / name, SHIPPED_DIR / "lut" / name]


def lut_path(device: str) -> Path:
    """The table for ``device``; where none exists, ``lut/<device>.json`` (for the error message)."""
    return next((p for p in lut_candidates(device) if p.is_file()), LUT_DIR / f"{device}.json")


def table_path(spec: str | os.PathLike) -> Path:
    """``tnd lut show/validate SPEC``: a table file, or a device name whose table is looked up."""
    path = Path(spec).expanduser()
    if path.is_file():
        return path
    if is_name(spec):
        found = lut_path(str(spec))
        if found.is_file():
            return found
        where = ", ".join(str(p.parent) for p in lut_candidates(str(spec)))
        raise TndError(f"no table for device {str(spec)!r} in {where}; build it with `tnd lut build --device "
                       f"{spec}` or pass the table's path")
    raise TndError(f"table {path} not found; pass an existing lut/<device>.json or a device name")
