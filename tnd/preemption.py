"""Preemption: SIGTERM asks a long run to stop at its next step boundary, checkpoint, and exit for a requeue.

Batch systems (SLURM, Kubernetes, spot instances) announce the end of a job with SIGTERM and kill
it a grace period later. ``install()`` turns the first SIGTERM into a flag the step loop polls
(``stop_requested()``); the loop then writes its checkpoint and exits with ``EXIT_PREEMPTED``, and the
requeued job resumes with ``--resume``. A second SIGTERM ends the process at once, as without us.

Exit code 75 is EX_TEMPFAIL from sysexits.h ("temporary failure, the user is invited to retry"):
a job script can requeue on it alone. 143 (128 + SIGTERM) would be ambiguous: a shell reports 143
for a process killed by SIGTERM before it could checkpoint, and for one that exited cleanly.

torchrun reports its own failure code (1) whatever its workers exited with, so the stop is also written
into the run folder (``STOPPED``, removed when the run is resumed): `tnd status RUN` reads it back and
exits 75 after any launcher.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from tnd import atomic

EXIT_PREEMPTED = 75
STOPPED = "stopped.json"   # in a run folder: the run stopped on request at a step boundary and can be resumed


class Preempted(Exception):
    """Raised by a loop that stopped on request after writing its checkpoint; the CLI exits EXIT_PREEMPTED."""

_stop = threading.Event()
_previous: dict[int, Any] = {}


def _handler(signum: int, _frame: Any) -> None:
    if _stop.is_set():  # asked twice: stop now, the way the signal would have without us
        signal.signal(signum, _previous.get(signum, signal.SIG_DFL))
        os.kill(os.getpid(), signum)
        return
    _stop.set()


def install(signals: tuple[int, ...] = (signal.SIGTERM,)) -> None:
    """Turn ``signals`` into a stop request (idempotent; must run in the main thread, as Python requires)."""
    for sig in signals:
        if sig not in _previous:
            _previous[sig] = signal.signal(sig, _handler)


def uninstall() -> None:
    """Restore the handlers ``install`` replaced and forget any stop request."""
    for sig, old in list(_previous.items()):
        signal.signal(sig, old if old is not None else signal.SIG_DFL)
        del _previous[sig]
    _stop.clear()


def stop_requested() -> bool:
    """Whether a stop was asked for (poll at step boundaries; under torchrun combine ranks with
    ``tnd.distributed.any_rank`` so that every rank stops at the same step)."""
    return _stop.is_set()


def request_stop() -> None:
    """Ask for a stop without a signal (a wall-time budget, tests)."""
    _stop.set()


@contextmanager
def handle_preemption(signals: tuple[int, ...] = (signal.SIGTERM,)) -> Iterator[None]:
    """``install`` for the block, ``uninstall`` after it."""
    install(signals)
    try:
        yield
    finally:
        uninstall()


def mark_stopped(folder: str | Path, checkpoint: str | Path, where: str) -> None:
    """Record in ``folder`` that the run stopped on request with its checkpoint written (the main rank only)."""
    atomic.write_json(Path(folder) / STOPPED, {
        "stopped_on_request": True, "where": where, "checkpoint": str(checkpoint),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "resume": "run the same command with --resume"})


def clear_stopped(folder: str | Path) -> None:
    """Forget an earlier stop: the run is going again (called when a resumed run starts)."""
    (Path(folder) / STOPPED).unlink(missing_ok=True)
