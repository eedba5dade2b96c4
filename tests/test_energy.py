"""Energy meters against a scripted fake NVML and a fake RAPL sysfs tree; one real-GPU test (skipped without one)."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

import pytest

from profilers.energy import (
    CHOICES,
    METHODS,
    EnergyMeter,
    EnergyReading,
    NvmlEnergyMeter,
    RaplEnergyMeter,
    TdpEstimateMeter,
    make_energy_meter,
    nvml_device_info,
)
from profilers.energy.cpu import RaplDomain, wrapped_delta_uj
from profilers.energy.nvml import integrate_mj, poll_interval_from_period
from profilers.errors import ProfilerError

# --------------------------------------------------------------------------------------------
# A scripted fake of the pynvml module
# --------------------------------------------------------------------------------------------


class NVMLError(Exception):
    def __init__(self, value: int = 999, msg: str = "") -> None:
        super().__init__(value)
        self.value = value
        self.msg = msg

    def __str__(self) -> str:
        return self.msg or f"NVML error {self.value}"


class NVMLError_LibraryNotFound(NVMLError):
    pass


class NVMLError_DriverNotLoaded(NVMLError):
    pass


class NVMLError_NotSupported(NVMLError):
    pass


class NVMLError_NoPermission(NVMLError):
    pass


class NVMLError_InvalidArgument(NVMLError):
    pass


class NVMLError_GpuIsLost(NVMLError):
    pass


PERIOD_S = 0.25


def sine_power_w(t: float) -> float:
    """100 W + 50 W * sin(2 pi t / 0.25 s): fast enough that a poor integrator would show it."""
    return 100.0 + 50.0 * math.sin(2 * math.pi * t / PERIOD_S)


def sine_energy_mj(a: float, b: float) -> float:
    """Analytic integral of ``sine_power_w`` over [a, b], in mJ."""
    w = 2 * math.pi / PERIOD_S
    return 1000.0 * (100.0 * (b - a) + 50.0 / w * (math.cos(w * a) - math.cos(w * b)))


class FakeNvml:
    """Just the pynvml surface the meter uses; power is a function of ``time.perf_counter()``."""

    NVMLError = NVMLError
    NVMLError_LibraryNotFound = NVMLError_LibraryNotFound
    NVMLError_DriverNotLoaded = NVMLError_DriverNotLoaded
    NVMLError_NotSupported = NVMLError_NotSupported
    NVMLError_NoPermission = NVMLError_NoPermission
    NVMLError_InvalidArgument = NVMLError_InvalidArgument
    NVMLError_GpuIsLost = NVMLError_GpuIsLost
    NVML_FI_DEV_POWER_INSTANT = 186
    NVML_DEVICE_ARCH_VOLTA = 5
    NVML_CLOCK_SM = 1
    NVML_CLOCK_MEM = 2
    NVML_TEMPERATURE_GPU = 0

    def __init__(
        self,
        arch: int = 7,
        power_w: Callable[[float], float] = sine_power_w,
        counter: bool = True,
        counter_step_mj: float | None = None,
        field_ok: bool = True,
        init_error: Exception | None = None,
        fail_power_after: int | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.clock = clock
        self.arch = arch
        self.power_w = power_w
        self.counter = counter
        self.counter_step_mj = counter_step_mj
        self.field_ok = field_ok
        self.init_error = init_error
        self.fail_power_after = fail_power_after
        self.inits = 0
        self.shutdowns = 0
        self.field_reads = 0
        self.usage_reads = 0
        self.counter_reads = 0

    # lifecycle
    def nvmlInit(self) -> None:
        if self.init_error is not None:
            raise self.init_error
        self.inits += 1

    def nvmlShutdown(self) -> None:
        self.shutdowns += 1

    def nvmlDeviceGetHandleByIndex(self, index: int) -> str:
        if index != 0:
            raise NVMLError_InvalidArgument(2, "Invalid Argument")
        return "gpu0"

    # capabilities
    def nvmlDeviceGetArchitecture(self, handle: str) -> int:
        return self.arch

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: str) -> int:
        if not self.counter or self.arch < self.NVML_DEVICE_ARCH_VOLTA:
            raise NVMLError_NotSupported(3, "Not Supported")
        self.counter_reads += 1
        if self.counter_step_mj is not None:
            return int(1_000_000 + self.counter_step_mj * self.counter_reads)
        return int(250.0 * time.perf_counter() * 1000.0)  # a constant 250 W

    # power
    def _mw(self) -> int:
        n = self.field_reads + self.usage_reads
        if self.fail_power_after is not None and n > self.fail_power_after:
            raise NVMLError_GpuIsLost(15, "GPU is lost")
        return int(round(self.power_w(self.clock()) * 1000.0))

    def nvmlDeviceGetFieldValues(self, handle: str, field_ids: list[int]) -> list[SimpleNamespace]:
        assert field_ids == [self.NVML_FI_DEV_POWER_INSTANT]
        self.field_reads += 1
        if not self.field_ok:
            return [SimpleNamespace(fieldId=186, valueType=1, nvmlReturn=3, value=SimpleNamespace(uiVal=0))]
        return [SimpleNamespace(fieldId=186, valueType=1, nvmlReturn=0, value=SimpleNamespace(uiVal=self._mw()))]

    def nvmlDeviceGetPowerUsage(self, handle: str) -> int:
        self.usage_reads += 1
        return self._mw()

    # info
    def nvmlDeviceGetName(self, handle: str) -> bytes:
        return b"NVIDIA A100-SXM4-40GB"

    def nvmlSystemGetDriverVersion(self) -> str:
        return "535.104.05"

    def nvmlDeviceGetCudaComputeCapability(self, handle: str) -> tuple[int, int]:
        return (8, 0)

    def nvmlDeviceGetEnforcedPowerLimit(self, handle: str) -> int:
        return 400_000

    def nvmlDeviceGetClockInfo(self, handle: str, clock: int) -> int:
        return {1: 1410, 2: 1215}[clock]

    def nvmlDeviceGetTemperature(self, handle: str, sensor: int) -> int:
        raise NVMLError_NotSupported(3, "Not Supported")

    def nvmlDeviceGetMemoryInfo(self, handle: str) -> SimpleNamespace:
        return SimpleNamespace(total=40 * 2**30, used=0, free=40 * 2**30)


class Recorder:
    """A workload that sleeps and remembers when the first call started and the last ended."""

    def __init__(self, sleep_s: float = 0.01) -> None:
        self.sleep_s = sleep_s
        self.calls = 0
        self.first_start: float | None = None
        self.last_end = 0.0

    def __call__(self) -> None:
        if self.first_start is None:
            self.first_start = time.perf_counter()
        time.sleep(self.sleep_s)
        self.calls += 1
        self.last_end = time.perf_counter()


# --------------------------------------------------------------------------------------------
# EnergyReading and the measuring window
# --------------------------------------------------------------------------------------------


def test_reading_per_call_and_dynamic_split() -> None:
    r = EnergyReading("rapl", total_mj=10_000.0, seconds=2.0, calls=100, is_estimate=False)
    assert r.per_call_mj == pytest.approx(100.0)
    # 3 W idle over 2 s = 6000 mJ, leaving 4000 mJ / 100 calls
    assert r.dynamic_per_call_mj(3.0) == pytest.approx(40.0)
    assert r.dynamic_per_call_mj(10.0) == 0.0  # noise below idle clips at zero
    assert "none" in METHODS and "nvml-energy-counter" in METHODS


def test_window_covers_min_window_with_whole_calls() -> None:
    meter = TdpEstimateMeter(tdp_w=50.0, cores_used=1, cores_total=1)
    work = Recorder(0.03)
    r = meter.measure(work, min_window_s=0.1)
    assert r.seconds >= 0.1
    assert r.calls == work.calls
    assert r.calls >= 3  # 0.1 s of 0.03 s calls needs at least four, allow scheduler slack
    assert r.seconds >= work.last_end - work.first_start  # the window holds every call entirely


def test_window_respects_max_calls_and_makes_at_least_one_call() -> None:
    meter = TdpEstimateMeter(tdp_w=50.0, cores_used=1, cores_total=1)
    assert meter.measure(Recorder(0.001), min_window_s=10.0, max_calls=3).calls == 3
    assert meter.measure(Recorder(0.0), min_window_s=0.0).calls == 1


# --------------------------------------------------------------------------------------------
# NVML counter mode
# --------------------------------------------------------------------------------------------


def test_counter_mode_reports_counter_difference_per_call() -> None:
    fake = FakeNvml(arch=7, counter_step_mj=7000.0)
    with NvmlEnergyMeter(0, mode="auto", nvml=fake) as meter:
        assert meter.method == "nvml-energy-counter"
        assert isinstance(meter, EnergyMeter)
        work = Recorder(0.005)
        r = meter.measure(work, min_window_s=0.02)
    # one read before and one after the window: exactly one step of 7000 mJ
    assert r.total_mj == pytest.approx(7000.0)
    assert r.calls == work.calls
    assert r.per_call_mj == pytest.approx(7000.0 / work.calls)
    assert r.method == "nvml-energy-counter" and not r.is_estimate
    assert fake.shutdowns == 1


def test_counter_mode_matches_constant_power() -> None:
    fake = FakeNvml(arch=8)
    with NvmlEnergyMeter(0, mode="counter", nvml=fake) as meter:
        r = meter.measure(Recorder(0.01), min_window_s=0.1)
        idle = meter.idle_power_w(0.1)
    assert r.total_mj == pytest.approx(250.0 * r.seconds * 1000.0, rel=0.01)
    assert idle == pytest.approx(250.0, rel=0.01)


# --------------------------------------------------------------------------------------------
# NVML sampling mode
# --------------------------------------------------------------------------------------------


def test_sampling_integrates_known_trace_within_one_percent() -> None:
    fake = FakeNvml(arch=7)
    with NvmlEnergyMeter(0, mode="sampling", nvml=fake, poll_interval_s=0.005) as meter:
        assert meter.method == "nvml-power-sampling"
        work = Recorder(0.01)
        r = meter.measure(work, min_window_s=0.5)
    assert work.first_start is not None
    expected = sine_energy_mj(work.first_start, work.last_end)
    assert r.total_mj == pytest.approx(expected, rel=0.01)
    assert r.calls == work.calls
    assert fake.field_reads > 20  # the instantaneous field was preferred (loose: a loaded CI polls late)
    assert fake.usage_reads == 0


def test_sampling_falls_back_to_power_usage_when_field_fails() -> None:
    fake = FakeNvml(arch=7, field_ok=False, power_w=lambda t: 80.0)
    with NvmlEnergyMeter(0, mode="sampling", nvml=fake, poll_interval_s=0.005) as meter:
        r = meter.measure(Recorder(0.01), min_window_s=0.1)
    assert fake.usage_reads > 5
    assert r.total_mj == pytest.approx(80.0 * r.seconds * 1000.0, rel=0.01)


def test_sampling_drops_zero_readings() -> None:
    t_start = time.perf_counter()
    # the sensor reads 0 for the first 50 ms (not ready), then a steady 60 W
    fake = FakeNvml(arch=7, power_w=lambda t: 0.0 if t - t_start < 0.05 else 60.0)
    with NvmlEnergyMeter(0, mode="sampling", nvml=fake, poll_interval_s=0.005) as meter:
        r = meter.measure(Recorder(0.01), min_window_s=0.1)
    assert r.total_mj == pytest.approx(60.0 * r.seconds * 1000.0, rel=0.01)


def test_integrate_interpolates_window_edges() -> None:
    samples = [(0.0, 0.0), (1.0, 1000.0), (2.0, 1000.0)]  # mW
    # ramp 0->1000 mW over [0,1]; window [0.5, 1.5]: 0.5*(500+1000)/2 + 0.5*1000 = 875 mJ
    assert integrate_mj(samples, 0.5, 1.5) == pytest.approx(875.0)
    # a window between two samples is interpolated on both edges
    assert integrate_mj(samples, 0.25, 0.75) == pytest.approx(250.0)


class VirtualClock:
    """perf_counter that advances 20 us per read, so the inference test does not depend on CPU load."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        self.t += 20e-6
        return self.t


