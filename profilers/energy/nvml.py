"""GPU energy through NVML: the hardware energy counter where the GPU has one, else integrated power samples.

The counter (Volta and newer) is exact up to its own resolution; older GPUs only report power, so a
background thread polls it faster than the sensor updates and the trace is integrated over the window.
Every NVML failure becomes a one-line ``ProfilerError`` that says what to do instead.
"""

from __future__ import annotations

import threading
import time
from types import ModuleType
from typing import Any, Callable, Sequence

from profilers.energy.base import EnergyReading, run_window
from profilers.errors import ProfilerError

POLL_MIN_S = 0.005
POLL_MAX_S = 0.1
_VOLTA = 5  # NVML_DEVICE_ARCH_VOLTA, used when the binding lacks the constant
_ARCH_UNKNOWN = 0xFFFFFFFF
_NVML_SUCCESS = 0


def load_nvml(nvml: Any = None) -> Any:
    """Return the injected module, or import ``pynvml`` lazily so CPU-only installs never need it."""
    if nvml is not None:
        return nvml
    try:
        import pynvml
    except ImportError as e:
        raise ProfilerError(
            f"nvidia-ml-py is not installed ({e}); pip install nvidia-ml-py or use --energy none"
        ) from None
    return pynvml


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def nvml_error(nvml: Any, err: BaseException, doing: str) -> ProfilerError:
    """Translate an NVMLError (matched by class name, so any binding or fake works) into a ProfilerError."""
    names = {cls.__name__ for cls in type(err).__mro__}
    detail = _one_line(err) or type(err).__name__
    if names & {"NVMLError_LibraryNotFound", "NVMLError_DriverNotLoaded", "NVMLError_FunctionNotFound"}:
        return ProfilerError(
            f"NVML not available (no NVIDIA driver/GPU found): {detail}; use --energy none or run on the GPU machine"
        )
    if "NVMLError_NoPermission" in names:
        return ProfilerError(
            f"NVML permission denied while {doing}: {detail}; run as a user with GPU access or use --energy none"
        )
    if "NVMLError_NotSupported" in names:
        return ProfilerError(
            f"NVML: {doing} is not supported on this GPU: {detail}; use --energy nvml-power-sampling or --energy none"
        )
    if names & {"NVMLError_InvalidArgument", "NVMLError_NotFound", "NVMLError_GpuNotFound"}:
        return ProfilerError(f"NVML: no such GPU while {doing}: {detail}; check --gpu-index against nvidia-smi")
    if "NVMLError_GpuIsLost" in names:
        return ProfilerError(f"NVML: the GPU fell off the bus while {doing}: {detail}; reset the GPU and rerun")
    return ProfilerError(f"NVML error while {doing}: {detail}; use --energy none to skip energy")


def _is_nvml_error(nvml: Any, err: BaseException) -> bool:
    base = getattr(nvml, "NVMLError", None)
    return isinstance(base, type) and isinstance(err, base)


def _call(nvml: Any, doing: str, fn: Callable[..., Any], *args: Any) -> Any:
    """Call an NVML function, turning its errors into ProfilerError."""
    try:
        return fn(*args)
    except Exception as e:
        if _is_nvml_error(nvml, e):
            raise nvml_error(nvml, e, doing) from None
        raise


def _field_value(field: Any) -> float:
    """Read a ``c_nvmlFieldValue_t`` whatever its value type (0 double, 1 uint, 2/3 ulong, 4 sll, 5 sint)."""
    kind = int(getattr(field, "valueType", 1))
    attr = {0: "dVal", 1: "uiVal", 2: "ulVal", 3: "ullVal", 4: "sllVal", 5: "siVal", 6: "usVal"}.get(kind, "uiVal")
    return float(getattr(field.value, attr))


