"""`tnd train` under torchrun: one training data-parallel over 2 gloo processes on the CPU (issue 12, item 3).

Each run is a real `torchrun --standalone --nproc_per_node=N -m tnd train` in a subprocess on a tiny digits
network; TND_TEST_RANK_HASH makes every rank write a sha256 of its final weights and BN buffers
(tnd.distributed.write_rank_hash), outside the run folder.
"""

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

from test_torchrun_search import _env, _hashes, _worker, config_folder, finished_run, launcher

TRAIN = dict(dataset="digits", layers=5, channels=8, epochs=6, batch_size=32, lr=0.05, cutout=True, cutout_length=4,
             auxiliary=True, drop_path_prob=0.2, max_steps_per_epoch=10)
RUN_FILES = ["checkpoint.pt", "log.jsonl", "train.json"]


def _argv(nproc, config: Path, out: Path) -> list[str]:
    return [*launcher(nproc), "train", "--genotype", "DARTS_V2", "--config", str(config), "--out", str(out),
            "--compute", "cpu", "--no-progress"]


def _history(folder: Path) -> list[dict]:
    """train.json's epoch records without their wall times."""
    return [{k: v for k, v in r.items() if k != "seconds"}
            for r in json.loads((folder / "train.json").read_text())["history"]]


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return config_folder(tmp_path_factory, "torchrun-train", TRAIN)


@pytest.fixture(scope="module")
def full_run(work):
    """An uninterrupted 2-process training."""
    root, config = work
    return finished_run(root, lambda out: _argv(2, config, out))


def test_two_processes_train_one_network_and_rank0_alone_writes(full_run):
    out, hashes, stdout = full_run
    assert sorted(p.name for p in out.iterdir()) == RUN_FILES
    assert stdout.count("tnd train: ") == 1 and "2 processes (data-parallel, global batch 32)" in stdout
    result = json.loads((out / "train.json").read_text())
    assert result["processes"] == 2 and len(result["history"]) == TRAIN["epochs"]
    assert len((out / "log.jsonl").read_text().splitlines()) == TRAIN["epochs"]
    assert 0.0 < result["test_accuracy"] <= 1.0
    # the same weights and BN running statistics on both ranks: averaged gradients, averaged buffers
    h = _hashes(hashes)
    assert sorted(h) == ["rank0.hash", "rank1.hash"] and h["rank0.hash"] == h["rank1.hash"] != ""


def test_a_stop_asked_of_one_rank_stops_both_and_resume_under_two_equals_the_whole_run(work, full_run):
    root, config = work
    out, hashes = root / "cut", root / "cut-hashes"
    hashes.mkdir()
    argv = _argv(2, config, out)
    env = _env(hashes)
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        log = out / "log.jsonl"
        while not (log.is_file() and log.read_text().strip()):   # a first epoch: both ranks are in the loop
            assert proc.poll() is None and time.monotonic() < deadline, "the run ended before its first epoch"
            time.sleep(0.05)
        import os

        os.kill(_worker(proc.pid, 1), signal.SIGTERM)   # rank 1 only: the stop is agreed across ranks
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0                          # torchrun's own failure code, not the workers' 75...
    assert stderr.count("tnd: stopped on request: checkpoint written at step") == 2, stderr[-3000:]
    assert (out / "checkpoint.pt").is_file() and not (out / "train.json").exists()
    status = subprocess.run([*launcher(None), "status", str(out)], env=env, capture_output=True, text=True,
                            timeout=60)
    assert status.returncode == 75, status.stdout + status.stderr   # ...so the folder says it
    done = subprocess.run(argv + ["--resume"], env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert sorted(p.name for p in out.iterdir()) == RUN_FILES     # the stop marker is gone with the resume
    # every rank restored its own BN statistics and replayed the epoch's data: the uninterrupted training
    assert _hashes(hashes) == _hashes(full_run[1])
    assert _history(out) == _history(full_run[0])


def test_one_process_and_two_at_the_same_global_batch_both_finish(work, full_run):
    """Same global batch, same batches and cutouts; the weights need not match bit for bit (BN normalises each
    rank's half batch, and the averaged gradient sums in another order), so only the schedule is compared."""
    root, config = work
    out, hashes = root / "one", root / "one-hashes"
    hashes.mkdir()
    proc = subprocess.run(_argv(None, config, out), env=_env(hashes), capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    one, two = (json.loads((f / "train.json").read_text()) for f in (out, full_run[0]))
    assert "processes" not in one and one["config"] == two["config"] and one["params"] == two["params"]
    assert [r["lr"] for r in one["history"]] == [r["lr"] for r in two["history"]]
    assert sorted(_hashes(hashes)) == ["rank0.hash"]


def test_a_batch_too_small_for_the_processes_is_one_line_on_every_rank(work):
    root, config = work
    out = root / "small"
    proc = subprocess.run(_argv(2, config, out) + ["--batch-size", "3"], env=_env(root), capture_output=True,
                          text=True, timeout=240)
    assert proc.returncode != 0
    assert proc.stderr.count("tnd: error: a batch of 3 gives some of the 2 processes fewer than 2 samples") == 2, \
        proc.stderr[-3000:]
    assert not out.exists()                                    # refused before anything is written
    assert f'File "{ROOT / "tnd"}' not in proc.stderr           # no traceback through tnd (torchrun prints its own)
