"""The PyTorch runtime for the profilers: a module timed eagerly, tables that say which runtime measured
them, and the refusal to compare a table with another runtime's measurements (CPU here; CUDA events and
CUDA-graph replay in the gpu-marked tests at the end)."""

import json

import numpy as np
import pytest
import torch

from profilers.errors import ProfilerError
from profilers.latency import sample_calls, time_calls
from profilers.torch_runtime import TorchModel, TorchSettings, check_torch_stack, measure_torch_overhead
from tnd.cli.main import main
from tnd.errors import TndError
from tnd.lut.build import check_resumable
from tnd.lut.table import LookupTable
from tnd.space.parts import PartKey, part_inputs, part_module

pytestmark = pytest.mark.usefixtures("single_thread")
no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")


# ------------------------------------------------------------------------------------- the model


def test_torch_model_runs_the_module_in_eval_mode_on_its_inputs():
    key = PartKey("sep_conv_3x3", 8, 8, 8, 8, 2)
    torch.manual_seed(0)
    module = part_module(key)
    inputs = part_inputs(key, batch=2)
    model = TorchModel(module, inputs, TorchSettings(threads=1))
    assert not module.training  # BatchNorm uses running statistics, as inference does
    (out,) = model.outputs()
    with torch.no_grad():
        ref = module(*inputs).numpy()
    assert out.shape == ref.shape == (2, 8, 4, 4) and np.array_equal(out, ref)
    assert model.mode == "eager" and model.notes == {}  # notes are about CUDA graphs only


def test_torch_model_samples_single_calls_and_larger_parts_take_longer():
    small = TorchModel(part_module(PartKey("max_pool_3x3", 8, 8, 8, 8, 1)),
                       part_inputs(PartKey("max_pool_3x3", 8, 8, 8, 8, 1)), TorchSettings(threads=1))
    big_key = PartKey("sep_conv_5x5", 64, 64, 32, 32, 1)
    big = TorchModel(part_module(big_key), part_inputs(big_key), TorchSettings(threads=1))
    samples = sample_calls(small, 20)  # the shared sampler, as the LUT builder calls it
    assert len(samples) == 20 and all(s > 0 for s in samples)
    a, b = time_calls(small, warmup=3, repeats=30), time_calls(big, warmup=3, repeats=30)
    assert a.n == b.n == 30 and 0 < a.p10 <= a.median <= a.p90
    assert b.median > 3 * a.median, (a, b)


def test_torch_overhead_is_small_and_positive():
    overhead = measure_torch_overhead(TorchSettings(threads=1), warmup=10, repeats=100)
    assert overhead.n == 100 and 0 < overhead.median < 1.0  # one copy of one float: microseconds, not a ms


def test_torch_settings_are_checked():
    with pytest.raises(ProfilerError, match="cuda:N"):
        TorchSettings(device="gpu")
    s = TorchSettings(device="cuda:1")
    assert s.is_cuda and s.device_id == 1 and s.provider == "torch-cuda" and "cuda-events" in s.timing
    assert TorchSettings().provider == "torch-cpu" and TorchSettings().timing == "perf_counter"


@no_cuda
def test_cuda_without_cuda_is_refused_never_run_on_the_cpu():
    from profilers.devices import load_preset

    with pytest.raises(ProfilerError, match="no CUDA"):
        TorchModel(torch.nn.Identity(), (torch.zeros(1),), TorchSettings(device="cuda:0"))
    with pytest.raises(ProfilerError, match="--runtime onnxruntime"):
        check_torch_stack(load_preset("h100"))
    check_torch_stack(load_preset("cpu"))  # nothing to check on a CPU


# ------------------------------------------------------------------------- tables, validate, bench


@pytest.fixture(scope="module")
def torch_table(tmp_path_factory):
    """A quick table measured with --runtime torch on the CPU, through the CLI."""
    from test_lut import CONFIG

    d = tmp_path_factory.mktemp("torchlut")
    (d / "tiny.yaml").write_text(CONFIG)
    out = d / "torch.json"
    assert main(["lut", "build", "--device", "cpu", "--config", str(d / "tiny.yaml"), "--out", str(out), "--quick",
                 "--runtime", "torch", "--energy", "tdp-estimate", "--no-progress"]) == 0
    return d, out


def test_torch_table_says_torch_measured_it(torch_table):
    from tnd.search.config import load_search_config

    d, out = torch_table
    table = LookupTable.load(out)
    r = table.runtime
    assert r["name"] == "torch" and r["device"] == "cpu" and r["provider"] == "torch-cpu"
    assert r["threads"] == 1 and r["timing"] == "perf_counter" and r["torch"] == torch.__version__
    assert "onnxruntime" not in r
    keys = load_search_config(str(d / "tiny.yaml")).part_keys()
    assert set(table.entries) == {str(k) for k in keys}
    assert all(e["latency_ms"]["median"] > 0 for e in table.entries.values())
    assert 0 < table.call_overhead_ms < 1.0