def test_poll_interval_inferred_from_sensor_update_period(monkeypatch: pytest.MonkeyPatch) -> None:
    import profilers.energy.nvml as nvml_mod

    clock = VirtualClock()
    monkeypatch.setattr(nvml_mod, "time", SimpleNamespace(perf_counter=clock, sleep=time.sleep))
    # a sensor that updates every 20 ms: poll at 10 ms
    fake = FakeNvml(arch=4, power_w=lambda t: 100.0 + (math.floor(t / 0.02) % 7), clock=clock)
    with NvmlEnergyMeter(0, mode="sampling", nvml=fake) as meter:
        assert meter.poll_interval_s == pytest.approx(0.01, abs=1e-4)
    # a sensor that never changes within the probe: the period is long, poll at the 100 ms cap
    with NvmlEnergyMeter(0, mode="sampling", nvml=FakeNvml(arch=4, power_w=lambda t: 90.0, clock=clock)) as meter:
        assert meter.poll_interval_s == pytest.approx(0.1)
    monkeypatch.undo()
    # a sensor that changes on every read: clamp at 5 ms
    with NvmlEnergyMeter(0, mode="sampling", nvml=FakeNvml(arch=7)) as meter:
        assert meter.poll_interval_s == pytest.approx(0.005)
    assert poll_interval_from_period(None) == 0.1
    assert poll_interval_from_period(10.0) == 0.1


