"""Distributed helpers: torchrun's environment, and two real gloo processes under torchrun."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tnd import distributed as D
from tnd.errors import TndError

ROOT = Path(__file__).resolve().parents[1]


def test_without_torchrun_everything_is_one_process():
    assert D.dist_env({}) == D.DistEnv(0, 1, 0, launched=False)
    assert D.rank() == 0 and D.world_size() == 1 and D.is_main()
    assert D.split_work([1, 2, 3]) == [1, 2, 3]
    t = torch.tensor([3.0, 4.0])
    assert D.gather_work(t, 2) is t and D.gather_objects(["a"], 1) == ["a"]
    with pytest.raises(ValueError, match="share"):
        D.gather_work(t, 3)
    lin = torch.nn.Linear(2, 2)
    lin(torch.ones(1, 2)).sum().backward()
    grad = lin.weight.grad.clone()
    D.average_gradients(lin.parameters(), check=True)
    assert torch.equal(lin.weight.grad, grad)
    assert D.broadcast_object(5) == 5 and D.any_rank(True) and not D.any_rank(False)
    assert D.shared_seed(7) == 7 and isinstance(D.shared_seed(None), int)
    a, b = D.shared_generator(3), D.shared_generator(3)
    assert torch.equal(torch.rand(4, generator=a), torch.rand(4, generator=b))
    assert D.init_process_group(torch.device("cpu"), D.DistEnv()) == D.DistEnv()  # not launched: nothing joined


def test_torchrun_environment_is_read_and_checked():
    env = D.dist_env({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"})
    assert (env.rank, env.world_size, env.local_rank, env.launched, env.is_main) == (3, 4, 1, True, False)
    with pytest.raises(TndError, match="torchrun"):
        D.dist_env({"RANK": "0"})
    with pytest.raises(TndError, match="integers"):
        D.dist_env({"RANK": "a", "WORLD_SIZE": "2", "LOCAL_RANK": "0"})
    with pytest.raises(TndError, match="inconsistent"):
        D.dist_env({"RANK": "2", "WORLD_SIZE": "2", "LOCAL_RANK": "0"})
    assert D.backend_for(torch.device("cpu")) == "gloo" and D.backend_for(torch.device("cuda", 0)) == "nccl"


def _torchrun() -> list[str]:
    exe = Path(sys.executable).with_name("torchrun")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "torch.distributed.run"]


def test_two_gloo_processes_under_torchrun(tmp_path):
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "OMP_NUM_THREADS": "1"}
    for k in D.TORCHRUN_VARS:
        env.pop(k, None)
    proc = subprocess.run([*_torchrun(), "--standalone", "--nproc_per_node=2", str(ROOT / "tests" / "dist_worker.py"),
                           str(tmp_path)], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rank0.ok", "rank1.ok", "result.json"]