def test_torch_table_is_refused_by_the_other_runtime(torch_table, capsys):
    _, out = torch_table
    assert main(["lut", "validate", "--lut", str(out), "--samples", "5", "--runtime", "onnxruntime"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "measured with torch" in err and "--runtime torch" in err


def test_torch_table_validates_with_its_own_runtime(torch_table, tmp_path):
    from tnd.lut.validate import ValidateRequest, validate_lut

    _, out = torch_table
    r = validate_lut(ValidateRequest(lut=str(out), samples=5, repeats=5, warmup=2, out=str(tmp_path / "v"),
                                     save_calibration=False, progress=False), echo=lambda s: None)
    assert r["runtime"] == "torch" and r["provider"] == "torch-cpu"
    assert all(n["measured_ms"] > 0 for n in r["networks"])


def test_resuming_a_table_with_another_runtime_is_refused(torch_table, tmp_path):
    _, out = torch_table
    old = LookupTable.load(out)
    new = LookupTable.load(out)
    check_resumable(old, new)
    new.runtime = {"name": "onnxruntime", "provider": "CPUExecutionProvider", "threads": 1}
    with pytest.raises(TndError, match="runtime"):
        check_resumable(old, new)


def test_tables_without_a_runtime_name_are_onnxruntime_tables():
    from tnd.lut.runtime import check_table_runtime, table_runtime

    t = LookupTable(device={"preset": "cpu"}, runtime={"provider": "CPUExecutionProvider", "threads": 1},
                    settings={})
    assert table_runtime(t) == "onnxruntime"
    check_table_runtime(t, "onnxruntime", "bench against it")
    with pytest.raises(TndError, match="measured with onnxruntime, not torch"):
        check_table_runtime(t, "torch", "bench against it")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from tnd import build_network, export_onnx
    from tnd.space.published import published_genotype

    torch.manual_seed(0)
    g = published_genotype("DARTS_V2")
    net = build_network(g, 8, 5, 10, in_channels=1, input_size=8).eval()
    path = tmp_path_factory.mktemp("torchbench") / "model.onnx"
    export_onnx(net, path, metadata={"genotype": g.to_dict()})
    return path


def test_bench_with_torch_rebuilds_the_network_and_refuses_an_onnxruntime_table(exported, tmp_path, capsys):
    from test_bench import table_for
    from tnd.space.published import published_genotype

    out = tmp_path / "b.json"
    assert main(["bench", str(exported), "--device", "cpu", "--no-lut", "--runtime", "torch", "--repeats", "20",
                 "--warmup", "3", "--energy", "none", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["runtime"] == "torch" and r["provider"] == "torch-cpu" and r["latency_ms"]["median"] > 0
    capsys.readouterr()
    ort_table = tmp_path / "cpu.json"
    table_for(published_genotype("DARTS_V2"), ort_table)   # no runtime name: an onnxruntime table
    assert main(["bench", str(exported), "--device", "cpu", "--lut", str(ort_table), "--runtime", "torch",
                 "--energy", "none"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "measured with onnxruntime" in err


# ------------------------------------------------------------------------------------------- GPU


@pytest.fixture
def cuda():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU here")
    return TorchSettings(device="cuda:0")


@pytest.mark.gpu
def test_cuda_part_is_replayed_as_a_graph_and_timed_with_events(cuda):
    key = PartKey("sep_conv_3x3", 16, 16, 32, 32, 1)
    model = TorchModel(part_module(key), part_inputs(key), cuda)
    assert model.mode == "cuda-graph" and model.notes == {"mode": "cuda-graph"}
    eager = TorchModel(part_module(key), part_inputs(key), TorchSettings(device="cuda:0", cuda_graphs=False))
    assert eager.mode == "eager" and eager.notes == {"mode": "eager"}
    g, e = time_calls(model, warmup=10, repeats=50), time_calls(eager, warmup=10, repeats=50)
    assert g.n == e.n == 50 and 0 < g.median and 0 < e.median
    assert g.median < 1.5 * e.median  # replay removes launch costs; it never adds much
    (out,) = model.outputs()
    assert out.shape == (1, 16, 32, 32)


@pytest.mark.gpu
def test_cuda_module_that_cannot_be_captured_runs_eagerly_with_the_reason(cuda):
    class Syncs(torch.nn.Module):
        def forward(self, x):
            return x * float(x.sum().item())  # a host sync: capture refuses it

    model = TorchModel(Syncs(), (torch.ones(4),), cuda)
    assert model.mode == "eager" and model.device.type == "cuda"
    assert "capture" in model.notes["graph_fallback"]
    assert time_calls(model, warmup=2, repeats=10).median > 0


@pytest.mark.gpu
def test_cuda_torch_table(cuda, tmp_path):
    from test_lut import CONFIG
    from tnd.search.lut_source import default_device

    (tmp_path / "tiny.yaml").write_text(CONFIG)
    out = tmp_path / "gpu.json"
    assert main(["lut", "build", "--device", default_device(), "--config", str(tmp_path / "tiny.yaml"), "--out",
                 str(out), "--quick", "--runtime", "torch", "--energy", "none", "--no-progress"]) == 0
    table = LookupTable.load(out)
    assert table.runtime["name"] == "torch" and table.runtime["device"] == "cuda:0"
    assert table.runtime["timing"].startswith("cuda-events")
    assert all(e["runtime_notes"]["mode"] in ("cuda-graph", "eager") for e in table.entries.values())