def test_sampler_error_becomes_profiler_error() -> None:
    fake = FakeNvml(arch=7, fail_power_after=10)
    with NvmlEnergyMeter(0, mode="sampling", nvml=fake, poll_interval_s=0.005) as meter:
        with pytest.raises(ProfilerError, match="fell off the bus"):
            meter.measure(Recorder(0.01), min_window_s=0.2)


# --------------------------------------------------------------------------------------------
# NVML fallbacks and errors
# --------------------------------------------------------------------------------------------


def test_pascal_auto_falls_back_to_sampling() -> None:
    fake = FakeNvml(arch=4, power_w=lambda t: 120.0)  # Pascal: no energy counter
    with NvmlEnergyMeter(0, mode="auto", nvml=fake, poll_interval_s=0.005) as meter:
        assert meter.method == "nvml-power-sampling"
        r = meter.measure(Recorder(0.01), min_window_s=0.05)
    assert r.method == "nvml-power-sampling"
    assert r.total_mj == pytest.approx(120.0 * r.seconds * 1000.0, rel=0.01)
    assert fake.counter_reads == 0


def test_volta_without_working_counter_falls_back_to_sampling() -> None:
    fake = FakeNvml(arch=7, counter=False)
    meter = make_energy_meter("nvml", nvml=fake)
    assert isinstance(meter, NvmlEnergyMeter)
    assert meter.method == "nvml-power-sampling"
    meter.close()
    meter.close()  # idempotent
    assert fake.shutdowns == 1


