"""How sure a PDR is within one run: a paired bootstrap over the evaluation samples.

Every model of a PDR pool is scored on the same forget samples and the same utility samples, so
one resample of sample ids (forget and utility drawn independently, the same draw for every
model) gives every model new mean scores, hence a new pool, new per-model PDRs and a new pooled
PDR per method. Over many draws: a percentile 95% interval of each method's pooled PDR and the
probability that each method has the highest one (ties count for each tied method). With the
few samples of a CPU run the intervals are wide; that is the point of printing them.

Per-sample values are read from ``generations/<task>.jsonl`` (the ``scores`` written at scoring);
a run whose per-sample values do not average to its reported metric is refused rather than
bootstrapped on something else.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from code_unlearn_bench.errors import CubError

RESAMPLES = 1000
SEED = 20240607


def _forget_quality(s: dict) -> float | None:
    if "forget_quality" in s:
        return s["forget_quality"]
    if "exact_match" in s:  # deprecated: only the forget split counts
        return 1.0 - float(s["exact_match"]) if s.get("split", "forget") == "forget" else None
    return None


# primary metric -> its value for one sample (None: the sample is not part of the metric)
PER_SAMPLE: dict[str, Callable[[dict], float | None]] = {
    "forget_quality": _forget_quality,
    "heldout_nll": lambda s: s.get("nll"),
    "pass@1": lambda s: s["c"] / s["n"] if s.get("n") else None,  # the unbiased estimator at k = 1
}


def sample_values(run_dir: Path, result: dict) -> dict[str, float]:
    """id -> per-sample value of the task's primary metric (checked against the reported value)."""
    task, metric = result["task"]["name"], result["primary_metric"]
    if metric not in PER_SAMPLE:
        raise CubError(f"no per-sample reading of '{metric}' for a bootstrap")
    path = Path(run_dir) / "generations" / f"{task}.jsonl"
    if not path.is_file():
        raise CubError(f"{path} is missing: no per-sample scores to bootstrap")
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        v = PER_SAMPLE[metric](rec.get("scores") or {})
        if v is not None:
            values[rec["id"]] = float(v)
    reported = result["metrics"][metric]["value"]
    if not values or abs(float(np.mean(list(values.values()))) - reported) > 1e-5:
        raise CubError(f"{path}: per-sample {metric} do not average to the reported {reported}")
    return values


def _matrix(runs: Sequence[Any], task: str) -> np.ndarray:
    per_run = [sample_values(r.run_dir, r.task(task)) for r in runs]
    ids = sorted(set.intersection(*(set(v) for v in per_run)))
    if any(len(v) != len(ids) for v in per_run):
        raise CubError(f"the pool's runs were scored on different '{task}' samples: no paired bootstrap")
    return np.array([[v[i] for i in ids] for v in per_run])


def _pooled_pdr(forget: np.ndarray, utility: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """(draws, models) oriented means -> (draws, groups) pooled PDR (pdr.py's definition, batched)."""
    f, u = forget[:, :, None], utility[:, :, None]
    ft, ut = forget[:, None, :], utility[:, None, :]
    dom = (f >= ft) & (u >= ut) & ((f > ft) | (u > ut))
    per_model = dom.sum(axis=2) / max(forget.shape[1] - 1, 1)
    return per_model @ groups.T / groups.sum(axis=1)


def bootstrap_pdr(ranking: dict[str, Any], runs: Sequence[Any], resamples: int = RESAMPLES,
                  seed: int = SEED) -> dict[str, Any]:
    """Pooled-PDR intervals and P(first) of every method of ``ranking`` (a Ranking.to_dict())."""
    by_source = {str(r.source): r for r in runs}
    pool = [m for m in ranking["models"] if m["in_pool"]]
    members = [by_source[m["run"]] for m in pool]
    names = list(dict.fromkeys(m["group"] for m in pool))
    groups = np.array([[m["group"] == g for m in pool] for g in names], dtype=float)
    sign_f = 1.0 if ranking["forget_higher_is_better"] else -1.0
    sign_u = 1.0 if ranking["utility_higher_is_better"] else -1.0
    F = sign_f * _matrix(members, ranking["forget_task"])
    U = sign_u * _matrix(members, ranking["utility_task"])
    rng = np.random.default_rng(seed)
    fi = rng.integers(0, F.shape[1], size=(resamples, F.shape[1]))
    ui = rng.integers(0, U.shape[1], size=(resamples, U.shape[1]))
    draws = _pooled_pdr(F[:, fi].mean(axis=2).T, U[:, ui].mean(axis=2).T, groups)
    point = _pooled_pdr(F.mean(axis=1)[None], U.mean(axis=1)[None], groups)[0]
    methods = [i for i, g in enumerate(names) if not any(m["original"] for m in pool if m["group"] == g)]
    best = draws[:, methods].max(axis=1, keepdims=True)
    out = {}
    for i, g in enumerate(names):
        lo, hi = np.percentile(draws[:, i], [2.5, 97.5])
        out[g] = {"pdr_pooled": round(float(point[i]), 6), "ci95": [round(float(lo), 6), round(float(hi), 6)],
                  "p_first": round(float((draws[:, i:i + 1] >= best).mean()), 4) if i in methods else None}
    return {"resamples": resamples, "seed": seed, "n_forget": int(F.shape[1]), "n_utility": int(U.shape[1]),
            "methods": out}
