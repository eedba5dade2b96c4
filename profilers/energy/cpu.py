"""CPU energy: RAPL package counters where Linux exposes them, else a labelled TDP-share estimate.

RAPL measures the whole package (all cores, uncore, other processes), which is why ``idle_power_w``
matters for the dynamic split. The TDP estimate is a fallback for machines without readable RAPL
(laptops behind a locked sysfs, ARM boards, VMs); it is always marked ``is_estimate``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from profilers.energy.base import EnergyReading, run_window
from profilers.errors import ProfilerError

DEFAULT_RAPL_ROOT = Path("/sys/class/powercap")


@dataclass(frozen=True)
class RaplDomain:
    """One package domain: its counter file and the value where that counter wraps to zero."""

    path: Path
    name: str
    max_energy_uj: int

    def read_uj(self) -> int:
        return int((self.path / "energy_uj").read_text().strip())


def _package_dirs(root: Path) -> list[Path]:
    """Top-level ``intel-rapl:N`` zones named ``package-*``; sub-zones (``intel-rapl:N:M``: core, dram)
    and ``psys`` are skipped because they overlap the package and would count energy twice."""
    out = []
    for d in sorted(root.glob("intel-rapl:*")):
        if d.name.count(":") != 1 or not d.is_dir():
            continue
        name_file = d / "name"
        try:
            name = name_file.read_text().strip() if name_file.exists() else "package"
        except OSError:
            name = "package"
        if name.startswith("package"):
            out.append(d)
    return out


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _open_domains(root: Path) -> list[RaplDomain]:
    """Read each package domain once so unreadable counters fail here, not mid-measurement."""
    dirs = _package_dirs(root)
    if not dirs:
        raise ProfilerError(
            f"no RAPL package domains under {root} (not a Linux x86 machine, or the powercap driver is not "
            "loaded); use --energy tdp-estimate"
        )
    domains = []
    for d in dirs:
        try:
            name = (d / "name").read_text().strip() if (d / "name").exists() else d.name
            max_uj = int((d / "max_energy_range_uj").read_text().strip())
            dom = RaplDomain(d, name, max_uj)
            dom.read_uj()
        except PermissionError:
            raise ProfilerError(
                f"RAPL counter {d / 'energy_uj'} is not readable (permission denied); run "
                f"`sudo chmod a+r {root}/intel-rapl:*/energy_uj` or use --energy tdp-estimate"
            ) from None
        except (OSError, ValueError) as e:
            raise ProfilerError(
                f"RAPL counter in {d} is unreadable ({_one_line(e)}); use --energy tdp-estimate"
            ) from None
        domains.append(dom)
    return domains


def wrapped_delta_uj(before: int, after: int, max_energy_uj: int) -> int:
    """Counter difference allowing for one wrap-around at ``max_energy_uj``.

    One wrap is all that can be corrected: windows must stay shorter than max_energy_uj / power
    (typically tens of minutes), which the profiler's windows always are.
    """
    return after - before if after >= before else after + (max_energy_uj - before)


class RaplEnergyMeter:
    """Energy of all CPU packages from the Linux powercap RAPL counters."""

    method = "rapl"
    is_estimate = False

    def __init__(self, root: str | Path = DEFAULT_RAPL_ROOT) -> None:
        self.root = Path(root)
        self.domains = _open_domains(self.root)

    @staticmethod
    def available(root: str | Path = DEFAULT_RAPL_ROOT) -> bool:
        """True when at least one package counter exists and every one is readable by this user."""
        try:
            _open_domains(Path(root))
        except ProfilerError:
            return False
        return True

    def _read_all(self) -> list[int]:
        try:
            return [d.read_uj() for d in self.domains]
        except PermissionError:
            raise ProfilerError(
                f"RAPL counters under {self.root} became unreadable (permission denied); run "
                f"`sudo chmod a+r {self.root}/intel-rapl:*/energy_uj` or use --energy tdp-estimate"
            ) from None
        except (OSError, ValueError) as e:
            raise ProfilerError(f"RAPL counter read failed ({_one_line(e)}); use --energy tdp-estimate") from None

    def measure(self, fn: Callable[[], object], min_window_s: float = 1.0, max_calls: int = 1_000_000) -> EnergyReading:
        """Package energy over whole calls of ``fn`` in a window of at least ``min_window_s``."""
        before = self._read_all()
        t0, t1, calls = run_window(fn, min_window_s, max_calls)
        after = self._read_all()
        uj = sum(wrapped_delta_uj(b, a, d.max_energy_uj) for b, a, d in zip(before, after, self.domains))
        return EnergyReading(self.method, uj / 1000.0, t1 - t0, calls, self.is_estimate)

    def idle_power_w(self, seconds: float = 2.0) -> float:
        """Package power while this process sleeps (other processes still count: RAPL cannot tell them apart)."""
        step = min(0.05, max(seconds, 0.0))
        r = self.measure(lambda: time.sleep(step), min_window_s=seconds)
        return r.total_mj / r.seconds / 1000.0 if r.seconds > 0 else 0.0

    def close(self) -> None:
        """Nothing to release: files are opened per read."""

    def __enter__(self) -> "RaplEnergyMeter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class TdpEstimateMeter:
    """Energy = TDP x share of cores used x time. A rough upper-bound style estimate, always labelled so.

    It has no notion of idle, so ``idle_power_w`` is 0 and the dynamic energy equals the total.
    """

    tdp_w: float
    cores_used: int
    cores_total: int
    method: str = field(default="tdp-estimate", init=False)
    is_estimate: bool = field(default=True, init=False)

    def __post_init__(self) -> None:
        if not self.tdp_w > 0:
            raise ProfilerError(f"TDP must be positive, got {self.tdp_w} W; pass the CPU's TDP with --tdp WATTS")
        if self.cores_total < 1 or not 1 <= self.cores_used <= self.cores_total:
            raise ProfilerError(
                f"cores used ({self.cores_used}) must be between 1 and the core count ({self.cores_total}); "
                "fix --threads"
            )

    @property
    def power_w(self) -> float:
        """The constant power the estimate charges while the model runs."""
        return self.tdp_w * self.cores_used / self.cores_total

    def measure(self, fn: Callable[[], object], min_window_s: float = 1.0, max_calls: int = 1_000_000) -> EnergyReading:
        """Time whole calls of ``fn`` and charge the TDP share for that time."""
        t0, t1, calls = run_window(fn, min_window_s, max_calls)
        seconds = t1 - t0
        return EnergyReading(self.method, self.power_w * seconds * 1000.0, seconds, calls, self.is_estimate)

    def idle_power_w(self, seconds: float = 2.0) -> float:
        """Always 0.0: the estimate has no idle/dynamic split, so nothing is subtracted."""
        return 0.0

    def close(self) -> None:
        """Nothing to release."""

    def __enter__(self) -> "TdpEstimateMeter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