def test_forcing_counter_on_pascal_raises() -> None:
    fake = FakeNvml(arch=4)
    with pytest.raises(ProfilerError) as info:
        NvmlEnergyMeter(0, mode="counter", nvml=fake)
    msg = str(info.value)
    assert "energy counter" in msg and "nvml-power-sampling" in msg and "\n" not in msg
    assert fake.shutdowns == fake.inits == 1  # NVML is not left initialised


def test_nvml_init_failure_is_one_line_profiler_error() -> None:
    fake = FakeNvml(init_error=NVMLError_LibraryNotFound(12, "NVML Shared Library Not Found"))
    with pytest.raises(ProfilerError) as info:
        make_energy_meter("nvml-energy-counter", nvml=fake)
    msg = str(info.value)
    assert msg.startswith("NVML not available (no NVIDIA driver/GPU found)")
    assert "NVML Shared Library Not Found" in msg and "--energy none" in msg
    assert "\n" not in msg


@pytest.mark.parametrize(
    ("err", "needle"),
    [
        (NVMLError_DriverNotLoaded(9, "Driver Not Loaded"), "NVML not available"),
        (NVMLError_NoPermission(4, "Insufficient\nPermissions"), "permission denied"),
        (NVMLError(999, "Unknown Error"), "NVML error"),
    ],
)
def test_other_nvml_errors_become_profiler_errors(err: Exception, needle: str) -> None:
    with pytest.raises(ProfilerError, match=needle) as info:
        NvmlEnergyMeter(nvml=FakeNvml(init_error=err))
    assert "\n" not in str(info.value)


