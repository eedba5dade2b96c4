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
