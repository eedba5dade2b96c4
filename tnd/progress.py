"""Progress that reads well both in a terminal and in a log file.

On a terminal, a tqdm bar, with log lines printed above it. On a pipe or a file (CI, ``make demo > log``)
a bar would be redrawn thousands of times with carriage returns, so there is none: only the log lines
(e.g. one per epoch, written by the caller) and, where asked, a plain status line every ``plain_every``
units of work.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Callable, TextIO


def is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def _status_text(status: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in status.items())


class Progress:
    """``update()`` as work is done, ``write()`` for log lines, ``close()`` (or use it as a context manager).

    total: units of work (None if unknown); desc/unit: label and unit name; enabled: False for no bar and no
    status lines (``write`` still prints); initial: units already done (a resumed run); stream: where the
    bar goes and whose being a terminal decides bar vs plain (default stderr); echo: how log lines are
    printed (default ``print``, flushed); plain_every: without a terminal, a status line every this many units
    (None: none, only the caller's ``write`` lines).
    """

    def __init__(self, total: int | None, desc: str = "", unit: str = "it", *, enabled: bool = True,
                 initial: int = 0, stream: TextIO | None = None, echo: Callable[[str], None] | None = None,
                 plain_every: int | None = None):
        self.total, self.desc, self.unit, self.enabled = total, desc, unit, enabled
        self.n = self._start = initial
        self.stream = stream if stream is not None else sys.stderr
        self.echo = echo or (lambda line: print(line, flush=True))
        self.plain_every = plain_every
        self._next_plain = initial + plain_every if plain_every else None
        self._t0 = time.perf_counter()
        self.bar = None
        if enabled and is_terminal(self.stream):
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=initial, desc=desc or None, unit=unit, file=self.stream,
                            dynamic_ncols=True)

    @property
    def is_bar(self) -> bool:
        return self.bar is not None

    def update(self, n: int = 1, **status: Any) -> None:
        """``n`` more units done; ``status`` (e.g. loss=0.31) is shown beside the bar or in the status line."""
        self.n += n
        if self.bar is not None:
            if status:
                self.bar.set_postfix({k: f"{v:.4g}" if isinstance(v, float) else v for k, v in status.items()},
                                     refresh=False)
            self.bar.update(n)
        elif self.enabled and self._next_plain is not None and (self.n >= self._next_plain or self.n == self.total):
            while self._next_plain <= self.n:
                self._next_plain += self.plain_every
            self.echo(self.status_line(status))

    def status_line(self, status: dict[str, Any] | None = None) -> str:
        """``measuring parts: 120/480 entries (25%), 0:32 elapsed, ~1:36 left (estimate)[, status]``."""
        elapsed = time.perf_counter() - self._t0
        done = self.n - self._start
        parts = [f"{self.n}/{self.total} {self.unit}s" if self.total else f"{self.n} {self.unit}s"]
        if self.total:
            parts[0] += f" ({100 * self.n / self.total:.0f}%)"
        parts.append(f"{_clock(elapsed)} elapsed")
        if self.total and 0 < done and self.n < self.total:
            parts.append(f"~{_clock(elapsed / done * (self.total - self.n))} left (estimate)")
        text = ", ".join(parts) + (f", {_status_text(status)}" if status else "")
        return f"{self.desc}: {text}" if self.desc else text

    def write(self, line: str) -> None:
        """A log line: above the bar on a terminal, a plain line otherwise (printed even when disabled)."""
        if self.bar is not None:
            with self.bar.external_write_mode(file=sys.stdout):
                self.echo(line)
        else:
            self.echo(line)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