def test_bad_gpu_index_and_mode() -> None:
    with pytest.raises(ProfilerError, match="no such GPU"):
        NvmlEnergyMeter(3, nvml=FakeNvml())
    with pytest.raises(ProfilerError, match="unknown NVML energy mode"):
        NvmlEnergyMeter(0, mode="fast", nvml=FakeNvml())


def test_device_info_from_fake() -> None:
    fake = FakeNvml(arch=7)
    info = nvml_device_info(0, nvml=fake)
    assert info["name"] == "NVIDIA A100-SXM4-40GB"
    assert info["driver_version"] == "535.104.05"
    assert info["compute_capability"] == "8.0"
    assert info["architecture"] == 7
    assert info["power_limit_w"] == pytest.approx(400.0)
    assert (info["sm_clock_mhz"], info["mem_clock_mhz"]) == (1410, 1215)
    assert info["temperature_c"] is None  # not supported -> None, not a crash
    assert info["memory_total_mib"] == pytest.approx(40 * 1024)
    assert fake.shutdowns == 1


# --------------------------------------------------------------------------------------------
# RAPL and the TDP estimate
# --------------------------------------------------------------------------------------------


def _zone(root: Path, name: str, label: str, energy: int, max_range: int) -> Path:
    d = root / name
    d.mkdir()
    (d / "name").write_text(label + "\n")
    (d / "energy_uj").write_text(f"{energy}\n")
    (d / "max_energy_range_uj").write_text(f"{max_range}\n")
    return d


def test_rapl_sums_packages_and_handles_wraparound(tmp_path: Path) -> None:
    max_range = 262_143_328_850
    p0 = _zone(tmp_path, "intel-rapl:0", "package-0", max_range - 1_000, max_range)
    p1 = _zone(tmp_path, "intel-rapl:1", "package-1", 100, max_range)
    core = _zone(tmp_path, "intel-rapl:0:0", "core", 5, max_range)  # inside package-0: not counted
    psys = _zone(tmp_path, "intel-rapl:2", "psys", 5, max_range)  # overlaps packages: not counted

    def work() -> None:
        (p0 / "energy_uj").write_text("500\n")  # wrapped: 1000 + 500 uJ
        (p1 / "energy_uj").write_text("2100\n")  # 2000 uJ
        (core / "energy_uj").write_text("999999\n")
        (psys / "energy_uj").write_text("999999\n")

    assert RaplEnergyMeter.available(tmp_path)
    meter = make_energy_meter("rapl", rapl_root=tmp_path)
    assert isinstance(meter, RaplEnergyMeter)
    assert [d.name for d in meter.domains] == ["package-0", "package-1"]
    r = meter.measure(work, min_window_s=0.0)
    assert r.calls == 1
    assert r.total_mj == pytest.approx(3.5)
    assert r.method == "rapl" and not r.is_estimate
    assert wrapped_delta_uj(10, 30, 100) == 20


def test_rapl_idle_power(tmp_path: Path) -> None:
    _zone(tmp_path, "intel-rapl:0", "package-0", 0, 10**12)
    meter = RaplEnergyMeter(tmp_path)
    # nothing writes the counter: it stays put, so idle power is zero (and the window still ran)
    assert meter.idle_power_w(0.05) == 0.0


