"""Pareto dominance, the Pareto Dominance Ratio (PDR) and the Pareto front.

All functions take *oriented* points: an ``(n, k)`` array where a larger value is better on every
objective (use :func:`orient` to flip lower-is-better objectives first). Missing scores are the
caller's business: these functions refuse NaN so a missing score can never count as a loss or a
tie by accident.

PDR (paper, eq. 6): ``PDR(m_i) = |{m_j in M \\ m_i : m_i dominates m_j}| / (|M| - 1)`` where
``m_i`` dominates ``m_j`` when it is no worse on every objective and strictly better on one.
Identical points therefore do not dominate each other (a tie counts for neither). A set with a
single member has no rivals; its PDR is defined here as 0 rather than 0/0.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from code_unlearn_bench.errors import CubError


def orient(values: Sequence[float], higher_is_better: bool) -> np.ndarray:
    """``values`` as floats where larger is better."""
    arr = np.asarray(values, dtype=float)
    return arr if higher_is_better else -arr


def _points(points) -> np.ndarray:
    arr = np.asarray(points, dtype=float)
    if arr.ndim == 1 and arr.size == 0:
        arr = arr.reshape(0, 2)
    if arr.ndim != 2:
        raise CubError(f"Pareto points must be an (n, objectives) table, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise CubError("Pareto points must be finite; drop (and report) models with missing scores first")
    return arr


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """Whether oriented point ``a`` Pareto-dominates ``b``."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return bool(np.all(a >= b) and np.any(a > b))


def dominance_matrix(points) -> np.ndarray:
    """``D[i, j]`` is True when point i dominates point j (never on the diagonal)."""
    p = _points(points)
    no_worse = (p[:, None, :] >= p[None, :, :]).all(axis=2)
    better = (p[:, None, :] > p[None, :, :]).any(axis=2)
    return no_worse & better


def tie_matrix(points) -> np.ndarray:
    """``T[i, j]`` is True when i and j (i != j) are identical on every objective."""
    p = _points(points)
    same = (p[:, None, :] == p[None, :, :]).all(axis=2)
    np.fill_diagonal(same, False)
    return same


def pdr(points) -> np.ndarray:
    """PDR of every point within the set (fractions in [0, 1])."""
    d = dominance_matrix(points)
    n = d.shape[0]
    if n <= 1:
        return np.zeros(n)
    return d.sum(axis=1) / (n - 1)


def pareto_front(points) -> np.ndarray:
    """Boolean mask of the points no other point dominates (ties with a front point are on it)."""
    d = dominance_matrix(points)
    return ~d.any(axis=0)
