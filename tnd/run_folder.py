"""A run's folder and its checkpoint, the same for `tnd search` and `tnd train`.

A folder that already holds a run is never overwritten without ``--resume``; a checkpoint is loaded with
``weights_only=True`` (opening a stranger's file never runs pickled code), and every way it can be
unreadable becomes one line that says what to do.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

from tnd.errors import TndError


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
