"""Exact Pareto fronts of large point sets and hypervolume over normalised objectives (all minimised).

Scoring a search against a tabular benchmark compares the hypervolume of the front it found with the
true front's over the whole space (15,625 NB201 cells), as MODNAS does: each objective is scaled to
[0, 1] by a stated range (its min and max over the whole space), and the reference point is (1, ..., 1).
The 2-D front and hypervolume are sort-based (O(n log n)); more objectives use a pairwise filter and
the exact slicing hypervolume of ``tnd.search.pareto``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tnd.search.pareto import hypervolume

_CHUNK = 512


def _as_points(points) -> np.ndarray:
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] < 1:
        raise ValueError(f"points must be an (n, d) array, got shape {pts.shape}")
    if not np.isfinite(pts).all():
        raise ValueError("points must be finite")
    return pts


def pareto_front(points) -> np.ndarray:
    """Indices of the non-dominated points (identical points all kept), sorted by the first objective."""
    pts = _as_points(points)
    n, d = pts.shape
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if d == 2:
        return _front_2d(pts)
    keep = np.ones(n, dtype=bool)
    for start in range(0, n, _CHUNK):
        block = pts[start:start + _CHUNK]                       # (b, d): is each of these dominated?
        le = (pts[None, :, :] <= block[:, None, :]).all(-1)     # (b, n): q <= p everywhere
        lt = (pts[None, :, :] < block[:, None, :]).any(-1)      # ... and better somewhere
        keep[start:start + len(block)] = ~(le & lt).any(1)
    idx = np.flatnonzero(keep)
    return idx[np.lexsort(pts[idx].T[::-1])]


def _front_2d(pts: np.ndarray) -> np.ndarray:
    order = np.lexsort((pts[:, 1], pts[:, 0]))                  # by f0, then f1
    f0, f1 = pts[order, 0], pts[order, 1]
    group_start = np.flatnonzero(np.r_[True, f0[1:] != f0[:-1]])
    group = np.cumsum(np.r_[True, f0[1:] != f0[:-1]]) - 1
    # Best f1 among points with a strictly smaller f0, and the best f1 at the same f0.
    best_before = np.r_[np.inf, np.minimum.accumulate(f1)[:-1]][group_start][group]
    best_same = f1[group_start][group]
    return order[(best_before > f1) & (best_same == f1)]


def hypervolume_2d(points, reference) -> float:
    """Exact area dominated by ``points`` and bounded by ``reference`` (points not below it count 0)."""
    pts = _as_points(points)
    ref = np.asarray(reference, dtype=np.float64)
    pts = pts[(pts < ref).all(1)]
    if len(pts) == 0:
        return 0.0
    front = pts[_front_2d(pts)]                                 # f0 ascending, f1 descending
    widths = np.diff(np.r_[front[:, 0], ref[0]])
    return float(np.sum(widths * (ref[1] - front[:, 1])))


@dataclass(frozen=True)
class ObjectiveRange:
    """Per objective, the values mapped to 0 and 1 (e.g. min and max over the whole space)."""

    lower: tuple[float, ...]
    upper: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.lower) != len(self.upper) or not self.lower:
            raise ValueError("ObjectiveRange: lower and upper need one value per objective")
        if any(not hi > lo for lo, hi in zip(self.lower, self.upper)):
            raise ValueError(f"ObjectiveRange: every upper must exceed its lower, got {self.lower} / {self.upper}")

    @classmethod
    def of(cls, points) -> "ObjectiveRange":
        """The min/max of each objective over ``points`` (the whole space, for a tabular benchmark)."""
        pts = _as_points(points)
        return cls(tuple(map(float, pts.min(0))), tuple(map(float, pts.max(0))))

    def normalise(self, points) -> np.ndarray:
        pts = _as_points(points)
        if pts.shape[1] != len(self.lower):
            raise ValueError(f"points have {pts.shape[1]} objectives, the range {len(self.lower)}")
        lo, hi = np.asarray(self.lower), np.asarray(self.upper)
        return (pts - lo) / (hi - lo)


def normalised_hypervolume(points, objective_range: ObjectiveRange) -> float:
    """Hypervolume of ``points`` scaled by ``objective_range``, reference (1, ..., 1); at most 1."""
    pts = objective_range.normalise(points)
    ref = np.ones(pts.shape[1])
    if pts.shape[1] == 2:
        return hypervolume_2d(pts, ref)
    pts = pts[(pts < ref).all(1)]
    if len(pts) == 0:
        return 0.0
    return float(hypervolume(pts[pareto_front(pts)].tolist(), ref.tolist()))


def hypervolume_subset(points, reference, k: int) -> np.ndarray:
    """Indices of at most ``k`` of ``points`` whose hypervolume (bounded by ``reference``) is the largest,
    sorted by the first objective. Two objectives: exact (dynamic programming over the sorted front,
    O(k n^2)); more: greedy, each step adding the point of the largest gain (within 1 - 1/e of the best).
    Points not below ``reference`` add nothing and are never chosen; so are dominated and repeated points
    (fewer than ``k`` indices come back when fewer non-dominated distinct points beat the reference)."""
    pts = _as_points(points)
    ref = np.asarray(reference, dtype=np.float64)
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    inside = np.flatnonzero((pts < ref).all(1))
    front = inside[pareto_front(pts[inside])] if len(inside) else inside
    _, first = np.unique(pts[front], axis=0, return_index=True)   # one of each repeated point
    front = front[np.sort(first)]
    if len(front) <= k:
        return front[np.lexsort(pts[front].T[::-1])]
    if pts.shape[1] == 2:
        return _subset_2d(pts, ref, front, k)
    chosen: list[int] = []
    for _ in range(k):
        gains = [hypervolume(pts[chosen + [i]].tolist(), ref.tolist()) for i in front]
        chosen.append(int(front[int(np.argmax(gains))]))
        front = front[front != chosen[-1]]
    out = np.asarray(chosen, dtype=np.int64)
    return out[np.lexsort(pts[out].T[::-1])]


def _subset_2d(pts: np.ndarray, ref: np.ndarray, front: np.ndarray, k: int) -> np.ndarray:
    """Exact best ``k`` of a 2-D front (``front``: non-dominated, distinct, below ``ref``). Sorted by f0
    (f1 then descends), a subset's area is sum_j (ref0 - x_j) (y_{j-1} - y_j) with y_0 = ref1."""
    front = front[np.argsort(pts[front, 0], kind="stable")]
    x, y = pts[front, 0], pts[front, 1]
    n = len(front)
    width = ref[0] - x
    best = width * (ref[1] - y)                                  # one point: the last chosen is i
    back = np.full((k, n), -1, dtype=np.int64)
    for j in range(1, k):
        gain = best[None, :] + width[:, None] * (y[None, :] - y[:, None])   # [i, p]: p chosen before i
        gain[np.triu_indices(n)] = -np.inf                        # p < i only
        back[j] = np.argmax(gain, 1)
        best = gain[np.arange(n), back[j]]
    i, picked = int(np.argmax(best)), []
    for j in range(k - 1, -1, -1):
        picked.append(i)
        i = int(back[j, i])
    return front[np.asarray(picked[::-1], dtype=np.int64)]
