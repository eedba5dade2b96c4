"""SIGTERM becomes a stop request: the loop checkpoints at its next step and exits with EXIT_PREEMPTED."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path


from tnd import preemption

ROOT = Path(__file__).resolve().parents[1]

LOOP = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from tnd import preemption

    out = Path(sys.argv[1])
    preemption.install()
    step = 0
    print("ready", flush=True)
    while True:
        time.sleep(0.01)            # one training step
        step += 1
        if preemption.stop_requested() and sys.argv[2] == "obey":
            out.write_text(str(step))   # the checkpoint, at a step boundary
            sys.exit(preemption.EXIT_PREEMPTED)
""")


def _start(tmp_path, mode):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", LOOP, str(tmp_path / "ckpt"), mode], env=env,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_sigterm_checkpoints_at_a_step_boundary_and_exits_75(tmp_path):
    proc = _start(tmp_path, "obey")
    time.sleep(0.1)
    assert proc.poll() is None  # still stepping: nothing stops it but the signal
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == preemption.EXIT_PREEMPTED == 75
    assert int((tmp_path / "ckpt").read_text()) > 0


def test_a_second_sigterm_ends_the_process_at_once(tmp_path):
    proc = _start(tmp_path, "ignore")   # a loop that never reaches its checkpoint
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    assert proc.poll() is None          # the first one only asked
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == -signal.SIGTERM
    assert not (tmp_path / "ckpt").exists()


def test_handler_is_installed_and_removed_in_process():
    before = signal.getsignal(signal.SIGTERM)
    with preemption.handle_preemption():
        assert not preemption.stop_requested()
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(100):  # the handler runs between bytecodes of the main thread
            if preemption.stop_requested():
                break
            time.sleep(0.01)
        assert preemption.stop_requested()
    assert signal.getsignal(signal.SIGTERM) == before and not preemption.stop_requested()
    preemption.request_stop()
    assert preemption.stop_requested()
    preemption.uninstall()
    assert not preemption.stop_requested()


# ---------------------------------------------------------------------------- the search loop

def test_a_search_stopped_mid_epoch_resumes_bit_identically(tmp_path, digits, monkeypatch):
    """A stop requested during an epoch in which alpha learns: checkpoint at the next step, then resume
    gives the uninterrupted run's genotypes and log, line for line."""
    import pytest
    import torch

    from tnd.search.config import load_search_config
    from tnd.search.progressive import ProgressiveSearch
    from tnd.search.run import run_search
    from test_search_run import TINY

    cfg = load_search_config(None, TINY)
    full = run_search(cfg, tmp_path / "full", data=digits, progress=False, echo=lambda s: None)
    step, calls = ProgressiveSearch._weight_step, []

    def counting(self, *a, **k):
        calls.append(1)
        if len(calls) == 9:        # epoch 2 of stage 1 (alpha learning since epoch 2), after its 3rd step
            preemption.request_stop()
        return step(self, *a, **k)

    monkeypatch.setattr(ProgressiveSearch, "_weight_step", counting)
    try:
        with pytest.raises(preemption.Preempted, match="step 3 of epoch 2.*--resume"):
            run_search(cfg, tmp_path / "cut", data=digits, progress=False, echo=lambda s: None)
    finally:
        preemption.uninstall()     # forget the request
    saved = torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=True)
    assert saved["partial"]["step"] == 3 and saved["partial"]["val_drawn"] == 1 and saved["epoch"] == 1
    assert not (tmp_path / "cut" / "result.json").exists()
    monkeypatch.setattr(ProgressiveSearch, "_weight_step", step)
    resumed = run_search(cfg, tmp_path / "cut", resume=True, data=digits, progress=False, echo=lambda s: None)
    assert resumed["genotypes"] == full["genotypes"]
    assert (tmp_path / "cut" / "log.jsonl").read_text() == (tmp_path / "full" / "log.jsonl").read_text()


