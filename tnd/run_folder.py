"""A run's folder and its checkpoint, the same for `tnd search` and `tnd train`.

A folder that already holds a run is never overwritten without ``--resume``; a checkpoint is loaded with
``weights_only=True`` (opening a stranger's file never runs pickled code), and every way it can be
unreadable becomes one line that says what to do.
"""

from __future__ import annotations

import json
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from tnd.errors import TndError
from tnd.preemption import EXIT_PREEMPTED, STOPPED


def open_run_folder(out: str | Path, resume: bool, checkpoint: str, markers: tuple[str, ...],
                    what: str) -> tuple[Path, bool]:
    """The checkpoint's path in ``out`` and whether to resume from it.

    Without ``resume`` a folder holding any of ``markers`` (or the checkpoint) is refused. With it, a
    checkpoint is resumed, and a folder with no checkpoint and nothing else of a run yet is started: one
    job command serves the first start and every requeue of a preempted job. A folder that holds a run's
    files but no checkpoint is refused (something deleted it; starting over would overwrite the files)."""
    out = Path(out)
    ckpt = out / checkpoint
    if resume and ckpt.is_file():
        return ckpt, True
    if any((out / m).exists() for m in (checkpoint, *markers)):
        if resume:
            raise TndError(f"nothing to resume: {ckpt} does not exist but {out} holds a finished {what}; "
                           "choose another --out")
        raise TndError(f"{out} already holds a {what}; pass --resume to continue it or choose another --out")
    return ckpt, False


def load_state(path: str | Path, fmt: str, what: str) -> dict[str, Any]:
    """A checkpoint dict stamped ``format: fmt``, safely loaded, or a one-line TndError."""
    import torch

    p = Path(path)
    if not p.is_file():
        raise TndError(f"{what} {p} not found")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise TndError(f"{p} is not a {what} (it holds objects a weights-only load refuses: {first[:120]})") from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile, KeyError) as e:
        raise TndError(f"{p} is truncated or corrupt ({type(e).__name__}); delete it and start again, or "
                       "resume from an older good copy") from None
    if not isinstance(state, dict) or "format" not in state:
        raise TndError(f"{p} is not a {what} (no 'format' field)")
    if state["format"] != fmt:
        raise TndError(f"{p} has format {state['format']!r}, but this tnd reads {fmt!r}; "
                       "start a new run or use the tnd that wrote it")
    return state


@dataclass(frozen=True)
class RunState:
    """Where a run folder stands, for a job script: ``exit_code`` 0 finished, 75 stopped on request and
    resumable (requeue), 1 anything else (not started, or interrupted without a stop: look before rerunning)."""

    state: str        # finished | stopped | interrupted | not started
    detail: str
    exit_code: int


def run_state(out: str | Path, checkpoint: str, finished: Mapping[str, str]) -> RunState:
    """The state of run folder ``out``; ``finished`` maps each kind of run to the file its end writes."""
    out = Path(out)
    if not out.is_dir():
        raise TndError(f"{out} is not a run folder (it does not exist); pass the --out of a tnd search or tnd train")
    done = [(kind, out / name) for kind, name in finished.items() if (out / name).is_file()]
    if done:
        kind, path = done[0]
        return RunState("finished", f"{kind} finished: {path}", 0)
    ckpt = out / checkpoint
    stop = out / STOPPED
    if stop.is_file() and ckpt.is_file():
        try:
            where = json.loads(stop.read_text()).get("where", "a step boundary")
        except (OSError, ValueError, AttributeError):
            where = "a step boundary"
        return RunState("stopped", f"stopped on request at {where}, checkpoint {ckpt}; requeue the same command "
                        "with --resume", EXIT_PREEMPTED)
    if ckpt.is_file():
        return RunState("interrupted", f"interrupted without a stop request (crashed or killed), checkpoint {ckpt}; "
                        "read the job's log, then --resume continues from the checkpoint", 1)
    return RunState("not started", f"no checkpoint or result in {out}: the run has not started (or failed before "
                    "its first checkpoint); read the job's log", 1)
