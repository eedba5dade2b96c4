"""`tnd search` under torchrun: one search data-parallel over 2 gloo processes on the CPU (issue 12, item 3).

Each run is a real `torchrun --standalone --nproc_per_node=N -m tnd search` in a subprocess on the tiny
digits config; TND_TEST_RANK_HASH makes every rank write a hash of its policy state and supernet parameters
at the end (tnd.search.progressive.ProgressiveSearch._test_rank_hash), outside the run folder.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from test_search_run import TINY  # the tiny digits search the single-process tests run
from tnd import distributed as D

ROOT = Path(__file__).resolve().parents[1]
RUN_FILES = ["checkpoint.pt", "config.yaml", "log.jsonl", "pareto.png", "result.json"]


def _env(hashes: Path) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "OMP_NUM_THREADS": "1", "TND_TEST_RANK_HASH": str(hashes)}
    for k in D.TORCHRUN_VARS:
        env.pop(k, None)
    return env


def launcher(nproc: int | None) -> list[str]:
    """The command line that starts ``tnd``: one plain process (None), or torchrun with ``nproc`` processes."""
    if nproc is None:
        return [sys.executable, "-m", "tnd"]
    exe = Path(sys.executable).with_name("torchrun")
    launch = [str(exe)] if exe.exists() else [sys.executable, "-m", "torch.distributed.run"]
    return launch + ["--standalone", f"--nproc_per_node={nproc}", "-m", "tnd"]


def _argv(nproc: int | None, config: Path, out: Path) -> list[str]:
    return [*launcher(nproc), "search", "--config", str(config), "--out", str(out), "--compute", "cpu", "--no-progress"]


def _hashes(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(folder.glob("rank*.hash"))}


def config_folder(tmp_path_factory, name: str, config: dict) -> tuple[Path, Path]:
    """A fresh folder for a module's runs and the config file they all read."""
    root = tmp_path_factory.mktemp(name)
    path = root / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    return root, path


def finished_run(root: Path, argv_of) -> tuple[Path, Path, str]:
    """An uninterrupted 2-process run into ROOT/full (``argv_of(out)``): its folder, the folder of its rank
    hashes, and what it printed."""
    out, hashes = root / "full", root / "full-hashes"
    hashes.mkdir()
    proc = subprocess.run(argv_of(out), env=_env(hashes), capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out, hashes, proc.stdout


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return config_folder(tmp_path_factory, "torchrun", TINY)


@pytest.fixture(scope="module")
def full_run(work):
    """An uninterrupted 2-process search."""
    root, config = work
    return finished_run(root, lambda out: _argv(2, config, out))


def test_two_processes_train_one_search_and_rank0_alone_writes(full_run):
    out, hashes, stdout = full_run
    assert sorted(p.name for p in out.iterdir()) == RUN_FILES       # one result.json, one log (rank 0's)
    assert stdout.count("tnd search '") == 1                         # one header: rank 0 prints, the other is quiet
    result = json.loads((out / "result.json").read_text())
    assert result["run"]["processes"] == 2 and len(result["genotypes"]) == 1
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert sum(r["event"] == "epoch" for r in records) == 4 and sum(r["event"] == "derived" for r in records) == 1
    # the same alpha and supernet weights on both ranks at the end (same path every step, averaged gradients,
    # gathered rewards -> the same alpha step)
    h = _hashes(hashes)
    assert sorted(h) == ["rank0.hash", "rank1.hash"] and h["rank0.hash"] == h["rank1.hash"] != ""


def _worker(launcher: int, rank: int) -> int:
    """The pid of the torchrun worker of ``rank`` (a child of the launcher whose environment says RANK=rank)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            if ppid != launcher:
                continue
            environ = (stat.parent / "environ").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        if f"RANK={rank}".encode() in environ:
            return int(stat.parent.name)
    raise AssertionError(f"no worker of rank {rank} under the launcher {launcher}")


def test_a_stop_asked_of_one_rank_stops_both_and_resume_finishes_under_two(work, full_run):
    root, config = work
    out, hashes = root / "cut", root / "cut-hashes"
    hashes.mkdir()
    argv = _argv(2, config, out)
    proc = subprocess.Popen(argv, env=_env(hashes), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        log = out / "log.jsonl"
        # after a first epoch both ranks are in the loop with the SIGTERM handler installed
        while not (log.is_file() and '"event": "epoch"' in log.read_text()):
            assert proc.poll() is None and time.monotonic() < deadline, "the run ended before its first epoch"
            time.sleep(0.1)
        os.kill(_worker(proc.pid, 1), signal.SIGTERM)   # rank 1 only: the stop is agreed across ranks
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    assert stderr.count("stopped on request") == 2, stderr[-3000:]   # both ranks stopped, each at the same step
    assert (out / "checkpoint.pt").is_file() and not (out / "result.json").exists()
    done = subprocess.run(argv + ["--resume"], env=_env(hashes), capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    h = _hashes(hashes)
    assert h["rank0.hash"] == h["rank1.hash"] != ""
    # all ranks restored the checkpoint and replayed the epoch's streams: the same search as the uninterrupted one
    full, _, _ = full_run
    resumed = json.loads((out / "result.json").read_text())
    assert resumed["genotypes"] == json.loads((full / "result.json").read_text())["genotypes"]
    assert (out / "log.jsonl").read_text() == (full / "log.jsonl").read_text()
    assert h == _hashes(full_run[1])


def test_one_process_and_two_at_the_same_global_batch_both_finish(work, full_run):
    """Same global batch (weights.batch_size), same paths, same validation batches; the alphas need not match:
    with 2 processes BN normalises each rank's half batch with its own statistics, and the gradient is the mean
    of two half-batch means summed in another order than one full-batch mean, so the weights (and the rewards
    read through them) drift apart by rounding and BN, not by a different algorithm."""
    root, config = work
    out, hashes = root / "one", root / "one-hashes"
    hashes.mkdir()
    proc = subprocess.run(_argv(None, config, out), env=_env(hashes), capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    one = json.loads((out / "result.json").read_text())
    two = json.loads((full_run[0] / "result.json").read_text())
    assert "processes" not in one["run"] and two["run"]["processes"] == 2
    assert one["config"] == two["config"]                     # the same settings, the same global batch
    events = lambda folder: [json.loads(x)["event"] for x in (folder / "log.jsonl").read_text().splitlines()]  # noqa: E731
    assert events(out) == events(full_run[0])                 # the same schedule of stages, epochs and alpha steps
    assert sorted(_hashes(hashes)) == ["rank0.hash"]


def test_rescoring_by_training_is_refused_under_torchrun_in_one_line(work):
    root, config = work
    out = root / "rescore"
    proc = subprocess.run(_argv(2, config, out) + ["--set", "derive.evaluate=train"], env=_env(root),
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode != 0
    assert proc.stderr.count("tnd: error: derive.evaluate: train is not run under torchrun") == 2, proc.stderr[-3000:]
    assert not out.exists()    # refused before anything is written
