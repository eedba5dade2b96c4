"""Building ``lut/<device>.json``: enumerate the parts a search can use, measure each, write as we go.

Entries are measured in chunks: every part of a chunk gets its own session, and the timed runs are
spread over several interleaved rounds in shuffled order, so that a slow phase of the machine
(another process, a clock change) is shared across parts instead of biasing one. Each entry is saved
(atomically) as soon as its energy window is done, so an interrupted build resumes with ``--resume``
without measuring again what it has (at most the latency rounds of one chunk are repeated).
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from profilers.energy import energy_per_call
from profilers.latency import sample_calls
from profilers.stats import LatencyStats
from tnd.errors import TndError
from tnd.lut.runtime import part_model, runtime_section, table_runtime
from tnd.lut.table import FORMAT, LookupTable
from tnd.progress import Progress
from tnd.space.parts import PartKey, part_flops, part_params
from tnd.space.plan import NetworkShape


@dataclass(frozen=True)
class MeasureOptions:
    batch_size: int = 1
    warmup: int = 20
    repeats: int = 100
    min_seconds: float = 0.0          # keep timing until this much time is sampled as well
    rounds: int = 4                   # timed runs are split over this many interleaved rounds
    chunk: int = 16                   # parts measured (and saved) together
    energy_window_s: float = 1.0      # each energy window repeats the part until it lasts this long
    idle_seconds: float = 3.0         # idle power is sampled this long before measuring
    seed: int = 0

    @classmethod
    def quick(cls, **kw: Any) -> "MeasureOptions":
        """A fast, rougher table (CI, trying things out): fewer repeats and short energy windows."""
        return cls(**{"warmup": 5, "repeats": 24, "rounds": 3, "energy_window_s": 0.2, "idle_seconds": 1.0,
                      **kw})


@dataclass(frozen=True)
class Coverage:
    """What a table must cover: every part its networks use, the whole-network shapes (which `tnd lut
    validate` samples), the batch sizes asked for, and the names of the configs that asked."""

    keys: tuple[PartKey, ...]
    shapes: tuple[NetworkShape, ...]
    batch_sizes: tuple[int, ...]
    sources: tuple[str, ...]


class LutBuilder:
    """Measures parts with a latency runner and an optional energy meter and fills a LookupTable."""

    def __init__(self, keys: list[PartKey], table: LookupTable, runtime: Any, meter: Any | None,
                 options: MeasureOptions, out: Path, progress: bool = True):
        self.keys, self.table, self.runtime, self.meter = keys, table, runtime, meter
        self.options, self.out, self.progress = options, Path(out), progress

    def todo(self) -> list[PartKey]:
        todo = [k for k in self.keys if str(k) not in self.table.entries]
        random.Random(self.options.seed).shuffle(todo)
        return todo

    def measure_chunk(self, keys: list[PartKey], rng: random.Random) -> list[tuple[PartKey, Any, Any]]:
        """(part, its session, its latency) for each part, timed over interleaved rounds."""

        o = self.options
        models = [part_model(k, o.batch_size, self.runtime, seed=o.seed) for k in keys]
        samples: list[list[float]] = [[] for _ in keys]
        per_round = -(-o.repeats // o.rounds)
        for r in range(o.rounds):
            order = list(range(len(keys)))
            rng.shuffle(order)
            for i in order:
                # Full warm-up on first use; a few calls on later rounds bring caches back, as inside a network.
                for _ in range(o.warmup if r == 0 else max(2, o.warmup // o.rounds)):
                    models[i]()
                samples[i] += sample_calls(models[i], per_round, o.min_seconds / o.rounds)
        return [(k, m, LatencyStats.of(s)) for k, m, s in zip(keys, models, samples)]

    def entry(self, key: PartKey, model: Any, latency: Any) -> dict[str, Any]:
        o = self.options
        entry: dict[str, Any] = {"latency_ms": latency.to_dict(), "energy_mj": None,
                                 "flops": part_flops(key) * o.batch_size, "params": part_params(key)}
        if getattr(model, "notes", None):  # torch on CUDA: graph replay or eager, and why
            entry["runtime_notes"] = model.notes
        if self.meter is not None:
            entry["energy_mj"] = energy_per_call(self.meter, model, latency.median, o.energy_window_s,
                                                 self.table.settings.get("idle_power_w"))
            if self.meter.is_estimate:
                entry["energy_mj"]["estimate"] = "tdp-estimate"
        return entry

    def run(self) -> LookupTable:
        todo = self.todo()
        rng = random.Random(self.options.seed + 1)
        # A bar on a terminal; in a log, a status line at every tenth of the work.
        bar = Progress(len(todo), "measuring parts", "entry", enabled=self.progress,
                       plain_every=max(1, len(todo) // 10))
        for start in range(0, len(todo), self.options.chunk):
            chunk = todo[start: start + self.options.chunk]
            for key, model, latency in self.measure_chunk(chunk, rng):
                # Energy windows are long (seconds on a GPU): each finished entry is saved at once.
                entry = self.entry(key, model, latency)
                self.table.entries[str(key)] = entry
                self.table.save(self.out)
                bar.update(1)
        bar.close()
        return self.table


def new_table(preset: Any, device: Any, runtime: Any, options: MeasureOptions, energy_method: str,
              idle_power_w: float | None, call_overhead_ms: float, config_name: str | None) -> LookupTable:
    settings = {"batch_size": options.batch_size, "dtype": "float32", "warmup": options.warmup,
                "repeats": options.repeats, "rounds": options.rounds, "min_seconds": options.min_seconds,
                "energy_method": energy_method, "energy_is_estimate": energy_method == "tdp-estimate",
                "energy_window_s": options.energy_window_s if energy_method != "none" else None,
                "idle_power_w": idle_power_w, "call_overhead_ms": call_overhead_ms,
                "latency_note": "median of single run() calls, per-call overhead included (see call_overhead_ms)",
                "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                "config": config_name, "measure_options": asdict(options)}
    return LookupTable(device={"preset": preset.name, "preset_settings": preset.to_dict(),
                               "start": device.to_dict()},
                       runtime=runtime_section(runtime),
                       settings=settings)


def check_resumable(old: LookupTable, new: LookupTable) -> None:
    """Resuming must not mix entries measured under different conditions."""
    checks = [("device preset", old.device.get("preset"), new.device.get("preset")),
              ("runtime", table_runtime(old), table_runtime(new)),
              ("CUDA graphs", old.runtime.get("cuda_graphs"), new.runtime.get("cuda_graphs")),
              ("provider", old.runtime.get("provider"), new.runtime.get("provider")),
              ("threads", old.runtime.get("threads"), new.runtime.get("threads")),
              ("batch size", old.settings.get("batch_size"), new.settings.get("batch_size")),
              ("energy method", old.settings.get("energy_method"), new.settings.get("energy_method")),
              ("repeats", old.settings.get("repeats"), new.settings.get("repeats")),
              ("rounds", old.settings.get("rounds"), new.settings.get("rounds"))]
    for what, a, b in checks:
        if a != b:
            raise TndError(f"--resume: {old.path} was measured with {what} {a!r}, this build uses {b!r}; "
                           "resume with the same settings or write a new table (--out)")


__all__ = ["FORMAT", "Coverage", "LutBuilder", "MeasureOptions", "new_table", "check_resumable"]
