"""Membership-inference scores and their AUC (MUSE's privacy-leakage measure).

Every score is oriented so that HIGHER means "more likely a training member":

* ``min_k``   Min-K% probability (Shi et al. 2023): the mean log-probability of the k% least
              likely tokens of the text. A memorised text has no very unlikely tokens.
* ``zlib``    zlib ratio (Carlini et al. 2021): mean token NLL divided by the zlib-compressed size
              of the text in bytes, negated. The compressed size normalises away texts that are
              just easy (repetitive) rather than memorised.
* ``loss``    mean token log-probability (the plain loss attack), reported for reference.

AUC is the Mann-Whitney statistic: the probability that a random member outscores a random
non-member (ties count one half), so 0.5 means the scores carry no membership signal.
"""

from __future__ import annotations

import math
import zlib
from typing import Sequence

import numpy as np

from code_unlearn_bench.analyzers.base import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED
from code_unlearn_bench.errors import CubError

SCORES = ("min_k", "zlib", "loss")


def min_k_prob(token_logprobs: Sequence[float], k: float = 0.2) -> float:
    """Mean of the lowest ceil(k * n) token log-probs (at least one token)."""
    if not token_logprobs:
        raise CubError("min-k% needs at least one scored token")
    lowest = sorted(token_logprobs)[:max(1, math.ceil(k * len(token_logprobs)))]
    return float(sum(lowest) / len(lowest))


def zlib_ratio(token_logprobs: Sequence[float], text: str) -> float:
    """-(mean token NLL) / zlib-compressed bytes of ``text`` (higher: more member-like)."""
    if not token_logprobs:
        raise CubError("the zlib ratio needs at least one scored token")
    nll = -sum(token_logprobs) / len(token_logprobs)
    return float(-nll / len(zlib.compress(text.encode("utf-8"))))


def mean_logprob(token_logprobs: Sequence[float]) -> float:
    if not token_logprobs:
        raise CubError("the loss score needs at least one scored token")
    return float(sum(token_logprobs) / len(token_logprobs))


def all_scores(token_logprobs: Sequence[float], text: str, k: float) -> dict[str, float]:
    return {"min_k": round(min_k_prob(token_logprobs, k), 6), "zlib": round(zlib_ratio(token_logprobs, text), 9),
            "loss": round(mean_logprob(token_logprobs), 6)}


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, tied values sharing the mean of their ranks."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), dtype=float)
    sorted_vals = values[order]
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and sorted_vals[j + 1] == sorted_vals[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return ranks


def auc(members: Sequence[float], non_members: Sequence[float]) -> float:
    """Mann-Whitney AUC of members vs non-members (1.0: every member scores higher)."""
    m = np.asarray(members, dtype=float)
    n = np.asarray(non_members, dtype=float)
    if m.size == 0 or n.size == 0:
        raise CubError("membership AUC needs at least one forget and one holdout sample")
    ranks = _average_ranks(np.concatenate([m, n]))
    u = ranks[:m.size].sum() - m.size * (m.size + 1) / 2.0
    return float(u / (m.size * n.size))


def auc_ci(members: Sequence[float], non_members: Sequence[float],
           resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED) -> list[float] | None:
    """Stratified percentile bootstrap 95% CI (members and non-members resampled separately, so
    every resample keeps both groups); fixed seed, so re-running gives the same interval."""
    m = np.asarray(members, dtype=float)
    n = np.asarray(non_members, dtype=float)
    if m.size < 2 or n.size < 2:
        return None
    rng = np.random.default_rng(seed)
    values = [auc(m[rng.integers(0, m.size, m.size)], n[rng.integers(0, n.size, n.size)])
              for _ in range(resamples)]
    lo, hi = np.percentile(values, [2.5, 97.5])
    return [round(float(lo), 6), round(float(hi), 6)]


def privleak(auc_unlearned: float, auc_retain: float) -> float:
    """MUSE's privacy leakage (Shi et al. 2024, "MUSE: Machine Unlearning Six-Way Evaluation"):
    (AUC_unlearned - AUC_retain) / AUC_retain, the AUCs of the same forget-vs-holdout split under
    the unlearned model and under a model never trained on the forget set. 0: the forget set is
    as recognisable as if never learnt; > 0: it still leaks; < 0: over-unlearned."""
    if not auc_retain > 0:
        raise CubError("PrivLeak is undefined: the retain model's AUC is 0")
    return (auc_unlearned - auc_retain) / auc_retain


def privleak_ci(members: Sequence[float], non_members: Sequence[float], retain_members: Sequence[float],
                retain_non_members: Sequence[float], resamples: int = BOOTSTRAP_RESAMPLES,
                seed: int = BOOTSTRAP_SEED) -> list[float] | None:
    """Paired stratified bootstrap 95% CI: both models are scored on the same samples, so every
    resample draws the same sample indices for both AUCs."""
    m, n = np.asarray(members, dtype=float), np.asarray(non_members, dtype=float)
    rm, rn = np.asarray(retain_members, dtype=float), np.asarray(retain_non_members, dtype=float)
    if m.size < 2 or n.size < 2 or m.size != rm.size or n.size != rn.size:
        return None
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(resamples):
        i, j = rng.integers(0, m.size, m.size), rng.integers(0, n.size, n.size)
        ref = auc(rm[i], rn[j])
        if ref > 0:
            values.append((auc(m[i], n[j]) - ref) / ref)
    if not values:
        return None
    lo, hi = np.percentile(values, [2.5, 97.5])
    return [round(float(lo), 6), round(float(hi), 6)]
