"""Where run records go: ``log.jsonl`` (the source of truth) and, optionally, TensorBoard.

A record is a plain dict (one training epoch, one search step). Both sinks take the same records, so a
loop writes each record once to each sink it was given.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Iterable

from tnd import atomic
from tnd.errors import TndError


class JsonlSink:
    """Appends one JSON line per record, flushed at once, so a crashed run keeps every finished record."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def __call__(self, record: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()

    def rewrite(self, records: Iterable[dict[str, Any]]) -> None:
        """Replace the file with ``records`` (a resumed run: the checkpoint's history is the truth)."""
        atomic.write_text(self.path, "".join(json.dumps(r) + "\n" for r in records))

    def close(self) -> None:
        pass


def scalars(record: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """The record's numbers as TensorBoard tags: nested dicts and lists become ``a/b/0``; text is skipped."""
    out: dict[str, float] = {}
    for key, value in record.items():
        tag = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(scalars(value, f"{tag}/"))
        elif isinstance(value, (list, tuple)):
            out.update(scalars({str(i): v for i, v in enumerate(value)}, f"{tag}/"))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[tag] = float(value)
    return out


class TensorBoardSink:
    """Writes each record's numbers as scalars at ``record[step_key]`` (through ``torch.utils.tensorboard``).

    log_dir: the TensorBoard run folder; step_key: the record field giving the x axis (``epoch`` for
    training, ``step`` for a search), a running count where a record lacks it; skip: fields that are not
    metrics (the step itself, counters).
    """

    def __init__(self, log_dir: str | os.PathLike, step_key: str = "step", skip: Iterable[str] = (),
                 writer: Any = None):
        if writer is None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                raise TndError("--tensorboard needs the tensorboard package: pip install tensorboard "
                               "(or pip install 'tnd[tensorboard]')") from None
            writer = SummaryWriter(log_dir=str(log_dir))
        self.writer, self.step_key = writer, step_key
        self.skip = {step_key, *skip}
        self._count = 0

    def __call__(self, record: dict[str, Any]) -> None:
        self._count += 1
        step = record.get(self.step_key, self._count)
        for tag, value in scalars({k: v for k, v in record.items() if k not in self.skip}).items():
            if math.isfinite(value):
                self.writer.add_scalar(tag, value, int(step))
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
