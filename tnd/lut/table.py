"""The lookup table file ``lut/<device>.json`` (schema ``tnd-lut/1``): load, validate, save.

One file per device, self-describing: what was measured (device, runtime, settings) sits beside the
numbers, so a table can be checked against the search that reads it. Entries are keyed by
``tnd.space.parts.lut_key``; latency is stored as measured (one ``run()`` call per inference, which
includes the runtime's per-call overhead, recorded in ``settings.call_overhead_ms``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from profilers.energy.base import METHODS
from tnd import atomic
from tnd.errors import TndError
from tnd.space.parts import PartKey, parse_key

FORMAT = "tnd-lut/1"
ENERGY_METHODS = METHODS  # what a table may say its energy came from (profilers owns the list)
REQUIRED = {"device": dict, "runtime": dict, "settings": dict, "entries": dict}
REQUIRED_SETTINGS = ("batch_size", "dtype", "warmup", "repeats", "energy_method", "call_overhead_ms")


@dataclass
class LookupTable:
    device: dict[str, Any]
    runtime: dict[str, Any]
    settings: dict[str, Any]
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    predictor: dict[str, Any] | None = None      # tnd.lut.predictor parameters (JSON, never code)
    calibration: dict[str, Any] | None = None    # whole-network fit from `tnd lut validate`
    path: Path | None = None

    # ---- reading ---------------------------------------------------------------------------
    @property
    def energy_method(self) -> str:
        return self.settings["energy_method"]

    @property
    def has_energy(self) -> bool:
        return self.energy_method != "none"

    @property
    def energy_is_estimate(self) -> bool:
        return self.energy_method == "tdp-estimate"

    @property
    def call_overhead_ms(self) -> float:
        return float(self.settings["call_overhead_ms"])

    def has_energy_figure(self, kind: str) -> bool:
        """Whether every entry holds ``kind`` energy (``total``, or ``dynamic``, which needs an idle figure)."""
        return self.has_energy and all((e.get("energy_mj") or {}).get(kind) is not None
                                       for e in self.entries.values())

    def latency_ms(self, key: PartKey | str) -> float:
        return float(self.entries[str(key)]["latency_ms"]["median"])

    def energy_mj(self, key: PartKey | str, kind: str = "total") -> float | None:
        e = self.entries[str(key)].get("energy_mj")
        return None if e is None or e.get(kind) is None else float(e[kind])

    def keys(self) -> list[PartKey]:
        return [parse_key(k) for k in self.entries]

    def name(self) -> str:
        return str(self.path) if self.path else f"<table for {self.device.get('preset', '?')}>"

    # ---- writing ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = {"format": FORMAT, "device": self.device, "runtime": self.runtime, "settings": self.settings,
             "entries": dict(sorted(self.entries.items()))}
        if self.predictor is not None:
            d["predictor"] = self.predictor
        if self.calibration is not None:
            d["calibration"] = self.calibration
        return d

    def save(self, path: str | Path | None = None) -> Path:
        path = Path(path or self.path)
        atomic.write_json(path, self.to_dict(), indent=1)
        self.path = path
        return path

    @classmethod
    def load(cls, path: str | Path) -> "LookupTable":
        path = Path(path)
        if not path.is_file():
            raise TndError(f"lookup table {path} not found; build it with tools/build_lut.py --device NAME "
                           f"--out {path}")
        try:
            data = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise TndError(f"lookup table {path} is not valid JSON ({e}); it may be truncated: rebuild it with "
                           "tools/build_lut.py (--resume keeps the entries of a readable file)") from None
        table = cls.from_dict(data, where=str(path))
        table.path = path
        return table

    @classmethod
    def from_dict(cls, data: Any, where: str = "lookup table") -> "LookupTable":
        def bad(why: str) -> TndError:
            return TndError(f"{where}: {why}; rebuild it with tools/build_lut.py")

        if not isinstance(data, dict):
            raise bad("not a JSON object")
        if data.get("format") != FORMAT:
            raise bad(f"format is {data.get('format')!r}, expected {FORMAT!r}")
        for key, typ in REQUIRED.items():
            if not isinstance(data.get(key), typ):
                raise bad(f"missing or malformed {key!r}")
        settings = data["settings"]
        missing = [k for k in REQUIRED_SETTINGS if k not in settings]
        if missing:
            raise bad(f"settings lack {', '.join(missing)}")
        if settings["energy_method"] not in ENERGY_METHODS:
            raise bad(f"unknown energy_method {settings['energy_method']!r}")
        for key, entry in data["entries"].items():
            try:
                parse_key(key)
            except ValueError as e:
                raise bad(str(e)) from None
            lat = entry.get("latency_ms") if isinstance(entry, dict) else None
            if not isinstance(lat, dict) or not _positive(lat.get("median")):
                raise bad(f"entry {key!r} has no positive latency_ms.median")
            energy = entry.get("energy_mj")
            if energy is not None and not (isinstance(energy, dict) and _positive(energy.get("total"))):
                raise bad(f"entry {key!r} has a malformed energy_mj (expected {{'total': mJ, 'dynamic': mJ|null}})")
        return cls(device=data["device"], runtime=data["runtime"], settings=settings, entries=data["entries"],
                   predictor=data.get("predictor"), calibration=data.get("calibration"))


def _positive(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0