def integrate_mj(samples: Sequence[tuple[float, float]], t0: float, t1: float) -> float:
    """Trapezoid integral of (seconds, mW) samples over [t0, t1] in mJ; edges are linearly interpolated.

    Outside the sampled span the nearest sample is held, so a window shorter than one poll still
    gets an energy instead of zero.
    """
    if not samples:
        raise ValueError("no power samples")
    pts = sorted(samples)
    ts = [t for t, _ in pts]
    ps = [p for _, p in pts]

    def power_at(t: float) -> float:
        if t <= ts[0]:
            return ps[0]
        if t >= ts[-1]:
            return ps[-1]
        lo, hi = 0, len(ts) - 1
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if ts[mid] <= t:
                lo = mid
            else:
                hi = mid
        span = ts[hi] - ts[lo]
        if span <= 0:
            return ps[hi]
        return ps[lo] + (ps[hi] - ps[lo]) * (t - ts[lo]) / span

    inner = [(t, p) for t, p in pts if t0 < t < t1]
    grid = [t0] + [t for t, _ in inner] + [t1]
    vals = [power_at(t0)] + [p for _, p in inner] + [power_at(t1)]
    return sum((vals[i] + vals[i + 1]) * 0.5 * (grid[i + 1] - grid[i]) for i in range(len(grid) - 1))


def infer_update_period_s(read_mw: Callable[[], float], duration_s: float = 0.25) -> float | None:
    """Smallest gap between value changes when reading back-to-back: the sensor's update period.

    A change is only known to lie between the previous read and this one; changes whose bracket is
    wide (the OS preempted us between reads) are dropped, else their jitter would shrink the minimum.
    Only gaps between two kept changes count (the first change comes at a random phase);
    ``None`` when fewer than two were seen, i.e. the period is longer than ``duration_s / 2``.
    """
    start = time.perf_counter()
    end = start + duration_s
    last = read_mw()
    prev_a = start
    reads = 0
    changes: list[tuple[float, float]] = []  # (bracket midpoint, bracket width)
    while True:
        a = time.perf_counter()
        if a >= end:
            break
        v = read_mw()
        b = time.perf_counter()
        reads += 1
        if v != last:
            changes.append((0.5 * (prev_a + b), b - prev_a))
            last = v
        prev_a = a
    max_width = max(1e-3, 4 * duration_s / max(reads, 1))
    kept = [t for t, width in changes if width <= max_width]
    if len(kept) < 2:  # a busy machine preempted nearly every change: jittery beats nothing
        kept = [t for t, _ in changes]
    gaps = [y - x for x, y in zip(kept, kept[1:]) if y > x]
    return min(gaps) if gaps else None


def poll_interval_from_period(period_s: float | None) -> float:
    """Poll at half the update period (Nyquist for a step signal), clamped to [5 ms, 100 ms]."""
    if period_s is None:
        return POLL_MAX_S
    return min(max(period_s / 2.0, POLL_MIN_S), POLL_MAX_S)


