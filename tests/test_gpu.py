"""On a machine with an NVIDIA GPU (tests marked `gpu`; skipped elsewhere): the real GPU journeys.

A LUT built on the GPU with real NVML energy, the whole-network check, and an exported model benchmarked on
the GPU; once per runtime: ONNX Runtime's CUDA provider (skipped, with the reason, where only the CPU build
of onnxruntime is installed) and PyTorch (`--runtime torch`, which needs nothing beyond torch). Run with
`make gpu-check` on a lent GPU.
"""

import json

import pytest
import yaml

pytestmark = pytest.mark.gpu

TINY = {"name": "gpu-tiny", "dataset": "digits", "channels": 8,
        "stages": [{"cells": 2, "ops": 4, "epochs": 1, "warmup_epochs": 1}],
        "ops": {"normal": ["none", "skip_connect", "max_pool_3x3", "sep_conv_3x3"],
                "reduce": ["none", "skip_connect", "max_pool_3x3", "sep_conv_3x3"]},
        "reward": {"objectives": ["acc"]}, "network": {"channels": 8, "layers": 5}}


@pytest.fixture(scope="module")
def gpu_device():
    from profilers.errors import ProfilerError
    from tnd.search.lut_source import default_device

    try:
        from profilers.devices import detect_gpu

        detect_gpu(0)
    except ProfilerError as e:
        pytest.skip(f"no NVIDIA GPU here: {e}")
    return default_device()


RUNTIMES = ["onnxruntime", "torch"]


GPU_PROVIDER = {"onnxruntime": "CUDAExecutionProvider", "torch": "torch-cuda"}


def on_cuda(table_or_report, runtime: str) -> bool:
    """Whether a table's runtime section, or a bench/validate report, names the runtime's GPU provider."""
    return table_or_report.get("provider") == GPU_PROVIDER[runtime]


@pytest.fixture(scope="module", params=RUNTIMES)
def runtime(request, gpu_device):
    if request.param == "onnxruntime":
        import onnxruntime as ort

        if "CUDAExecutionProvider" not in ort.get_available_providers():
            pytest.skip(f"onnxruntime {ort.__version__} is the CPU build (providers: "
                        f"{', '.join(ort.get_available_providers())}); install onnxruntime-gpu to measure with it")
    return request.param


@pytest.fixture(scope="module")
def gpu_table(gpu_device, runtime, tmp_path_factory):
    from tnd.lut.pipeline import BuildRequest, build_lut
    from tnd.search.lut_source import table_coverage

    d = tmp_path_factory.mktemp(f"gpu-{runtime}")
    (d / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    table = build_lut(BuildRequest(device=gpu_device, coverage=table_coverage([str(d / "tiny.yaml")]), out=str(d / "gpu.json"),
                                   quick=True, progress=False, runtime=runtime), echo=print)
    return table


def test_gpu_table_is_measured_on_cuda_with_real_nvml_energy(gpu_table, runtime):
    assert on_cuda(gpu_table.runtime, runtime), gpu_table.runtime
    assert gpu_table.energy_method in ("nvml-energy-counter", "nvml-power-sampling")
    assert gpu_table.settings["idle_power_w"] > 0
    for key, e in gpu_table.entries.items():
        assert e["latency_ms"]["median"] > 0, key
        assert e["energy_mj"]["total"] > 0, key
        assert e["energy_mj"]["dynamic"] is not None and e["energy_mj"]["dynamic"] >= 0, key
        assert e["energy_mj"]["calls"] >= 1 and e["energy_mj"]["window_s"] >= 0.2, key


def test_gpu_table_validates_on_whole_networks(gpu_table, runtime, tmp_path):
    from tnd.lut.validate import ValidateRequest, validate_lut

    r = validate_lut(ValidateRequest(lut=str(gpu_table.path), samples=8, repeats=30, out=str(tmp_path / "v"),
                                     save_calibration=False, progress=False))
    assert on_cuda(r, runtime), r["provider"]
    assert -1.0 <= r["raw"]["spearman"] <= 1.0 and r["raw"]["mape"] >= 0
    assert "spearman" in r["energy"]   # measured energy is checked too


def test_exported_model_benchmarks_on_the_gpu(gpu_device, gpu_table, runtime, tmp_path):
    import random

    import torch

    from tnd import build_network, export_onnx
    from tnd.deploy.bench import BenchRequest, bench_model
    from tnd.space.genotype import random_genotype

    g = random_genotype(random.Random(0), TINY["ops"]["normal"], TINY["ops"]["reduce"])
    net = build_network(g, channels=8, layers=5, num_classes=10, in_channels=1, input_size=8).eval()
    torch.manual_seed(0)
    export_onnx(net, tmp_path / "m.onnx", metadata={"genotype": g.to_dict()})
    r = bench_model(BenchRequest(model=str(tmp_path / "m.onnx"), device=gpu_device, lut=str(gpu_table.path),
                                 repeats=50, warmup=10, energy_window_s=0.5, json_out=str(tmp_path / "b.json"),
                                 runtime=runtime))
    assert on_cuda(r, runtime) and r["latency_ms"]["median"] > 0, r
    assert r["energy_mj"]["total"] > 0 and not r["energy_mj"]["estimate"]
    assert json.loads((tmp_path / "b.json").read_text())["prediction"]["latency_ms_raw"] > 0


def test_training_on_the_gpu_uses_mixed_precision_and_channels_last(gpu_device, tmp_path, digits):
    import torch

    from tnd.deploy import TrainConfig, export_onnx, train
    from tnd.space.published import published_genotype

    lines = []
    cfg = TrainConfig(dataset="digits", layers=5, channels=8, epochs=2, batch_size=64, lr=0.05, cutout=False,
                      auxiliary=True, drop_path_prob=0.1, max_steps_per_epoch=5, device="cuda")
    g = published_genotype("DARTS_V2")
    result = train(g, cfg, tmp_path / "amp", data=digits, progress=False, echo=lines.append)
    expected = "bf16" if torch.cuda.get_device_capability() >= (8, 0) else "fp16"
    assert lines[0].endswith(f", {expected} mixed precision, channels-last")
    assert all(torch.isfinite(torch.tensor(h["train_loss"])) for h in result["history"])
    report = export_onnx(tmp_path / "amp" / "checkpoint.pt", tmp_path / "amp.onnx")   # float32 inference
    assert max(report.max_abs_diff.values()) < 1e-4
    plain = train(g, TrainConfig(**{**cfg.to_dict(), "amp": False, "channels_last": False}), tmp_path / "fp32",
                  data=digits, progress=False, echo=lines.append)
    headers = [line for line in lines if line.startswith("tnd train:")]
    assert len(headers) == 2 and headers[1].endswith(", float32")
    assert plain["history"][0]["train_loss"] > 0
