"""Device presets, detection checks, the software-stack check, ONNX Runtime timing and the build CLI's refusals."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from profilers.devices import (PRESETS_DIR, DetectedDevice, available_presets, check_device, check_stack,
                               detect_cpu, load_preset)
from profilers.errors import ProfilerError
from profilers.latency import (OrtModel, RuntimeSettings, identity_model_bytes, measure_call_overhead,
                               time_calls)
from profilers.stats import LatencyStats

ROOT = Path(__file__).resolve().parents[1]
REQUIRED = ("1080ti", "v100", "t4", "a100", "rtx3090", "rtx4090", "h100", "h200", "cpu")
VOLTA_PLUS = ("v100", "t4", "a100", "rtx3090", "rtx4090", "h100", "h200")


def _nvml_gpu_present() -> bool:
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            return pynvml.nvmlDeviceGetCount() > 0
        finally:
            pynvml.nvmlShutdown()
    except Exception:
        return False


# ------------------------------------------------------------------------------------------ presets


def test_required_presets_exist():
    names = available_presets()
    for name in REQUIRED:
        assert name in names
    assert names == sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


@pytest.mark.parametrize("name", available_presets())
def test_every_preset_loads(name):
    p = load_preset(name)
    assert p.name == name
    assert p.kind in ("gpu", "cpu")
    assert p.tdp_w > 0
    assert p.match, "a preset must say which device names it matches"
    if p.kind == "gpu":
        assert p.provider == "CUDAExecutionProvider"
        assert p.cc is not None and len(p.cc) == 2
    else:
        assert p.provider == "CPUExecutionProvider"
    d = p.to_dict()
    assert d["name"] == name and isinstance(d["match"], list)


def test_energy_methods_by_architecture():
    assert load_preset("1080ti").energy == "nvml-power-sampling"
    assert load_preset("1080ti").cc == (6, 1)
    for name in VOLTA_PLUS:
        p = load_preset(name)
        assert p.energy == "nvml-energy-counter", name
        assert p.cc >= (7, 0), name
    assert load_preset("cpu").energy in ("auto-cpu", "rapl", "tdp-estimate")


def test_unknown_preset_lists_presets():
    with pytest.raises(ProfilerError) as e:
        load_preset("nosuch")
    msg = str(e.value)
    assert "nosuch" in msg
    for name in REQUIRED:
        assert name in msg


_GOOD = {"kind": "gpu", "match": ["Foo"], "architecture": "x", "compute_capability": "8.0",
         "energy": "nvml-energy-counter", "tdp_w": 100, "provider": "CUDAExecutionProvider"}


def _write_preset(tmp_path, name, text):
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


def _yaml(d):
    import yaml

    return yaml.safe_dump(d)


def test_tmp_preset_good(tmp_path):
    _write_preset(tmp_path, "foo", _yaml(_GOOD))
    p = load_preset("foo", tmp_path)
    assert p.name == "foo" and p.cc == (8, 0) and p.match == ("Foo",)
    assert available_presets(tmp_path) == ["foo"]


def test_malformed_preset_unknown_key_names_file(tmp_path):
    path = _write_preset(tmp_path, "bad", _yaml({**_GOOD, "colour": "green"}))
    with pytest.raises(ProfilerError) as e:
        load_preset("bad", tmp_path)
    assert str(path) in str(e.value)
    assert "colour" in str(e.value)


def test_malformed_preset_bad_yaml_names_file(tmp_path):
    path = _write_preset(tmp_path, "bad", "kind: gpu\nmatch: [unclosed\n  tdp_w: : :\n")
    with pytest.raises(ProfilerError) as e:
        load_preset("bad", tmp_path)
    assert str(path) in str(e.value)
    assert "\n" not in str(e.value)


def test_malformed_preset_missing_field_names_file(tmp_path):
    d = dict(_GOOD)
    del d["tdp_w"]
    path = _write_preset(tmp_path, "bad", _yaml(d))
    with pytest.raises(ProfilerError) as e:
        load_preset("bad", tmp_path)
    assert str(path) in str(e.value)


def test_malformed_preset_bad_kind_is_refused(tmp_path):
    _write_preset(tmp_path, "bad", _yaml({**_GOOD, "kind": "tpu"}))
    with pytest.raises(ProfilerError, match="kind"):
        load_preset("bad", tmp_path)


@pytest.mark.parametrize("override", [{"kind": "tpu"}, {"energy": "magic"}, {"provider": "FooProvider"},
                                      {"compute_capability": "eight"}, {"tdp_w": -1}])
def test_malformed_preset_bad_value_names_file(tmp_path, override):
    path = _write_preset(tmp_path, "bad", _yaml({**_GOOD, **override}))
    with pytest.raises(ProfilerError) as e:
        load_preset("bad", tmp_path)
    assert str(path) in str(e.value)


def test_malformed_preset_not_a_mapping(tmp_path):
    path = _write_preset(tmp_path, "bad", "- kind: gpu\n- tdp_w: 3\n")
    with pytest.raises(ProfilerError) as e:
        load_preset("bad", tmp_path)
    assert str(path) in str(e.value)


# ------------------------------------------------------------------------------------ device checks


def test_check_device_refuses_mismatch_and_allow_mismatch_passes():
    preset = load_preset("h100")
    other = DetectedDevice("gpu", "NVIDIA GeForce GTX 1080 Ti")
    with pytest.raises(ProfilerError) as e:
        check_device(preset, other)
    msg = str(e.value)
    assert "h100" in msg and "GTX 1080 Ti" in msg and "--allow-mismatch" in msg
    check_device(preset, other, allow_mismatch=True)
    check_device(preset, DetectedDevice("gpu", "NVIDIA H100 80GB HBM3"))
    check_device(load_preset("1080ti"), other)


def test_check_device_cpu_preset_matches_this_cpu():
    cpu = detect_cpu()
    assert cpu.kind == "cpu" and cpu.name
    assert cpu.details["cores_usable"] >= 1
    check_device(load_preset("cpu"), cpu)


GPU_PROVIDERS = ["CUDAExecutionProvider", "CPUExecutionProvider"]


@pytest.mark.parametrize("ort_cuda, torch_cuda", [("13.0", "12.6"), ("12.6", "13.0"), ("13.0", "13.0")])
def test_check_stack_refuses_1080ti_with_cuda13(ort_cuda, torch_cuda):
    with pytest.raises(ProfilerError) as e:
        check_stack(load_preset("1080ti"), providers=GPU_PROVIDERS, ort_cuda=ort_cuda, torch_cuda=torch_cuda)
    msg = str(e.value)
    assert "6.1" in msg and "13" in msg and "CUDA 12" in msg
    assert "\n" not in msg


def test_check_stack_accepts_good_stacks():
    check_stack(load_preset("h100"), providers=GPU_PROVIDERS, ort_cuda="13.0", torch_cuda="13.0")
    check_stack(load_preset("t4"), providers=GPU_PROVIDERS, ort_cuda="13.0", torch_cuda="13.0")
    check_stack(load_preset("1080ti"), providers=GPU_PROVIDERS, ort_cuda="12.6", torch_cuda="12.6")
    check_stack(load_preset("cpu"), providers=["CPUExecutionProvider"], ort_cuda="13.0", torch_cuda="13.0")


def test_check_stack_refuses_missing_provider():
    with pytest.raises(ProfilerError, match="CUDAExecutionProvider"):
        check_stack(load_preset("h100"), providers=["CPUExecutionProvider"], ort_cuda="13.0", torch_cuda="13.0")


# ---------------------------------------------------------------------------------------- latency


def test_ort_cuda_fallback_is_refused():
    import onnxruntime as ort

    try:
        model = OrtModel(identity_model_bytes(), RuntimeSettings(provider="CUDAExecutionProvider"))
    except ProfilerError as e:
        msg = str(e)
        assert "CUDAExecutionProvider" in msg
        if "CUDAExecutionProvider" in ort.get_available_providers():
            assert "CPUExecutionProvider" in msg  # it fell back, and says so
        return
    # CUDA really works here
    assert model.session.get_providers()[0] == "CUDAExecutionProvider"
    pytest.skip("CUDA works on this machine; the fallback cannot be provoked")


def test_ort_cpu_model_runs_and_outputs():
    model = OrtModel(identity_model_bytes(), RuntimeSettings(threads=1))
    assert model.session.get_providers()[0] == "CPUExecutionProvider"
    (x,) = model.feeds.values()
    assert x.shape == (1,) and x.dtype == np.float32
    out = model.outputs()
    assert np.array_equal(out[0], x)
    model()


def test_ort_bad_model_is_profiler_error():
    with pytest.raises(ProfilerError, match="could not load"):
        OrtModel(b"not an onnx model", RuntimeSettings())


def test_latency_stats_percentiles():
    s = LatencyStats.of([float(v) for v in range(1, 12)])  # 1..11
    assert s.median == 6.0 and s.p10 == 2.0 and s.p90 == 10.0 and s.n == 11
    assert s.spread == 5.0
    s = LatencyStats.of([4.0, 1.0, 3.0, 2.0])  # numpy linear interpolation
    assert s.median == 2.5
    assert s.p10 == pytest.approx(1.3) and s.p90 == pytest.approx(3.7)
    s = LatencyStats.of([7.0])
    assert (s.median, s.p10, s.p90, s.n) == (7.0, 7.0, 7.0, 1)
    assert s.spread == 1.0
    with pytest.raises(ValueError):
        LatencyStats.of([])
    m = LatencyStats(5.0, 1.0, 9.0, 3).minus(2.0)
    assert (m.median, m.p10, m.p90, m.n) == (3.0, 0.0, 7.0, 3)
    assert LatencyStats(1.0, 0.0, 2.0, 2).spread == float("inf")
    assert LatencyStats.of([1.0, 2.0]).to_dict() == {"median": 1.5, "p10": pytest.approx(1.1),
                                                     "p90": pytest.approx(1.9), "n": 2}


def test_time_calls_counts_and_warmup():
    calls = []
    stats = time_calls(lambda: calls.append(1), warmup=3, repeats=7)
    assert len(calls) == 10 and stats.n == 7
    assert 0 <= stats.p10 <= stats.median <= stats.p90


def test_time_calls_min_seconds_keeps_sampling():
    import time

    stats = time_calls(lambda: time.sleep(0.001), warmup=0, repeats=2, min_seconds=0.03)
    assert stats.n > 2
    assert stats.median >= 1.0


def test_call_overhead_positive_and_below_1ms():
    stats = measure_call_overhead(RuntimeSettings(threads=1), warmup=20, repeats=200)
    assert stats.n == 200
    assert 0 < stats.median < 1.0


# ------------------------------------------------------------------------------------------- CLI


def _run_tool(*args, timeout=120):
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(ROOT / "tools" / "build_lut.py"), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, env=env)


def test_build_lut_1080ti_without_gpu_is_one_line(tmp_path):
    if _nvml_gpu_present():
        pytest.skip("an NVIDIA GPU with NVML is present")
    r = _run_tool("--device", "1080ti", "--out", str(tmp_path / "t.json"))
    assert r.returncode == 2
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("tnd: error: ")
    assert "NVIDIA GPU" in lines[0] or "NVML" in lines[0]
    assert "Traceback" not in r.stderr + r.stdout
    assert not (tmp_path / "t.json").exists()


def test_build_lut_unknown_device_lists_presets(tmp_path):
    r = _run_tool("--device", "nosuch", "--out", str(tmp_path / "t.json"))
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("tnd: error: ")
    for name in REQUIRED:
        assert name in lines[0]


def test_drift_warnings_flag_throttling_and_heat():
    from profilers.devices import drift_warnings

    start = {"sm_clock_mhz": 1980, "mem_clock_mhz": 2619, "temperature_c": 40, "power_limit_w": 700.0}
    assert drift_warnings(start, dict(start)) == []
    hot = {**start, "sm_clock_mhz": 1500, "temperature_c": 70}
    warnings = drift_warnings(start, hot)
    assert any("SM clock fell from 1980 to 1500" in w for w in warnings)
    assert any("temperature rose from 40 to 70" in w for w in warnings)
    assert drift_warnings({"name": "cpu"}, {"name": "cpu"}) == []
