"""The compute device (auto|cpu|cuda[:N]) and the mixed-precision policy; CUDA itself in gpu-marked tests."""

import pytest
import torch

from tnd.compute import (AmpPolicy, amp_policy, check_compute_spec, choose_amp, configure_backends,
                         describe_compute, resolve_compute)
from tnd.errors import TndError

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusals on a machine without CUDA")


@pytest.mark.parametrize("spec", ["auto", "cpu", "cuda", "cuda:0", "cuda:12"])
def test_compute_specs_accepted(spec):
    assert check_compute_spec(spec) == spec


@pytest.mark.parametrize("spec", ["gpu", "CPU", "cuda:", "cuda:x", "cuda:-1", "mps", "", None])
def test_compute_specs_refused_with_the_choices(spec):
    with pytest.raises(TndError, match=r"auto \(CUDA when available\), cpu, cuda or cuda:N"):
        check_compute_spec(spec)


def test_cpu_resolves_to_the_cpu():
    d = resolve_compute("cpu")
    assert d == torch.device("cpu")
    assert configure_backends(d) == {"cudnn_benchmark": False}
    assert describe_compute(d).startswith("cpu (")


@no_cuda
def test_without_cuda_auto_is_the_cpu_and_cuda_is_an_error_not_a_fallback():
    assert resolve_compute("auto") == torch.device("cpu")
    assert resolve_compute("auto", local_rank=1) == torch.device("cpu")
    for spec in ("cuda", "cuda:0", "cuda:3"):
        with pytest.raises(TndError, match="--compute cpu") as e:
            resolve_compute(spec)
        assert spec in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("device_type, capability, enabled, dtype, scaler", [
    ("cpu", None, True, None, False),
    ("cuda", (9, 0), True, "bfloat16", False),     # H100
    ("cuda", (8, 0), True, "bfloat16", False),     # A100
    ("cuda", (7, 5), True, "float16", True),       # T4: no bf16, so fp16 with loss scaling
    ("cuda", (6, 1), True, "float16", True),       # GTX 1080 Ti
    ("cuda", (9, 0), False, None, False),          # turned off by flag
])
def test_amp_policy_choice(device_type, capability, enabled, dtype, scaler):
    p = choose_amp(device_type, capability, enabled)
    assert p.dtype == dtype and p.enabled == (dtype is not None) and p.needs_scaler == scaler
    assert p.device_type == device_type and p.reason
    assert p.to_dict()["dtype"] == dtype
    assert ("off" in p.describe()) == (dtype is None)


def test_amp_off_on_cpu_is_plain_float32():
    p = amp_policy(torch.device("cpu"))
    assert not p.enabled and p == choose_amp("cpu", None)
    lin = torch.nn.Linear(4, 3)
    x = torch.randn(2, 4)
    with p.autocast():
        out = lin(x)
    assert out.dtype == torch.float32 and torch.equal(out, lin(x))
    scaler = p.grad_scaler()
    loss = out.sum()
    assert not scaler.is_enabled() and scaler.scale(loss) is loss   # passes through unchanged


def test_train_config_refuses_a_bad_compute_device():
    from tnd.deploy.train import TrainConfig

    with pytest.raises(TndError, match="'device' must be auto"):
        TrainConfig(device="gpu0")
    assert TrainConfig(device="cuda:1").device == "cuda:1"  # syntax only: probed when training starts


@pytest.mark.gpu
def test_cuda_resolves_and_amp_runs_in_the_chosen_precision():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU here")
    d = resolve_compute("auto")
    assert d == torch.device("cuda", 0) and resolve_compute("cuda") == d
    assert configure_backends(d) == {"cudnn_benchmark": True} and torch.backends.cudnn.benchmark
    assert "cuda:0 (" in describe_compute(d)
    p = amp_policy(d)
    assert p.enabled and isinstance(p, AmpPolicy)
    lin = torch.nn.Linear(8, 4).to(d)
    opt = torch.optim.SGD(lin.parameters(), lr=0.1)
    with p.autocast():
        out = lin(torch.randn(16, 8, device=d))
    assert out.dtype == getattr(torch, p.dtype)
    scaler = p.grad_scaler()
    assert scaler.is_enabled() == p.needs_scaler
    before = lin.weight.detach().clone()
    scaler.scale(out.float().pow(2).mean()).backward()
    scaler.step(opt)
    scaler.update()
    assert not torch.equal(before, lin.weight.detach())
    assert not amp_policy(d, enabled=False).enabled


