"""Reading values off a method's epoch curve (a polyline through its checkpoints, in epoch order)."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def values_at(xs: Sequence[float], ys: Sequence[float], target: float) -> list[float]:
    """Every y where the polyline through ``(xs[i], ys[i])`` (in the given order) has x == target,
    linearly interpolated inside a segment. A segment lying on x == target yields both ends."""
    x = np.asarray(xs, dtype=float)
    y = np.asarray(ys, dtype=float)
    if x.size == 1:
        return [float(y[0])] if x[0] == target else []
    hits: list[float] = []
    for x0, x1, y0, y1 in zip(x[:-1], x[1:], y[:-1], y[1:]):
        if not (min(x0, x1) <= target <= max(x0, x1)):
            continue
        if x0 == x1:
            hits.extend([float(y0), float(y1)])
        else:
            t = (target - x0) / (x1 - x0)
            hits.append(float(y0 + t * (y1 - y0)))
    return hits


def best_value_at(xs: Sequence[float], ys: Sequence[float], target: float) -> float | None:
    """The best (largest; orient y first) y the curve reaches at x == target, or None if it never
    gets there. A curve can cross the target several times (forgetting is not monotone in epochs);
    stopping training at the best crossing is always available, so that one is reported."""
    hits = values_at(xs, ys, target)
    return max(hits) if hits else None


def target_forget_quality(best: float, fraction: float, higher_is_better: bool) -> float:
    """The forget quality at ``fraction`` of the best one, like the paper's "comparable (90%)
    forget quality". For a lower-is-better metric, "90% as good" is read as best / 0.9."""
    return best * fraction if higher_is_better else best / fraction