def test_sigterm_stops_tnd_search_with_exit_75_and_resume_finishes_it(tmp_path):
    import yaml

    from test_search_run import TINY

    cfg = {**TINY, "weights": {**TINY["weights"], "steps_per_epoch": 16}}
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(cfg))
    out = tmp_path / "run"
    argv = [sys.executable, "-m", "tnd", "search", "--config", str(tmp_path / "tiny.yaml"), "--out", str(out),
            "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and '"event": "epoch"' not in _read(out / "log.jsonl"):
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == preemption.EXIT_PREEMPTED, stderr[-2000:]
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("tnd: stopped on request: checkpoint written at step") and "--resume" in last
    assert "Traceback" not in stderr and (out / "checkpoint.pt").is_file() and not (out / "result.json").exists()
    # the folder remembers the stop, for job scripts behind a launcher that hides the 75 (torchrun)
    status = [sys.executable, "-m", "tnd", "status", str(out)]
    stopped = subprocess.run(status, env=env, capture_output=True, text=True, timeout=60)
    assert stopped.returncode == 75 and ": stopped: stopped on request at step" in stopped.stdout
    done = subprocess.run(argv + ["--resume"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (out / "result.json").is_file() and not (out / preemption.STOPPED).exists()
    finished = subprocess.run(status, env=env, capture_output=True, text=True, timeout=60)
    assert finished.returncode == 0 and ": finished: search finished" in finished.stdout


def test_tnd_status_tells_a_run_folder_apart_with_exit_codes(tmp_path, capsys):
    from tnd.cli.main import main

    run = tmp_path / "run"
    run.mkdir()
    assert main(["status", str(run)]) == 1 and ": not started:" in capsys.readouterr().out
    (run / "checkpoint.pt").write_bytes(b"x")
    assert main(["status", str(run)]) == 1 and "without a stop request" in capsys.readouterr().out
    preemption.mark_stopped(run, run / "checkpoint.pt", "step 3 of epoch 2")
    assert main(["status", str(run)]) == 75 and "at step 3 of epoch 2" in capsys.readouterr().out
    (run / "train.json").write_text("{}")
    assert main(["status", str(run)]) == 0 and "training finished" in capsys.readouterr().out
    assert main(["status", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("tnd: error: ") and "does not exist" in err and len(err.splitlines()) == 1


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def test_a_training_stopped_mid_epoch_resumes_bit_identically(tmp_path, digits, monkeypatch):
    """tnd train: a stop in the middle of epoch 2 (cutout, drop-path, auxiliary head all drawing random
    numbers), then --resume: the same weights and history as a run never stopped."""
    import pytest
    import torch

    import importlib

    from tnd.deploy import TrainConfig
    from tnd.deploy.checkpoint import load_checkpoint
    from tnd.space import published_genotype
    from test_deploy import QUIET, TINY

    T = importlib.import_module("tnd.deploy.train")   # the module (tnd.deploy.train is also the function)
    g = published_genotype("DARTS_V2")
    cfg = TrainConfig(**{**TINY, "max_steps_per_epoch": 4})
    full = T.train(g, cfg, tmp_path / "full", data=digits, **QUIET)
    step, calls = T._step, []

    def counting(*a, **k):
        calls.append(1)
        if len(calls) == 6:          # epoch 2, after its 2nd step
            preemption.request_stop()
        return step(*a, **k)

    monkeypatch.setattr(T, "_step", counting)
    try:
        with pytest.raises(preemption.Preempted, match="step 2 of epoch 2.*--resume"):
            T.train(g, cfg, tmp_path / "cut", data=digits, **QUIET)
    finally:
        preemption.uninstall()
    assert load_checkpoint(tmp_path / "cut" / "checkpoint.pt")["partial"]["step"] == 2
    monkeypatch.setattr(T, "_step", step)
    resumed = T.train(g, cfg, tmp_path / "cut", resume=True, data=digits, **QUIET)
    a, b = (load_checkpoint(d / "checkpoint.pt")["model"] for d in (tmp_path / "full", tmp_path / "cut"))
    assert all(torch.equal(a[k], b[k]) for k in a), [k for k in a if not torch.equal(a[k], b[k])]
    assert [h["train_loss"] for h in resumed["history"]] == [h["train_loss"] for h in full["history"]]
    assert resumed["test_accuracy"] == full["test_accuracy"]