@no_cuda
def test_gpu_benchmark_says_it_needs_a_gpu_and_exits_0(capsys):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_search_gpu.py"
    spec = importlib.util.spec_from_file_location("bench_search_gpu", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main([]) == 0
    assert "needs a CUDA GPU" in capsys.readouterr().out


# ------------------------------------------------------------------- the search on its compute device

SEARCH = {
    "dataset": "digits", "channels": 8, "network": {"channels": 8, "layers": 5},
    "stages": [{"cells": 2, "ops": 8, "epochs": 2, "warmup_epochs": 1}],
    "weights": {"lr": 0.1, "steps_per_epoch": 3},
    "policy": {"samples": 2, "alpha_every": 1},
    "reward": {"objectives": ["acc", "params"], "targets": {"params": "20k"}},
}


def _tiny_yaml(tmp_path, **extra):
    import yaml

    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump({**SEARCH, **extra}))
    return str(path)


def test_search_records_where_it_computed_and_whose_costs_it_optimised(tmp_path, capsys):
    import json

    from tnd.cli.main import main

    out = tmp_path / "run"
    assert main(["search", "--config", _tiny_yaml(tmp_path), "--compute", "cpu", "--no-amp", "--out", str(out),
                 "--no-progress"]) == 0
    header = capsys.readouterr().out
    assert "compute: cpu (" in header and "mixed precision off" in header and "hardware whose costs" in header
    run = json.loads((out / "result.json").read_text())["run"]
    assert run["compute"] == "cpu" and run["amp"]["dtype"] is None and "counted" in run["hardware"]
    saved = json.loads(json.dumps(__import__("yaml").safe_load((out / "config.yaml").read_text())))
    assert saved["compute"] == "cpu" and saved["amp"] is False


@no_cuda
def test_search_on_cuda_without_cuda_is_an_error_not_a_cpu_run(tmp_path, capsys):
    from tnd.cli.main import main

    out = tmp_path / "run"
    assert main(["search", "--config", _tiny_yaml(tmp_path), "--compute", "cuda", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--compute cpu" in err and not (out / "result.json").exists()
    assert main(["search", "--config", _tiny_yaml(tmp_path), "--compute", "gpu0", "--out", str(out)]) == 2
    assert "compute device must be" in capsys.readouterr().err


def test_device_is_the_old_name_of_hardware_in_search_and_of_compute_in_train(capsys):
    import argparse

    from tnd.cli import search as search_cli
    from tnd.cli import train as train_cli
    from tnd.cli.main import build_parser

    parser = build_parser()
    args = parser.parse_args(["search", "--device", "1080ti"])
    assert search_cli.overrides_from(args)["cost.device"] == "1080ti"
    assert "--device is now --hardware" in capsys.readouterr().err
    assert search_cli.overrides_from(parser.parse_args(["search", "--hardware", "h100", "--compute", "cuda:1"])) \
        == {"cost.device": "h100", "compute": "cuda:1"}
    with pytest.raises(TndError, match="disagree"):
        search_cli.overrides_from(parser.parse_args(["search", "--device", "a", "--hardware", "b"]))
    targs = parser.parse_args(["train", "--genotype", "DARTS_V2", "--device", "cpu", "--out", "x"])
    assert train_cli.overrides_from(targs)["device"] == "cpu"
    assert "--device is now --compute" in capsys.readouterr().err
    assert isinstance(targs, argparse.Namespace)


@pytest.mark.gpu
def test_search_runs_on_the_gpu_with_mixed_precision(tmp_path):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU here")
    import json

    from tnd.cli.main import main

    out = tmp_path / "run"
    assert main(["search", "--config", _tiny_yaml(tmp_path), "--compute", "cuda", "--out", str(out),
                 "--no-progress"]) == 0
    result = json.loads((out / "result.json").read_text())
    assert result["run"]["compute"].startswith("cuda") and result["run"]["amp"]["dtype"] in ("bfloat16", "float16")
    assert 0 <= result["genotypes"][0]["objectives"]["accuracy"] <= 1
    # resume on the GPU continues from the checkpoint and finishes (not bit-identical there: cuDNN autotuning)
    cut = tmp_path / "cut"
    from tnd.search.config import load_search_config
    from tnd.search.run import run_search

    cfg = load_search_config(_tiny_yaml(tmp_path, compute="cuda"))
    assert run_search(cfg, cut, progress=False, stop_after_epochs=1, echo=lambda s: None) is None
    assert run_search(cfg, cut, resume=True, progress=False, echo=lambda s: None)["run"]["compute"].startswith("cuda")
