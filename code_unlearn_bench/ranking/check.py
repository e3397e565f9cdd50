"""The CI regression gate behind `cub check`.

:func:`compare_runs` compares a candidate run with a baseline task by task on each task's primary
metric. A *drop* is the change in the bad direction (so lower-is-better metrics such as
``heldout_nll`` are handled like the others); the candidate regresses on a task when the drop is
larger than the task kind's threshold. A task the baseline completed but the candidate lacks, or
made differently (comparability keys differ: task version, data, samples, generation settings,
task options; see ``code_unlearn_bench.comparability``), fails the gate too: a gate that passes
because a score silently disappeared, or a short budget made forgetting look perfect, would be
worse than none.

:func:`pdr_gate` checks that a candidate keeps a minimum PDR (per-model reading) within a stored
set of models.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

from code_unlearn_bench import comparability
from code_unlearn_bench.errors import CubError
from code_unlearn_bench.ranking.runs import Run, Score

# Float noise from JSON round trips must not turn "no change" into a regression.
EPS = 1e-9

FAILING = ("regression", "missing", "not comparable", "below minimum")


@dataclass
class TaskCheck:
    task: str
    kind: str
    metric: str
    baseline: Score | None
    candidate: Score | None
    change: float | None  # oriented: positive = candidate better
    threshold: float | None
    status: str  # ok | improved | regression | within CI | missing | not comparable | new
    detail: str = ""

    @property
    def failed(self) -> bool:
        return self.status in FAILING


def _cis_overlap(a: Score, b: Score) -> bool | None:
    if a.ci95 is None or b.ci95 is None:
        return None
    return a.ci95[0] <= b.ci95[1] and b.ci95[0] <= a.ci95[1]


def compare_runs(
    baseline: Run,
    candidate: Run,
    max_forget_drop: float = 0.02,
    max_utility_drop: float = 0.02,
    max_drop: Mapping[str, float] | None = None,
    require_significant: bool = False,
) -> list[TaskCheck]:
    """One :class:`TaskCheck` per task of either run (baseline order first, then new tasks).

    ``max_drop`` overrides the threshold per task (e.g. ``heldout`` NLL has its own scale).
    With ``require_significant`` a drop beyond the threshold only fails when the two 95% CIs do
    not overlap (otherwise it is reported as ``within CI``)."""
    for name, value in (("--max-forget-drop", max_forget_drop), ("--max-utility-drop", max_utility_drop),
                        *((f"--max-drop {k}", v) for k, v in (max_drop or {}).items())):
        if not (value >= 0 and math.isfinite(value)):
            raise CubError(f"{name} must be a non-negative number, got {value}")
    max_drop = dict(max_drop or {})
    checks: list[TaskCheck] = []
    names = list(baseline.data["tasks"]) + [t for t in candidate.data["tasks"] if t not in baseline.data["tasks"]]
    for task in names:
        b_res, c_res = baseline.task(task), candidate.task(task)
        kind = (b_res or c_res)["task"]["kind"]
        threshold = max_drop.get(task, max_forget_drop if kind == "forget" else max_utility_drop)
        b_score, b_why = baseline.score(task)
        c_score, c_why = candidate.score(task)
        metric = (b_score or c_score).metric if (b_score or c_score) else (b_res or c_res).get("primary_metric", "?")
        check = TaskCheck(task, kind, metric, b_score, c_score, None, threshold, "ok")
        checks.append(check)
        if b_score is None:
            check.status, check.threshold = "new", None
            check.detail = f"baseline: {b_why}" + ("" if c_score else f"; candidate: {c_why}")
            continue
        if c_score is None:
            check.status, check.detail = "missing", f"candidate: {c_why}"
            continue
        mismatch = _identity_mismatch(b_res, c_res, b_score, c_score)
        if mismatch:
            check.status, check.detail = "not comparable", mismatch
            continue
        sign = 1 if b_score.higher_is_better else -1
        check.change = sign * (c_score.value - b_score.value) + 0.0  # + 0.0: no '-0.0000' in the diff
        drop = -check.change
        if drop > threshold + EPS:
            overlap = _cis_overlap(b_score, c_score)
            check.detail = f"dropped {drop:.4f} > allowed {threshold:g}"
            if require_significant and overlap is not False:
                check.status = "within CI"
                check.detail += "; 95% CIs overlap" if overlap else "; no CIs to tell"
            else:
                check.status = "regression"
                if overlap:
                    check.detail += " (95% CIs overlap)"
        elif check.change > EPS:
            check.status = "improved"
    return checks


def _identity_mismatch(b_res: dict, c_res: dict, b: Score, c: Score) -> str:
    for who, res in (("baseline", b_res), ("candidate", c_res)):
        edited = comparability.written_mismatch(res)
        if edited:
            return f"{who}: {edited}"
    diff = comparability.mismatch(b_res, c_res)
    if diff:  # every differing setting, baseline value first
        return f"made differently (baseline vs candidate): {diff}"
    if b.metric != c.metric:
        return f"primary metric {b.metric} vs {c.metric}"
    if b.higher_is_better != c.higher_is_better:
        return f"{b.metric}: direction differs"
    return ""


@dataclass
class PdrCheck:
    task: str
    utility_task: str
    pdr: float | None
    pool_size: int
    minimum: float
    status: str  # ok | below minimum | missing
    detail: str = ""

    @property
    def failed(self) -> bool:
        return self.status in FAILING


def _same_run(a: Run, b: Run) -> bool:
    if a.source.resolve() == b.source.resolve():
        return True
    return (a.model.get("fingerprint") == b.model.get("fingerprint")
            and a.data.get("config_hash") == b.data.get("config_hash"))


def pdr_gate(candidate: Run, model_set: Sequence[Run], pdr_min: float, tasks: Sequence[str] | None = None,
             utility: str | None = None) -> list[PdrCheck]:
    """Per-model PDR of ``candidate`` in the pool ``model_set`` + candidate, per forget task.

    A copy of the candidate already in the set (same file, or same model fingerprint and config)
    is dropped so the candidate is not compared with itself, and so is every model made with other
    settings than the candidate (comparability keys differ): they never share its pool."""
    from code_unlearn_bench.ranking.tradeoff import comparable_pools, default_utility_task, rank_runs

    if not 0 <= pdr_min <= 1:
        raise CubError(f"--pdr-min is a fraction in [0, 1], got {pdr_min}")
    others = [run for run in model_set if not _same_run(run, candidate)]
    pool = [*others, candidate]
    utility = utility or default_utility_task(pool)
    tasks = list(tasks or candidate.task_names(kind="forget"))
    if not tasks:
        raise CubError(f"candidate {candidate.source} has no completed forget task; pass --task")
    out = []
    for task in tasks:
        alike = next(p for p in comparable_pools(pool, [task, utility]) if candidate in p)
        ranking = rank_runs(alike, task, utility, group_by="model")
        row = ranking.models[ranking.models["run"] == str(candidate.source)].iloc[0]
        size = int(ranking.models["in_pool"].sum())
        left_out = len(pool) - len(alike)
        if row["missing"]:
            out.append(PdrCheck(task, utility, None, size, pdr_min, "missing", row["missing"]))
            continue
        value = float(row["pdr"])
        status = "ok" if value + EPS >= pdr_min else "below minimum"
        detail = f"dominates {row['dominates']} of {size - 1}, dominated by {row['dominated_by']}"
        if left_out:
            detail += f"; {left_out} model(s) made with other {task}/{utility} settings left out of the pool"
        out.append(PdrCheck(task, utility, value, size, pdr_min, status, detail))
    return out
