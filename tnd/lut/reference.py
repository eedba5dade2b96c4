"""A device's reference measurements: the latency of a space's fixed reference networks on that device.

They are all a conditioned search (``tnd.search.conditioned``) needs to know of a device it never saw:
``tnd lut reference`` measures them (the whole networks, exported and timed with the table's runtime) or
reads them from a tabular benchmark's column, and ``tnd derive RUN --device-features FILE`` derives the
front for that device from them alone. One record, ``tnd-reference/1``, JSON (no pickles).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from tnd import atomic
from tnd.errors import TndError
from tnd.space.nb201 import NB201Arch
from tnd.space.nb201.reference import REFERENCE_ARCHS

FORMAT = "tnd-reference/1"


@dataclass
class ReferenceMeasurements:
    device: str
    archs: list[str]                 # the reference networks, in REFERENCE_ARCHS order (NB201 strings)
    latency_ms: list[float]          # one per arch
    source: str                      # "measured" (this machine, with ``runtime``) or "table" (a tabular column)
    detail: str                      # how: runtime, threads and batch, or the table and column
    space: str = "nb201"
    date: str = ""

    def __post_init__(self) -> None:
        if len(self.archs) != len(self.latency_ms):
            raise TndError(f"reference measurements of {self.device}: {len(self.archs)} networks but "
                           f"{len(self.latency_ms)} latencies")
        if [str(a) for a in REFERENCE_ARCHS] != list(self.archs):
            raise TndError(f"reference measurements of {self.device} are for other networks than this version's "
                           f"{len(REFERENCE_ARCHS)} NB201 reference cells; measure again with `tnd lut reference`")
        bad = [v for v in self.latency_ms if not (isinstance(v, (int, float)) and 0 < v < float("inf"))]
        if bad:
            raise TndError(f"reference measurements of {self.device}: every latency must be a positive, finite "
                           f"number of ms, got {bad[0]!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, **asdict(self)}

    def save(self, path: str | Path) -> Path:
        atomic.write_json(Path(path), self.to_dict())
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> "ReferenceMeasurements":
        p = Path(path)
        try:
            d = json.loads(p.read_text())
        except FileNotFoundError:
            raise TndError(f"reference measurements {p} not found; write them with `tnd lut reference --device "
                           "NAME --out FILE`") from None
        except (OSError, ValueError) as e:
            raise TndError(f"reference measurements {p} are not readable JSON ({e})") from None
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise TndError(f"{p} is not a reference-measurements file ({FORMAT}); write one with `tnd lut reference`")
        try:
            return cls(**{k: v for k, v in d.items() if k != "format"})
        except TypeError as e:
            raise TndError(f"reference measurements {p} are damaged ({e}); measure again") from None


def from_table(path: str | Path, column: str, device: str | None = None) -> ReferenceMeasurements:
    """The reference networks' latencies read from a tabular benchmark's ``column`` (in ms)."""
    from tnd.data.tabular import TabularBenchmark

    bench = TabularBenchmark.load(path, _accuracy_column(path), {"latency": column}, NB201Arch.parse)
    missing = [str(a) for a in REFERENCE_ARCHS if a not in bench]
    if missing:
        raise TndError(f"tabular benchmark {path} has no row for the reference network {missing[0]}")
    values = [float(bench.costs["latency"][bench.index(a)]) for a in REFERENCE_ARCHS]
    return ReferenceMeasurements(device or column, [str(a) for a in REFERENCE_ARCHS], values, "table",
                                 f"column {column} of {Path(path).name}", date=_now())


def _accuracy_column(path: str | Path) -> str:
    """Any numeric column to satisfy the loader (only the latency column is used)."""
    from tnd.data.tabular import table_columns

    cols = [c for c in table_columns(path) if c != "arch"]
    if not cols:
        raise TndError(f"tabular benchmark {path} has no column besides 'arch'")
    return cols[0]


def measure(device: str, runtime: str = "onnxruntime", threads: int | None = None, warmup: int = 20,
            repeats: int = 100, allow_mismatch: bool = False,
            progress: Callable[[str], None] | None = None) -> ReferenceMeasurements:
    """Time each reference network (NB201 macro network, CIFAR shape, batch 1) on this machine with the
    device preset's runtime settings, as ``tnd bench`` times an exported model."""
    import torch

    from profilers.devices import check_device, detect, load_preset
    from profilers.latency import time_calls
    from tnd.lut.runtime import check_runtime_name, check_runtime_stack, module_model, runtime_settings
    from tnd.space.nb201 import NB201Shape, build_nb201_network

    preset = load_preset(device)
    check_device(preset, detect(preset), allow_mismatch)
    check_runtime_stack(check_runtime_name(runtime), preset)
    threads = (threads or preset.threads) if preset.kind == "cpu" else None
    settings = runtime_settings(runtime, preset, threads)
    shape = NB201Shape()
    x = torch.randn(1, 3, shape.input_size, shape.input_size, generator=torch.Generator().manual_seed(0))
    values = []
    for i, arch in enumerate(REFERENCE_ARCHS):
        net = build_nb201_network(arch, shape).eval()
        stats = time_calls(module_model(net, (x,), settings), warmup, repeats)
        values.append(float(stats.median))
        if progress:
            progress(f"[{i + 1}/{len(REFERENCE_ARCHS)}] {arch}: {stats.median:.4f} ms")
    return ReferenceMeasurements(preset.name, [str(a) for a in REFERENCE_ARCHS], values, "measured",
                                 f"{runtime}, {threads or 'all'} thread(s), batch 1, median of {repeats}",
                                 date=_now())


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def reference_costs(measurements: ReferenceMeasurements, expected: Sequence[str]) -> list[float]:
    """The latencies in the order a run's policy reads them; a run with other reference networks refuses."""
    if list(expected) != list(measurements.archs):
        raise TndError(f"the run's policy was trained on other reference networks than {measurements.device}'s "
                       "measurements; measure them again with this version's `tnd lut reference`")
    return list(measurements.latency_ms)
