"""Non-dominated filtering and hypervolume, for objectives that are all minimised.

Callers turn accuracy into error (1 - acc) first. Hypervolume is the area (volume) dominated by the
front and bounded by a reference point that every counted point must beat in all objectives.
"""

from __future__ import annotations

from typing import Sequence

Point = Sequence[float]


def dominates(a: Point, b: Point) -> bool:
    return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))


def pareto_front(points: Sequence[Point]) -> list[int]:
    """Indices of the non-dominated points (duplicates all kept), in input order."""
    return [i for i, p in enumerate(points) if not any(dominates(q, p) for j, q in enumerate(points) if j != i)]


def hypervolume(points: Sequence[Point], reference: Point) -> float:
    """Exact hypervolume by slicing along the first objective (fine for the handful of points a series has)."""
    pts = [tuple(p) for p in points if all(x < r for x, r in zip(p, reference))]
    if not pts:
        return 0.0
    if len(reference) == 1:
        return reference[0] - min(p[0] for p in pts)
    pts.sort()
    volume = 0.0
    for i, p in enumerate(pts):
        upper = pts[i + 1][0] if i + 1 < len(pts) else reference[0]
        width = upper - p[0]
        if width > 0:
            volume += width * hypervolume([q[1:] for q in pts[: i + 1]], reference[1:])
    return volume
