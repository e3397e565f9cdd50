"""Analyzer interface and the statistics every analyzer shares (bootstrap CIs)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence, TypedDict

import numpy as np

from code_unlearn_bench.samples import Sample

if TYPE_CHECKING:
    from code_unlearn_bench.models.base import GenerationSettings
    from code_unlearn_bench.tasks.spec import Task

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


class LogLikelihood(TypedDict):
    sum: float
    n_tokens: int
    token_logprobs: list[float]


class GenerationRecord(TypedDict, total=False):
    """One line of ``generations/<task>.jsonl``: what the model produced for one sample."""

    id: str
    prompt_hash: str
    completion: str  # generate mode (the first completion when num_samples > 1)
    completions: list[str]  # num_samples > 1
    loglikelihood: LogLikelihood  # loglikelihood mode
    scores: dict[str, Any]  # added at scoring


@dataclass(frozen=True)
class AnalysisContext:
    """Everything an analyzer may use beyond samples and records, built by the run path."""

    tokenizer: Any = None  # the model's tokenizer (None when no scoring step needs one)
    cache_dir: Path | None = None  # user cache dir (analyzer caches go below it)
    task: "Task | None" = None
    generation: "GenerationSettings | None" = None  # None in loglikelihood mode
    allow_code_execution: bool = False
    sandbox: str = "auto"  # sandbox backend name (code_unlearn_bench.sandbox.SANDBOXES)
    allow_unsafe_execution: bool = False
    exec_workers: int | None = None  # None: one per CPU
    quiet: bool = False  # no notes on stderr (e.g. sandbox fallbacks)


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

    def generation_defaults(self) -> dict[str, Any]:
        """Generation settings the scoring protocol prescribes (over the task spec's, under the
        config's), e.g. ``{"max_total_tokens": 1024}`` for a prompt-inclusive budget."""
        return {}

    def prepare(self, context: AnalysisContext) -> None:
        """Called before each scoring (tokenizer, sandbox, caches are in the context)."""

    def score(self, samples: Sequence[Sample], records: Sequence[GenerationRecord]) -> list[dict[str, Any]]:
        """One JSON-able dict per sample; ``records[i]`` is the generation record of ``samples[i]``."""
        raise NotImplementedError

    def aggregate(self, samples: Sequence[Sample], scores: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """Return {"metrics": {name: metric(...)}, "breakdown": {...} (optional)}."""
        raise NotImplementedError
