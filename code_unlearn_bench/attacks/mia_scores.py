"""Membership-inference scores, their AUC and PrivLeak, as MUSE defines them (Shi et al. 2024,
swj0419/muse_bench ``metrics/privleak.py`` and ``eval.py``).

Every score is oriented so that HIGHER means "more likely a training member" (MUSE feeds
``-ppl`` to its ROC curve; its "ppl" values are these scores negated):

* ``min_k``   Min-K% probability (Shi et al. 2023): the mean log-probability of the
              floor(k * n) least likely tokens of the text (MUSE's ``int(len * ratio)``; we
              keep at least one token where MUSE would average nothing). MUSE's default k: 40%.
* ``zlib``    MUSE's ``PPL/zlib``: mean token NLL divided by the zlib-compressed size of the
              text in bytes, negated.
* ``loss``    MUSE's ``PPL``: the mean token log-probability (the plain loss attack).

AUC (MUSE's ``forget_holdout_<score>``): the HOLDOUT set is the positive class, the forget set
the negative one, so 0.5 means the forget set looks never-seen and a model that still knows the
forget set scores near 0 (its forget samples outscore every holdout sample). It is the
Mann-Whitney statistic (ties count one half), which equals sklearn's trapezoidal ROC AUC.

PrivLeak = (AUC_unlearned - AUC_retrain) / AUC_retrain * 100, in percent: 0 = as if never
learnt, strongly negative (about -100) = the forget set is still recognisable, positive =
over-unlearned.
"""

from __future__ import annotations

import zlib
from typing import Sequence

import numpy as np

from code_unlearn_bench.analyzers.base import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED
from code_unlearn_bench.errors import CubError

SCORES = ("min_k", "zlib", "loss")
DEFAULT_K = 0.4  # MUSE's privleak_auc_key 'forget_holdout_Min-40%'


def min_k_prob(token_logprobs: Sequence[float], k: float = DEFAULT_K) -> float:
    """Mean of the lowest floor(k * n) token log-probs (MUSE's ``int(len * ratio)``), at least one."""
    if not token_logprobs:
        raise CubError("min-k% needs at least one scored token")
    lowest = sorted(token_logprobs)[:max(1, int(k * len(token_logprobs)))]
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


def all_scores(token_logprobs: Sequence[float], text: str, k: float = DEFAULT_K) -> dict[str, float]:
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


def auc(positives: Sequence[float], negatives: Sequence[float]) -> float:
    """Mann-Whitney AUC of the positive class vs the negative one (1.0: every positive scores
    higher). MUSE's MIA AUC is ``auc(holdout, forget)``."""
    m = np.asarray(positives, dtype=float)
    n = np.asarray(negatives, dtype=float)
    if m.size == 0 or n.size == 0:
        raise CubError("membership AUC needs at least one forget and one holdout sample")
    ranks = _average_ranks(np.concatenate([m, n]))
    u = ranks[:m.size].sum() - m.size * (m.size + 1) / 2.0
    return float(u / (m.size * n.size))


def auc_ci(positives: Sequence[float], negatives: Sequence[float],
           resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED) -> list[float] | None:
    """Stratified percentile bootstrap 95% CI (the two classes resampled separately, so every
    resample keeps both); fixed seed, so re-running gives the same interval."""
    m = np.asarray(positives, dtype=float)
    n = np.asarray(negatives, dtype=float)
    if m.size < 2 or n.size < 2:
        return None
    rng = np.random.default_rng(seed)
    values = [auc(m[rng.integers(0, m.size, m.size)], n[rng.integers(0, n.size, n.size)])
              for _ in range(resamples)]
    lo, hi = np.percentile(values, [2.5, 97.5])
    return [round(float(lo), 6), round(float(hi), 6)]


def privleak(auc_unlearned: float, auc_retain: float) -> float:
    """MUSE's privacy leakage in percent (``eval.py``): (AUC_unlearned - AUC_retrain) /
    AUC_retrain * 100, both AUCs of the same forget-vs-holdout split (holdout positive), under the
    unlearned model and under a model never trained on the forget set."""
    if not auc_retain > 0:
        raise CubError("PrivLeak is undefined: the retain model's AUC is 0")
    return (auc_unlearned - auc_retain) / auc_retain * 100.0


def privleak_ci(forget: Sequence[float], holdout: Sequence[float], retain_forget: Sequence[float],
                retain_holdout: Sequence[float], resamples: int = BOOTSTRAP_RESAMPLES,
                seed: int = BOOTSTRAP_SEED) -> list[float] | None:
    """Paired stratified bootstrap 95% CI of :func:`privleak`: both models are scored on the same
    samples, so every resample draws the same sample indices for both AUCs."""
    f, h = np.asarray(forget, dtype=float), np.asarray(holdout, dtype=float)
    rf, rh = np.asarray(retain_forget, dtype=float), np.asarray(retain_holdout, dtype=float)
    if f.size < 2 or h.size < 2 or f.size != rf.size or h.size != rh.size:
        return None
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(resamples):
        i, j = rng.integers(0, f.size, f.size), rng.integers(0, h.size, h.size)
        ref = auc(rh[j], rf[i])
        if ref > 0:
            values.append(privleak(auc(h[j], f[i]), ref))
    if not values:
        return None
    lo, hi = np.percentile(values, [2.5, 97.5])
    return [round(float(lo), 6), round(float(hi), 6)]
