"""A tabular benchmark: accuracy and costs of every architecture of a space, read from a CSV file.

The file (plain or gzip) has a header; column ``arch`` names the architecture (for NB201 its string
``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``); the caller names which numeric column is the accuracy (in %)
and which are costs (latency in ms, energy in mJ, params, flops). A search reads rows through
``query``, which counts distinct architectures (NAS-Bench papers' budget: architectures "trained");
the whole-table arrays are ground truth for scoring a search (exact front), not for the search.

The reader is space-agnostic: ``parse_arch`` turns an ``arch`` cell into the space's record (e.g.
``tnd.space.nb201.NB201Arch.parse``) and must raise TndError on a malformed string.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Generic, Hashable, Mapping, TypeVar

import numpy as np

from tnd.errors import TndError

A = TypeVar("A", bound=Hashable)
ARCH_COLUMN = "arch"
GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class TabularRow(Generic[A]):
    arch: A
    accuracy: float             # in %
    costs: dict[str, float]     # cost name (e.g. "latency") -> value in that column's unit


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    if data[:2] == GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as e:
            raise TndError(f"tabular benchmark {path}: not a readable gzip file ({e})") from None
    elif path.suffix == ".gz":
        raise TndError(f"tabular benchmark {path}: named .gz but not gzip-compressed; decompress or rename it")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise TndError(f"tabular benchmark {path}: not UTF-8 text ({e.reason} at byte {e.start})") from None


def table_columns(path: str | Path) -> list[str]:
    """The header of a table (e.g. to list the columns a user may name)."""
    p = Path(path)
    if not p.is_file():
        raise TndError(f"tabular benchmark {p} not found")
    header = next(csv.reader(io.StringIO(_read_text(p))), None)
    if not header:
        raise TndError(f"tabular benchmark {p} is empty; it needs a header row with an '{ARCH_COLUMN}' column")
    return [h.strip() for h in header]


@dataclass
class TabularBenchmark(Generic[A]):
    """All rows of a table, in file order, and the distinct architectures queried so far."""

    path: Path
    archs: list[A]                      # row i's architecture
    accuracy: np.ndarray                # (n,) accuracy in %, float64
    costs: dict[str, np.ndarray]        # cost name -> (n,) float64
    columns: dict[str, str]             # "accuracy" and each cost name -> the file's column
    _row: dict[A, int] = field(init=False, repr=False)
    _queried: dict[A, None] = field(init=False, repr=False)   # insertion-ordered set: query order

    def __post_init__(self) -> None:
        self._row = {a: i for i, a in enumerate(self.archs)}
        self._queried = {}

    # ---- loading -------------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path, accuracy: str, costs: Mapping[str, str],
             parse_arch: Callable[[str], A]) -> "TabularBenchmark[A]":
        """Read ``path``: ``accuracy`` and ``costs`` (cost name -> column) name the columns to use."""
        p = Path(path)
        if not p.is_file():
            raise TndError(f"tabular benchmark {p} not found; give the CSV (or .csv.gz) with an '{ARCH_COLUMN}' "
                           "column and one column per objective")
        reader = csv.reader(io.StringIO(_read_text(p)))
        header = next(reader, None)
        if not header:
            raise TndError(f"tabular benchmark {p} is empty; it needs a header row with an '{ARCH_COLUMN}' column")
        header = [h.strip() for h in header]
        if ARCH_COLUMN not in header:
            raise TndError(f"tabular benchmark {p}: no '{ARCH_COLUMN}' column; columns: {', '.join(header)}")
        dupes = sorted({h for h in header if header.count(h) > 1})
        if dupes:
            raise TndError(f"tabular benchmark {p}: column(s) {', '.join(dupes)} appear more than once in the header")
        columns = {"accuracy": accuracy, **dict(costs)}
        if "accuracy" in costs:
            raise TndError(f"tabular benchmark {p}: 'accuracy' is not a cost name; name its column with accuracy=")
        available = [h for h in header if h != ARCH_COLUMN]
        for role, col in columns.items():
            if col not in header or col == ARCH_COLUMN:
                raise TndError(f"tabular benchmark {p}: no column {col!r} (asked for {role}); "
                               f"available: {', '.join(available)}")
        arch_at = header.index(ARCH_COLUMN)
        wanted = [(role, header.index(col)) for role, col in columns.items()]
        archs: list[A] = []
        rows: list[list[float]] = []
        row_of: dict[A, int] = {}
        for line, cells in enumerate(reader, start=2):
            if not cells or all(not c.strip() for c in cells):
                continue  # blank line
            if len(cells) != len(header):
                raise TndError(f"tabular benchmark {p} line {line}: {len(cells)} cells, the header has {len(header)}")
            try:
                arch = parse_arch(cells[arch_at])
            except TndError as e:
                raise TndError(f"tabular benchmark {p} line {line}: {e}") from None
            if arch in row_of:
                raise TndError(f"tabular benchmark {p} line {line}: arch {cells[arch_at].strip()!r} already "
                               f"appears on line {row_of[arch] + 2}; keep one row per architecture")
            numbers = []
            for role, i in wanted:
                try:
                    v = float(cells[i])
                except ValueError:
                    v = math.nan
                if not math.isfinite(v):
                    raise TndError(f"tabular benchmark {p} line {line}, column {header[i]!r}: {cells[i]!r} is not "
                                   "a finite number")
                numbers.append(v)
            row_of[arch] = len(archs)
            archs.append(arch)
            rows.append(numbers)
        if not archs:
            raise TndError(f"tabular benchmark {p} has a header but no rows")
        values = np.asarray(rows, dtype=np.float64).T
        acc = values[0]
        if acc.min() < 0 or acc.max() > 100:
            raise TndError(f"tabular benchmark {p}: accuracy column {accuracy!r} must be in % (0 to 100), "
                           f"found {acc.min():g} to {acc.max():g}")
        cost_arrays = {name: values[j + 1] for j, name in enumerate(costs)}
        for name, arr in cost_arrays.items():
            if arr.min() < 0:
                raise TndError(f"tabular benchmark {p}: cost column {columns[name]!r} ({name}) has a negative "
                               f"value ({arr.min():g})")
        return cls(path=p, archs=archs, accuracy=acc, costs=cost_arrays, columns=columns)

    # ---- reading rows (budgeted) ---------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.archs)

    def __contains__(self, arch: Any) -> bool:
        return arch in self._row

    def index(self, arch: A) -> int:
        """Row of ``arch`` (not a query: nothing is counted)."""
        try:
            return self._row[arch]
        except KeyError:
            raise TndError(f"architecture {arch} is not in the tabular benchmark {self.path} "
                           f"({len(self)} rows); the table must cover the whole search space") from None

    def query(self, arch: A) -> TabularRow[A]:
        """Accuracy and costs of ``arch``; counts it once towards ``queries``."""
        i = self.index(arch)
        self._queried[arch] = None
        return TabularRow(arch, float(self.accuracy[i]), {k: float(v[i]) for k, v in self.costs.items()})

    @property
    def queries(self) -> int:
        """Distinct architectures whose row was read through ``query``."""
        return len(self._queried)

    def was_queried(self, arch: A) -> bool:
        """Whether reading ``arch`` again is free (its row was already read)."""
        return arch in self._queried

    @property
    def queried(self) -> list[A]:
        """The distinct architectures read so far, in the order of their first query."""
        return list(self._queried)

    def reset_queries(self) -> None:
        self._queried.clear()