def test_rapl_missing_or_unreadable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ProfilerError, match="no RAPL package domains"):
        RaplEnergyMeter(tmp_path)
    assert not RaplEnergyMeter.available(tmp_path)

    _zone(tmp_path, "intel-rapl:0", "package-0", 0, 10**12)

    def denied(self: RaplDomain) -> int:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(RaplDomain, "read_uj", denied)  # root can read anything, so fake the EACCES
    with pytest.raises(ProfilerError) as info:
        RaplEnergyMeter(tmp_path)
    msg = str(info.value)
    assert "permission denied" in msg and "sudo chmod" in msg and "--energy tdp-estimate" in msg
    assert "\n" not in msg
    assert not RaplEnergyMeter.available(tmp_path)


def test_tdp_estimate_is_labelled_and_scaled() -> None:
    meter = TdpEstimateMeter(tdp_w=100.0, cores_used=4, cores_total=16)
    r = meter.measure(Recorder(0.01), min_window_s=0.05)
    assert r.is_estimate and r.method == "tdp-estimate"
    assert r.total_mj == pytest.approx(100.0 * 4 / 16 * r.seconds * 1000.0)
    assert meter.idle_power_w() == 0.0
    assert r.dynamic_per_call_mj(meter.idle_power_w()) == pytest.approx(r.per_call_mj)
    with pytest.raises(ProfilerError):
        TdpEstimateMeter(tdp_w=0.0, cores_used=1, cores_total=4)
    with pytest.raises(ProfilerError):
        TdpEstimateMeter(tdp_w=65.0, cores_used=8, cores_total=4)


# --------------------------------------------------------------------------------------------
# make_energy_meter
# --------------------------------------------------------------------------------------------


def test_make_energy_meter_choices(tmp_path: Path) -> None:
    assert make_energy_meter("none") is None
    tdp = make_energy_meter("tdp-estimate", tdp_w=65.0, cores_used=1)
    assert isinstance(tdp, TdpEstimateMeter)
    assert tdp.cores_total == (os.cpu_count() or 1)
    # no readable RAPL under tmp_path: auto-cpu falls back to the estimate
    assert isinstance(make_energy_meter("auto-cpu", tdp_w=65.0, rapl_root=tmp_path), TdpEstimateMeter)
    with pytest.raises(ProfilerError, match="--tdp WATTS"):
        make_energy_meter("auto-cpu", rapl_root=tmp_path)
    _zone(tmp_path, "intel-rapl:0", "package-0", 0, 10**12)
    assert isinstance(make_energy_meter("auto-cpu", rapl_root=tmp_path), RaplEnergyMeter)
    sampling = make_energy_meter("nvml-power-sampling", nvml=FakeNvml(arch=8))
    assert isinstance(sampling, NvmlEnergyMeter) and sampling.method == "nvml-power-sampling"
    sampling.close()


def test_make_energy_meter_unknown_lists_choices() -> None:
    with pytest.raises(ProfilerError) as info:
        make_energy_meter("bogus")
    msg = str(info.value)
    assert "bogus" in msg
    assert all(c in msg for c in CHOICES)


# --------------------------------------------------------------------------------------------
# Real GPU
# --------------------------------------------------------------------------------------------


@pytest.mark.gpu
def test_real_nvml_meter() -> None:
    pynvml = pytest.importorskip("pynvml")
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as e:
        pytest.skip(f"no NVML here: {e}")
    pynvml.nvmlShutdown()
    info = nvml_device_info(0)
    assert info["name"]
    with NvmlEnergyMeter(0) as meter:
        assert meter.method in ("nvml-energy-counter", "nvml-power-sampling")
        work = Recorder(0.01)
        r = meter.measure(work, min_window_s=0.5)
        idle = meter.idle_power_w(0.5)
    assert r.seconds >= 0.5 and r.calls == work.calls
    assert r.total_mj > 0
    assert 1.0 < r.mean_power_w < 2000.0
    assert 0.0 < idle < 2000.0