class PowerSampler:
    """Background thread storing (perf_counter, mW) samples; zero readings are dropped (sensor not ready)."""

    def __init__(self, read_mw: Callable[[], float], interval_s: float) -> None:
        self._read = read_mw
        self.interval_s = interval_s
        self.samples: list[tuple[float, float]] = []
        self.error: BaseException | None = None
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="nvml-power-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                a = time.perf_counter()
                mw = float(self._read())
                t = 0.5 * (a + time.perf_counter())
            except BaseException as e:  # surfaced by the caller, threads cannot raise
                with self._cond:
                    self.error = e
                    self._cond.notify_all()
                return
            if mw > 0:
                with self._cond:
                    self.samples.append((t, mw))
                    self._cond.notify_all()
            self._stop.wait(self.interval_s)

    def start(self) -> None:
        self._thread.start()

    def wait_for(self, pred: Callable[[], bool], timeout_s: float) -> bool:
        """Block until ``pred`` holds on the samples (or the thread failed); False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self.error is not None or pred(), timeout=timeout_s)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=max(1.0, 5 * self.interval_s))


class NvmlEnergyMeter:
    """Energy of one GPU via NVML; ``method`` says whether the counter or power sampling is used."""

    is_estimate = False

    def __init__(
        self,
        index: int = 0,
        mode: str = "auto",
        nvml: ModuleType | Any = None,
        poll_interval_s: float | None = None,
    ) -> None:
        if mode not in ("auto", "counter", "sampling"):
            raise ProfilerError(f"unknown NVML energy mode {mode!r}; use one of auto, counter, sampling")
        self._nvml = load_nvml(nvml)
        self.index = index
        self._closed = True
        _call(self._nvml, "initialising NVML", self._nvml.nvmlInit)
        self._closed = False
        try:
            self._handle = _call(self._nvml, f"opening GPU {index}", self._nvml.nvmlDeviceGetHandleByIndex, index)
            supported, why = self._counter_supported()
            if mode == "counter" and not supported:
                raise ProfilerError(
                    f"GPU {index} has no NVML energy counter ({why}); use --energy nvml-power-sampling or --energy nvml"
                )
            self.mode = "counter" if (mode != "sampling" and supported) else "sampling"
            self.method = "nvml-energy-counter" if self.mode == "counter" else "nvml-power-sampling"
            self._read_mw = self._pick_power_reader() if self.mode == "sampling" else self._power_usage_mw
            self._poll_interval_s = poll_interval_s
        except BaseException:
            self.close()
            raise

    # -- capability probing -------------------------------------------------------------------

    def _counter_supported(self) -> tuple[bool, str]:
        """Counter needs Volta+ (by architecture when known) and a trial read that works."""
        nv = self._nvml
        volta = int(getattr(nv, "NVML_DEVICE_ARCH_VOLTA", _VOLTA))
        get_arch = getattr(nv, "nvmlDeviceGetArchitecture", None)
        if get_arch is not None:
            try:
                arch = int(get_arch(self._handle))
            except Exception as e:
                if not _is_nvml_error(nv, e):
                    raise
                arch = _ARCH_UNKNOWN  # old driver: let the trial call decide
            if arch != _ARCH_UNKNOWN and arch < volta:
                return False, f"architecture {arch} is older than Volta"
        try:
            nv.nvmlDeviceGetTotalEnergyConsumption(self._handle)
        except Exception as e:
            if not _is_nvml_error(nv, e):
                raise
            return False, _one_line(e) or type(e).__name__
        return True, ""

    def _power_usage_mw(self) -> float:
        return float(self._nvml.nvmlDeviceGetPowerUsage(self._handle))

    def _pick_power_reader(self) -> Callable[[], float]:
        """Prefer the instantaneous field (unaveraged on Ampere+), else the averaged power usage."""
        nv = self._nvml
        field = getattr(nv, "NVML_FI_DEV_POWER_INSTANT", None)
        get_fields = getattr(nv, "nvmlDeviceGetFieldValues", None)
        if field is not None and get_fields is not None:

            def instant_mw() -> float:
                (fv,) = get_fields(self._handle, [field])
                if int(fv.nvmlReturn) != _NVML_SUCCESS:
                    return self._power_usage_mw()
                return _field_value(fv)

            try:
                (fv,) = get_fields(self._handle, [field])
                if int(fv.nvmlReturn) == _NVML_SUCCESS and _field_value(fv) > 0:
                    return instant_mw
            except Exception as e:
                if not _is_nvml_error(nv, e):
                    raise
        _call(nv, "reading GPU power", self._power_usage_mw)
        return self._power_usage_mw

    @property
    def poll_interval_s(self) -> float:
        """Given, or inferred once from the sensor's update period (costs ~0.25 s on first use)."""
        if self._poll_interval_s is None:
            period = _call(self._nvml, "reading GPU power", infer_update_period_s, self._read_mw)
            self._poll_interval_s = poll_interval_from_period(period)
        return self._poll_interval_s

    # -- measuring ------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise ProfilerError("NVML energy meter is closed; create a new one")

    def _counter_mj(self) -> float:
        nv = self._nvml
        return float(_call(nv, "reading the energy counter", nv.nvmlDeviceGetTotalEnergyConsumption, self._handle))

    def measure(self, fn: Callable[[], object], min_window_s: float = 1.0, max_calls: int = 1_000_000) -> EnergyReading:
        """Energy of whole calls of ``fn`` over a window of at least ``min_window_s``."""
        self._check_open()
        if self.mode == "counter":
            e0 = self._counter_mj()
            t0, t1, calls = run_window(fn, min_window_s, max_calls)
            e1 = self._counter_mj()
            total = e1 - e0
        else:
            total, t0, t1, calls = self._measure_sampled(fn, min_window_s, max_calls)
        return EnergyReading(self.method, max(total, 0.0), t1 - t0, calls, self.is_estimate)

    def _measure_sampled(
        self, fn: Callable[[], object], min_window_s: float, max_calls: int
    ) -> tuple[float, float, float, int]:
        interval = self.poll_interval_s
        sampler = PowerSampler(self._read_mw, interval)
        wait_s = max(2.0, 20 * interval)
        sampler.start()
        try:
            # A sample before the window starts, so the left edge is interpolated, not extrapolated.
            if not sampler.wait_for(lambda: bool(sampler.samples), wait_s):
                raise ProfilerError(
                    f"GPU {self.index} reported no non-zero power within {wait_s:.1f}s; use --energy none"
                )
            self._raise_sampler_error(sampler)
            t0, t1, calls = run_window(fn, min_window_s, max_calls)
            sampler.wait_for(lambda: sampler.samples[-1][0] > t1, wait_s)
        finally:
            sampler.stop()
        self._raise_sampler_error(sampler)
        return integrate_mj(sampler.samples, t0, t1), t0, t1, calls

    def _raise_sampler_error(self, sampler: PowerSampler) -> None:
        err = sampler.error
        if err is None:
            return
        if _is_nvml_error(self._nvml, err):
            raise nvml_error(self._nvml, err, "sampling GPU power") from None
        raise err

    def idle_power_w(self, seconds: float = 2.0) -> float:
        """Mean power with nothing running, measured by the same method as ``measure`` so the
        subtraction in ``dynamic_per_call_mj`` compares like with like."""
        step = min(0.05, max(seconds, 0.0))
        reading = self.measure(lambda: time.sleep(step), min_window_s=seconds)
        return reading.total_mj / reading.seconds / 1000.0 if reading.seconds > 0 else 0.0

    def close(self) -> None:
        """Shut NVML down once; further calls are no-ops."""
        if self._closed:
            return
        self._closed = True
        try:
            self._nvml.nvmlShutdown()
        except Exception as e:
            if not _is_nvml_error(self._nvml, e):
                raise

    def __enter__(self) -> "NvmlEnergyMeter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def nvml_device_info(index: int = 0, nvml: ModuleType | Any = None) -> dict:
    """What the GPU is and how it is set up right now (clocks, power cap, temperature), for the report.

    Fields the GPU does not expose are ``None`` rather than an error: the report is still useful.
    """
    nv = load_nvml(nvml)
    _call(nv, "initialising NVML", nv.nvmlInit)
    try:
        h = _call(nv, f"opening GPU {index}", nv.nvmlDeviceGetHandleByIndex, index)

        def get(fn_name: str, *args: Any) -> Any:
            fn = getattr(nv, fn_name, None)
            if fn is None:
                return None
            try:
                return fn(*args)
            except Exception as e:
                if _is_nvml_error(nv, e):
                    return None
                raise

        def text(v: Any) -> str | None:
            return v.decode() if isinstance(v, bytes) else (None if v is None else str(v))

        cc = get("nvmlDeviceGetCudaComputeCapability", h)
        limit = get("nvmlDeviceGetEnforcedPowerLimit", h)
        mem = get("nvmlDeviceGetMemoryInfo", h)
        arch = get("nvmlDeviceGetArchitecture", h)
        return {
            "index": index,
            "name": text(get("nvmlDeviceGetName", h)),
            "driver_version": text(get("nvmlSystemGetDriverVersion")),
            "compute_capability": f"{cc[0]}.{cc[1]}" if cc else None,
            "architecture": int(arch) if arch is not None else None,
            "power_limit_w": limit / 1000.0 if limit is not None else None,
            "sm_clock_mhz": get("nvmlDeviceGetClockInfo", h, getattr(nv, "NVML_CLOCK_SM", 1)),
            "mem_clock_mhz": get("nvmlDeviceGetClockInfo", h, getattr(nv, "NVML_CLOCK_MEM", 2)),
            "temperature_c": get("nvmlDeviceGetTemperature", h, getattr(nv, "NVML_TEMPERATURE_GPU", 0)),
            "memory_total_mib": mem.total / 2**20 if mem is not None else None,
        }
    finally:
        try:
            nv.nvmlShutdown()
        except Exception as e:
            if not _is_nvml_error(nv, e):
                raise
