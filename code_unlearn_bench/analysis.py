"""Analyzer interface and the statistics every analyzer shares (bootstrap CIs)."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from code_unlearn_bench.samples import Sample

BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 20240607  # fixed: `cub score` must reproduce results.json bit-for-bit


def bootstrap_ci(values: Sequence[float], resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED):
    """Percentile bootstrap 95% CI of the mean; None for fewer than 2 values."""
    arr = np.asarray(values, dtype=float)
    if arr.size < 2:
        return None
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, arr.size, size=(resamples, arr.size))
    means = arr[idx].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return [round(float(lo), 6), round(float(hi), 6)]


def metric(values: Sequence[float], higher_is_better: bool = True, ci: bool = True) -> dict[str, Any]:
    """A metric entry of results.json: mean, 95% CI, n."""
    arr = [float(v) for v in values]
    value = float(np.mean(arr)) if arr else None
    return {
        "value": None if value is None else round(value, 6),
        "ci95": bootstrap_ci(arr) if ci else None,
        "n": len(arr),
        "higher_is_better": higher_is_better,
    }


class Analyzer:
    """Scores a task's completions. Subclasses live in the top-level ``analyzers/`` folder
    (installed as ``code_unlearn_bench.analyzers``), one module per analyzer, exposing
    ``ANALYZER = <subclass>``.

    * ``score`` gets ALL samples and completions of a task at once, so analyzers can batch
      (one semgrep run, a parallel sandbox) and returns one JSON-able dict per sample.
    * ``aggregate`` turns per-sample scores into results.json metrics; it must be deterministic.
    * ``primary_metric`` names the headline metric: "forget_quality" for forget tasks.
    """

    name = "base"
    primary_metric = "forget_quality"
    needs_code_execution = False

    def __init__(self, **options: Any):
        self.options = options

    def protocol(self) -> dict[str, Any]:
        """How the score is computed (recorded in results.json)."""
        return {"analyzer": self.name, **self.options}

    def prepare(self, context: "AnalysisContext") -> None:  # noqa: F821 - optional hook
        """Called once before scoring (tokenizer, sandbox, caches are in the context)."""

    def score(self, samples: Sequence[Sample], completions: Sequence[str]) -> list[dict[str, Any]]:
        raise NotImplementedError

    def aggregate(self, samples: Sequence[Sample], scores: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """Return {"metrics": {name: metric(...)}, "breakdown": {...} (optional)}."""
        raise NotImplementedError


class AnalysisContext:
    """What an analyzer may need beyond samples: the model's tokenizer, the run config (sandbox
    options among it), the cache dir, the task and its generation settings (None in
    loglikelihood mode)."""

    def __init__(self, tokenizer=None, config=None, cache_dir=None, env=None, task=None, generation=None):
        self.tokenizer = tokenizer
        self.config = config
        self.cache_dir = cache_dir
        self.env = env
        self.task = task
        self.generation = generation
