"""The forget-quality vs utility comparison of a set of runs on one forget task.

:func:`rank_runs` turns runs into two tables (pandas DataFrames):

* ``models``: one row per run: both scores with CIs, **PDR per model** (each run is a member of
  the pool and is scored against all other members), dominance/tie counts, Pareto-front
  membership, and the gains relative to the original model;
* ``methods``: one row per group (an unlearning method through its epochs; a run without lineage,
  such as the original model, is its own group): **PDR pooled** (the mean of its checkpoints'
  per-model PDR in the shared pool: the reading Table 1's values, not multiples of 1/4, point
  to; it does not reproduce them exactly: with the paper's 10 checkpoints per method, with or
  without the original, no dominance counts give copyright's 15.3 and 3.6 together, so the
  paper's pool is not known),
  **PDR per model, last epoch** (one model per method: its last scored checkpoint), and the
  utility at a fixed forget quality read off its epoch curve.

Runs lacking a score are kept in the tables with the reason in ``missing`` and left out of the
PDR pool (so they neither dominate nor count in anybody's denominator).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from code_unlearn_bench import comparability
from code_unlearn_bench.errors import CubError
from code_unlearn_bench.ranking import curves, pdr
from code_unlearn_bench.ranking.runs import Run, Score

UTILITY_PREFERENCE = ("humaneval", "heldout")

READINGS = {
    "pdr": "PDR per model: share of the other scored models in the pool that this model "
    "Pareto-dominates (ties dominate neither way)",
    "pdr_pooled": "PDR pooled: every checkpoint of every method in one pool, per-model PDR "
    "averaged over the method's checkpoints",
    "pdr_last_epoch": "PDR per model, one model per method: each method's last scored checkpoint "
    "against the other methods' (and the original's) representatives",
}
# Shown (and added to to_dict's readings) only when attack runs were joined in (ranking.robustness).
ROBUSTNESS_READING = ("effect of attack: the largest drop of forget quality from the unattacked baseline over the "
                      "attack's settings (positive = forgotten content came back; near 0 = robust); under attack: "
                      "the attack's headline metric (forget quality at its strongest setting; MIA: the AUC, and as its "
                      "effect MUSE's PrivLeak = (AUC - AUC_retain) / AUC_retain when the run had a retain model)")


def default_utility_task(runs: Sequence[Run]) -> str:
    present = {name for run in runs for name in run.task_names(kind="utility")}
    for name in UTILITY_PREFERENCE:
        if name in present:
            return name
    if present:
        return sorted(present)[0]
    raise CubError("no completed utility task (humaneval or heldout) in the given runs; pass --utility")


def forget_tasks(runs: Sequence[Run]) -> list[str]:
    tasks = sorted({name for run in runs for name in run.task_names(kind="forget")})
    if not tasks:
        raise CubError("no completed forget task in the given runs; pass --task")
    return tasks


def find_original(runs: Sequence[Run], ref: str | None = None) -> Run | None:
    """The model the checkpoints were unlearned from.

    ``ref`` (a name, spec, path or run directory) wins. Otherwise: the run named as
    ``lineage.base_model`` by the most checkpoints (this finds a ``cub learn`` model that the
    methods unlearned from, even though it has lineage itself), else the only run without lineage,
    else None."""
    if ref:
        matches = [run for run in runs if run.matches(ref)]
        if not matches:
            raise CubError(f"--original '{ref}' matches none of the given runs")
        if len(matches) > 1:
            raise CubError(f"--original '{ref}' matches {len(matches)} runs; name one run directory")
        return matches[0]
    bases = [run.lineage.get("base_model") for run in runs if run.lineage and run.lineage.get("base_model")]
    refs = sorted(((sum(run.matches(base) for base in bases), i) for i, run in enumerate(runs)), reverse=True)
    if refs and refs[0][0] > 0 and (len(refs) == 1 or refs[1][0] < refs[0][0]):
        return runs[refs[0][1]]
    plain = [run for run in runs if not run.lineage]
    if len(plain) == 1:
        return plain[0]
    return None


def _unique_labels(runs: Sequence[Run], by_name: bool = False) -> list[str]:
    labels = [run.name if by_name else run.label() for run in runs]
    counts = {label: labels.count(label) for label in labels}
    labels = [f"{lab} ({run.run_dir.name})" if counts[lab] > 1 else lab for lab, run in zip(labels, runs)]
    seen: dict[str, int] = {}
    out = []
    for lab in labels:  # still clashing (same dir names): number them, deterministically
        seen[lab] = seen.get(lab, 0) + 1
        out.append(lab if seen[lab] == 1 else f"{lab} #{seen[lab]}")
    return out


def _direction(scores: Sequence[Score | None], what: str) -> bool:
    flags = {s.higher_is_better for s in scores if s is not None}
    if not flags:
        raise CubError(f"no run has a score for {what}")
    if len(flags) > 1:
        raise CubError(f"runs disagree on whether higher is better for {what}")
    return flags.pop()


@dataclass
class Ranking:
    forget_task: str
    utility_task: str
    forget_metric: str
    utility_metric: str
    forget_higher_is_better: bool
    utility_higher_is_better: bool
    models: pd.DataFrame
    methods: pd.DataFrame
    original: str | None
    target_forget: float | None
    forget_fraction: float
    excluded_original: bool
    notes: list[str] = field(default_factory=list)
    # attack names whose robustness columns were joined in (ranking.robustness.attach); empty = none
    attacks: list[str] = field(default_factory=list)
    # "" when every run was made alike; else "pool i of n" (see rank_pools)
    pool: str = ""

    def to_dict(self) -> dict:
        out = {
            "forget_task": self.forget_task,
            "utility_task": self.utility_task,
            "forget_metric": self.forget_metric,
            "utility_metric": self.utility_metric,
            "forget_higher_is_better": self.forget_higher_is_better,
            "utility_higher_is_better": self.utility_higher_is_better,
            "original": self.original,
            "original_in_pool": not self.excluded_original,
            "forget_fraction": self.forget_fraction,
            "target_forget": self.target_forget,
            "readings": READINGS,
            "notes": self.notes,
            "pool": self.pool,
            # via to_json so NaN becomes null and numpy scalars become plain numbers
            "models": json.loads(self.models.to_json(orient="records")),
            "methods": json.loads(self.methods.to_json(orient="records")),
        }
        if self.attacks:  # only with attack runs joined: the output without them is unchanged
            out["attacks"] = self.attacks
            out["readings"] = {**READINGS, "robustness": ROBUSTNESS_READING}
        return out


def rank_runs(
    runs: Sequence[Run],
    forget_task: str,
    utility_task: str,
    group_by: str = "method",
    original: str | None = None,
    exclude_original: bool = False,
    forget_fraction: float = 0.9,
    label_by_name: bool = False,
) -> Ranking:
    """Rank ``runs`` on ``forget_task`` vs ``utility_task`` (see the module docstring).

    Rows are labelled ``method eN`` (or the model name for runs without lineage), or by model
    name everywhere with ``label_by_name`` (the leaderboard, where submitters name checkpoints)."""
    if group_by not in ("method", "model"):
        raise CubError(f"--group-by must be 'method' or 'model', not '{group_by}'")
    if not 0 < forget_fraction <= 1:
        raise CubError(f"--forget-fraction must be in (0, 1], got {forget_fraction}")
    orig_run = find_original(runs, original)
    labels = _unique_labels(runs, label_by_name)
    forget = [run.score(forget_task) for run in runs]
    utility = [run.score(utility_task) for run in runs]
    f_hib = _direction([s for s, _ in forget], f"task '{forget_task}'")
    u_hib = _direction([s for s, _ in utility], f"task '{utility_task}'")
    f_metric = next(s.metric for s, _ in forget if s)
    u_metric = next(s.metric for s, _ in utility if s)

    rows = []
    for run, label, (fs, f_why), (us, u_why) in zip(runs, labels, forget, utility):
        is_orig = run is orig_run
        missing = "; ".join(why for why in (f_why, u_why) if why)
        rows.append(
            {
                "model": label,
                "group": (run.method if group_by == "method" and run.lineage else label),
                "epoch": run.epoch,
                "original": is_orig,
                "forget": fs.value if fs else math.nan,
                "forget_ci_low": fs.ci95[0] if fs and fs.ci95 else math.nan,
                "forget_ci_high": fs.ci95[1] if fs and fs.ci95 else math.nan,
                "utility": us.value if us else math.nan,
                "utility_ci_low": us.ci95[0] if us and us.ci95 else math.nan,
                "utility_ci_high": us.ci95[1] if us and us.ci95 else math.nan,
                "in_pool": not missing and not (is_orig and exclude_original),
                "missing": missing,
                "run": str(run.source),  # the results file: unique even when runs share a folder
            }
        )
    models = pd.DataFrame(rows)
    models["epoch"] = models["epoch"].astype("Int64")

    pool = models.index[models["in_pool"]]
    oriented = np.column_stack(
        [pdr.orient(models.loc[pool, "forget"], f_hib), pdr.orient(models.loc[pool, "utility"], u_hib)]
    ) if len(pool) else np.zeros((0, 2))
    dom = pdr.dominance_matrix(oriented)
    models["pdr"] = math.nan
    models.loc[pool, "pdr"] = pdr.pdr(oriented)
    for col, values in (
        ("dominates", dom.sum(axis=1)),
        ("dominated_by", dom.sum(axis=0)),
        ("ties", pdr.tie_matrix(oriented).sum(axis=1)),
    ):
        models[col] = pd.array([pd.NA] * len(models), dtype="Int64")
        models.loc[pool, col] = values
    models["pareto"] = False
    models.loc[pool, "pareto"] = pdr.pareto_front(oriented)
    models["rank"] = models["pdr"].rank(ascending=False, method="min").astype("Int64")

    # Gains relative to the original model, oriented so that positive always means "better".
    models["forget_gain"] = math.nan
    models["utility_change"] = math.nan
    notes: list[str] = []
    orig_row = models[models["original"]]
    if orig_row.empty:
        notes.append("no original model identified (pass --original): gains not computed")
    else:
        o = orig_row.iloc[0]
        sign_f, sign_u = (1 if f_hib else -1), (1 if u_hib else -1)
        models["forget_gain"] = sign_f * (models["forget"] - o["forget"])
        models["utility_change"] = sign_u * (models["utility"] - o["utility"])
    for _, row in models[models["missing"] != ""].iterrows():
        notes.append(f"{row['model']} left out of the PDR pool: {row['missing']}")
    if len(pool) < 2:
        notes.append(f"only {len(pool)} scored model(s) in the pool: PDR is 0 by definition")

    target = None
    if len(pool):
        best = models.loc[pool, "forget"].max() if f_hib else models.loc[pool, "forget"].min()
        target = curves.target_forget_quality(float(best), forget_fraction, f_hib)
    methods = _method_table(models, f_hib, u_hib, target)
    models = models.sort_values(["rank", "forget"], ascending=[True, not f_hib], na_position="last",
                                kind="stable").reset_index(drop=True)
    return Ranking(
        forget_task=forget_task,
        utility_task=utility_task,
        forget_metric=f_metric,
        utility_metric=u_metric,
        forget_higher_is_better=f_hib,
        utility_higher_is_better=u_hib,
        models=models,
        methods=methods,
        original=None if orig_row.empty else orig_row.iloc[0]["model"],
        target_forget=target,
        forget_fraction=forget_fraction,
        excluded_original=exclude_original,
        notes=notes,
    )


def _pool_key(run: Run, tasks: Sequence[str]) -> tuple:
    out = []
    for task in tasks:
        res = run.task(task)
        out.append(comparability.key_hash(comparability.key(res)) if res and res.get("status") == "completed"
                   else None)
    return tuple(out)


def comparable_pools(runs: Sequence[Run], tasks: Sequence[str]) -> list[list[Run]]:
    """``runs`` split into groups made alike on every task of ``tasks`` (equal comparability keys);
    a run lacking a completed result joins the first group (it is reported there as missing)."""
    groups: dict[tuple, list[Run]] = {}
    loose = []
    for run in runs:
        k = _pool_key(run, tasks)
        (loose if None in k else groups.setdefault(k, [])).append(run)
    pools = list(groups.values()) or [[]]
    pools[0] = [run for run in runs if run in pools[0] or run in loose]
    return pools


def pool_difference(a: Sequence[Run], b: Sequence[Run], tasks: Sequence[str]) -> str:
    """Which settings differ between two pools (one line)."""
    parts = []
    for task in tasks:
        ra = next(r.task(task) for r in a if r.task(task) and r.task(task).get("status") == "completed")
        rb = next(r.task(task) for r in b if r.task(task) and r.task(task).get("status") == "completed")
        diff = comparability.mismatch(ra, rb)
        if diff:
            parts.append(f"{task}: {diff}")
    return "; ".join(parts)


def rank_pools(runs: Sequence[Run], forget_task: str, utility_task: str, original: str | None = None,
               **kwargs) -> list[Ranking]:
    """:func:`rank_runs` on each group of runs made alike (:func:`comparable_pools`): runs whose
    settings differ are never put in one PDR pool. One ranking when all runs are alike."""
    pools = comparable_pools(runs, [forget_task, utility_task])
    if len(pools) == 1:
        return [rank_runs(runs, forget_task, utility_task, original=original, **kwargs)]
    if original and not any(run.matches(original) for run in runs):
        raise CubError(f"--original '{original}' matches none of the given runs")
    out = []
    for i, members in enumerate(pools):
        ranking = rank_runs(members, forget_task, utility_task,
                            original=original if original and any(r.matches(original) for r in members) else None,
                            **kwargs)
        ranking.pool = f"pool {i + 1} of {len(pools)}"
        note = (f"{len(pools)} pools: runs whose {forget_task}/{utility_task} settings differ are ranked separately, "
                f"never in one pool")
        if i:
            note += f"; this pool differs from pool 1 in {pool_difference(pools[0], members, [forget_task, utility_task])}"
        ranking.notes.insert(0, note)
        out.append(ranking)
    return out


def _last_scored(members: pd.DataFrame) -> pd.Series | None:
    scored = members[members["in_pool"]]
    if scored.empty:
        return None
    return scored.sort_values("epoch", na_position="first", kind="stable").iloc[-1]


def _method_table(models: pd.DataFrame, f_hib: bool, u_hib: bool, target: float | None) -> pd.DataFrame:
    groups = list(dict.fromkeys(models["group"]))  # first-seen order, made stable by the sort below
    orig = models[models["original"] & ~models["forget"].isna() & ~models["utility"].isna()]
    reps = {g: _last_scored(models[models["group"] == g]) for g in groups}
    rep_groups = [g for g in groups if reps[g] is not None]
    rep_points = np.array(
        [[pdr.orient([reps[g]["forget"]], f_hib)[0], pdr.orient([reps[g]["utility"]], u_hib)[0]] for g in rep_groups]
    ).reshape(-1, 2)
    rep_pdr = dict(zip(rep_groups, pdr.pdr(rep_points)))

    rows = []
    for g in groups:
        members = models[models["group"] == g]
        scored = members[members["in_pool"]]
        is_method = not members["original"].any()
        best_forget = math.nan
        if not scored.empty:
            best_forget = scored["forget"].max() if f_hib else scored["forget"].min()
        rows.append(
            {
                "group": g,
                "checkpoints": len(members),
                "scored": len(scored),
                "pdr_pooled": scored["pdr"].mean() if not scored.empty else math.nan,
                "pdr_last_epoch": rep_pdr.get(g, math.nan),
                "last_epoch": reps[g]["epoch"] if reps[g] is not None else pd.NA,
                "best_forget": best_forget,
                "utility_at_target": _utility_at(scored, orig if is_method else orig.iloc[0:0], f_hib, u_hib, target),
                "original": bool(members["original"].any()),
                "missing": "; ".join(f"{r['model']}: {r['missing']}" for _, r in members.iterrows() if r["missing"]),
            }
        )
    table = pd.DataFrame(rows)
    table["last_epoch"] = table["last_epoch"].astype("Int64")
    table["rank"] = table["pdr_pooled"].rank(ascending=False, method="min").astype("Int64")
    return table.sort_values(["rank", "group"], na_position="last", kind="stable").reset_index(drop=True)


def _utility_at(scored: pd.DataFrame, orig: pd.DataFrame, f_hib: bool, u_hib: bool, target: float | None) -> float:
    """Utility where the method's curve (original model -> epoch 1 -> ... in epoch order) reaches
    the target forget quality; NaN when it never does. The curve starts at the original model
    because that is where unlearning starts: without it a method that overshoots the target at
    epoch 1 would never be seen "crossing" it."""
    if target is None or scored.empty:
        return math.nan
    curve = scored.sort_values("epoch", na_position="first", kind="stable")
    if not orig.empty and not (curve["epoch"] == 0).any():
        curve = pd.concat([orig, curve])
    xs = pdr.orient(curve["forget"], f_hib)
    ys = pdr.orient(curve["utility"], u_hib)
    best = curves.best_value_at(xs, ys, pdr.orient([target], f_hib)[0])
    if best is None:
        return math.nan
    return best if u_hib else -best
