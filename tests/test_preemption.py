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
