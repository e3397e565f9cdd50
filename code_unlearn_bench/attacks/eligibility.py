"""Which checkpoints are worth attacking: the paper attacks only those that keep at least 60% of
the original model's utility (an unlearned model that lost its skills "forgets" trivially).

Utility comes from two `cub evaluate` results: the original model's (``--utility-results``) and
the checkpoint's (``--candidate-results``). Every utility task the two have in common (or the one
named by ``--utility-task``) must keep the share:

  higher is better (pass@1):      checkpoint >= share * original
  lower is better (held-out NLL): checkpoint <= original / share   (the share of the original
                                  loss-based skill is original / checkpoint)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from code_unlearn_bench.errors import CubError

DEFAULT_SHARE = 0.6


@dataclass(frozen=True)
class EligibilityInputs:
    """What the utility check compares (both runs None: not checked)."""

    utility_results: str | None = None  # the original model's `cub evaluate` run
    candidate_results: str | None = None  # the attacked checkpoint's run
    min_share: float = DEFAULT_SHARE
    utility_task: str | None = None

    def check(self, fingerprint: str) -> dict[str, Any]:
        return check(self.utility_results, self.candidate_results, fingerprint, self.min_share, self.utility_task)


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def check(utility_results: str | None, candidate_results: str | None, fingerprint: str,
          min_share: float = DEFAULT_SHARE, utility_task: str | None = None) -> dict[str, Any]:
    """Returns {"checked", "eligible", "min_share", "reason", "tasks": {...}}; ``eligible`` is None
    (unknown) when neither run is given. Raises CubError for unusable input (one of the two
    results missing, no shared utility task, another model's run)."""
    if not 0 < min_share <= 1:
        raise CubError(f"--min-utility-share must be in (0, 1], got {min_share}")
    if not utility_results and not candidate_results:
        # unknown utility is never "eligible": the attack runs, and its results say it was not judged
        return {"checked": False, "eligible": None, "min_share": min_share, "tasks": {},
                "reason": f"eligibility unknown: without --utility-results (the original model's `cub evaluate` "
                          f"run) and --candidate-results (this checkpoint's) it cannot be judged whether the "
                          f"checkpoint keeps >= {min_share:.0%} of the original utility"}
    if not utility_results or not candidate_results:
        raise CubError("the utility check needs both --utility-results (the original model's run) and "
                       "--candidate-results (this checkpoint's run)")
    from code_unlearn_bench.ranking.runs import load_run

    base, cand = load_run(utility_results), load_run(candidate_results)
    if cand.model.get("fingerprint") != fingerprint:
        raise CubError(f"--candidate-results {candidate_results} is a run of '{cand.model.get('spec')}', "
                       f"not of the attacked --model (weights fingerprints differ)")
    shared = [t for t in base.task_names(kind="utility") if t in cand.task_names(kind="utility")]
    if utility_task:
        if utility_task not in shared:
            raise CubError(f"--utility-task '{utility_task}' is not a completed utility task of both runs "
                           f"(shared: {', '.join(shared) or 'none'})")
        shared = [utility_task]
    if not shared:
        raise CubError(f"{utility_results} and {candidate_results} share no completed utility task "
                       f"(evaluate both with e.g. --tasks heldout or humaneval)")
    tasks: dict[str, Any] = {}
    failures = []
    for name in shared:
        b, why_b = base.score(name)
        c, why_c = cand.score(name)
        if b is None or c is None:
            raise CubError(f"utility task '{name}': {why_b or why_c}")
        if b.higher_is_better:
            ok = c.value >= min_share * b.value
            share = c.value / b.value if b.value > 0 else None
        else:
            ok = c.value * min_share <= b.value
            share = b.value / c.value if c.value > 0 else None
        tasks[name] = {"metric": b.metric, "original": b.value, "checkpoint": c.value,
                       "higher_is_better": b.higher_is_better, "share": None if share is None else round(share, 6),
                       "eligible": ok}
        if not ok:
            kept = f"{share:.0%}" if share is not None else "none"
            failures.append(f"{name} {b.metric} {_fmt(c.value)} vs original {_fmt(b.value)} keeps {kept} "
                            f"of the original utility (< {min_share:.0%})")
    reason = ("skipped: " + "; ".join(failures)) if failures else \
        f"eligible: keeps >= {min_share:.0%} of the original utility on {', '.join(shared)}"
    return {"checked": True, "eligible": not failures, "min_share": min_share, "tasks": tasks, "reason": reason,
            "utility_results": str(utility_results), "candidate_results": str(candidate_results)}
