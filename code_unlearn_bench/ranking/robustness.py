"""Robustness columns: attack runs (``cub attack``, ``"kind": "attack"``) joined to a ranking.

An attack run is joined to the ranked (evaluate) runs of the same model weights, by
``model.fingerprint``, and to the ranking's forget task by task name. Per attack (``prefix``,
``quant``, ``relearn``, ``mia``) and ranked model the figures are:

* the **headline**: the attack run's primary metric on the task, i.e. forget quality under the
  strongest setting (``forget_quality@k=<max k>``, ``@int<min bits>``, ``@relearned``; MIA: the
  Min-K% AUC);
* the **effect of attack**: the largest ``effect_of_attack@<setting>`` over the settings (the drop
  of forget quality from the unattacked baseline; positive = forgotten content came back), with
  the setting that produced it. MIA has no settings: its effect is MUSE's PrivLeak
  (``privleak@<headline score>``, setting ``PrivLeak``) when the run had a retain model.

A model without figures keeps its row with the reason in ``<attack>_missing``: ``skipped: <why>``
for a checkpoint the attack found ineligible (it keeps too little of the original utility), else
``missing: ...`` (never attacked, the attack run lacks the task, or ran it on other data). Attack
runs that match no ranked model are named in the ranking's notes. Nothing is dropped silently.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import Callable, Sequence

import pandas as pd

from code_unlearn_bench.errors import CubError
from code_unlearn_bench.ranking.runs import Run, Score
from code_unlearn_bench.ranking.tradeoff import ROBUSTNESS_READING, Ranking

EFFECT_PREFIX = "effect_of_attack@"
PRIVLEAK_PREFIX = "privleak@"

READING = ROBUSTNESS_READING

# Per-attack columns added to Ranking.models (``<attack>_<suffix>``) and Ranking.methods.
MODEL_COLUMNS = ("headline", "headline_ci_low", "headline_ci_high", "headline_metric", "effect", "effect_ci_low",
                 "effect_ci_high", "effect_setting", "missing")
METHOD_COLUMNS = ("mean_effect", "attacked", "skipped")


@dataclass(frozen=True)
class Robustness:
    """One attack's figures for one model on one task (``missing`` is "" when they are present)."""

    attack: str
    task: str
    headline: Score | None = None
    effect: Score | None = None
    effect_setting: str | None = None
    missing: str = ""
    source: str | None = None  # the attack run's results file

    @property
    def skipped(self) -> bool:
        return self.missing.startswith("skipped")


def attack_name(run: Run) -> str:
    """The attack an attack run ran (``prefix``, ``quant``, ...)."""
    name = (run.data.get("attack") or {}).get("name") or (run.data.get("config", {}).get("attack") or {}).get("name")
    if not name:
        raise CubError(f"{run.source} names no attack (no attack.name)")
    return str(name)


def _natural(text: str) -> list:
    """Sort key with numbers compared as numbers (``k=8`` before ``k=32``)."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", text) if part]


def setting_order(result: dict) -> list[str]:
    """The attack's settings in a stable order: the baseline first, then the others in natural
    order (stored submissions sort their keys, so the written order is not kept)."""
    attack = result.get("attack") or {}
    names = set(attack.get("settings") or {})
    names |= {m[len(EFFECT_PREFIX):] for m in result.get("metrics", {}) if m.startswith(EFFECT_PREFIX)}
    baseline = attack.get("baseline")
    rest = sorted((n for n in names if n != baseline), key=_natural)
    return ([baseline] if baseline in names else []) + rest


def largest_effect(run: Run, task: str) -> tuple[Score | None, str | None]:
    """The largest ``effect_of_attack@<setting>`` of ``task`` and its setting (ties: the first in
    :func:`setting_order`); ``(None, None)`` when there is none."""
    result = run.task(task) or {}
    best: tuple[Score, str] | None = None
    for setting in setting_order(result):
        score, _ = run.score(task, f"{EFFECT_PREFIX}{setting}")
        if score is not None and (best is None or score.value > best[0].value):
            best = (score, setting)
    return best if best else (None, None)


def privleak(run: Run, task: str) -> tuple[Score | None, str | None]:
    """An MIA run's PrivLeak for its headline score (``privleak@min_k``), if it had a retain model."""
    primary = (run.task(task) or {}).get("primary_metric") or ""
    score, _ = run.score(task, PRIVLEAK_PREFIX + primary.split("@", 1)[-1]) if "@" in primary else (None, None)
    return (score, "PrivLeak") if score is not None else (None, None)


def _stale_definition(name: str, result: dict) -> str | None:
    """An attack run of another definition (the MIA before issue 21: other AUC orientation,
    PrivLeak as a fraction) is never shown beside current ones."""
    from code_unlearn_bench.comparability import ATTACK_VERSIONS

    current = ATTACK_VERSIONS.get(name)
    if current is None or result.get("status") != "completed":
        return None
    found = (result.get("attack") or {}).get("version")
    if found == current:
        return None
    return (f"missing: the {name} run predates its current definition (version {found or 1} vs {current}); "
            f"re-run `cub attack {name}`")


def figures(run: Run, task: str, reference: dict | None = None) -> Robustness:
    """The robustness figures of attack run ``run`` on ``task``. ``reference`` is the evaluate
    run's result for the task: an attack on another task version or other data is not comparable
    and is reported as missing."""
    name = attack_name(run)
    source = str(run.source)
    result = run.task(task)
    if result is None:
        return Robustness(name, task, missing=f"missing: the {name} run has no '{task}' result", source=source)
    if reference is not None:
        mine, theirs = result.get("task", {}), reference.get("task", {})
        for key, what in (("version", "task version"), ("data_hash", "data")):
            if mine.get(key) and theirs.get(key) and mine[key] != theirs[key]:
                return Robustness(name, task, missing=f"missing: the {name} run used another {what} on '{task}' "
                                                      f"({mine[key]} vs {theirs[key]})", source=source)
    stale = _stale_definition(name, result)
    if stale:
        return Robustness(name, task, missing=stale, source=source)
    status = result.get("status")
    if status != "completed":
        reason = result.get("reason")
        label = "skipped" if status == "skipped" else f"missing: {status}"
        return Robustness(name, task, missing=label + (f": {reason}" if reason else ""), source=source)
    headline, why = run.score(task)
    effect, setting = largest_effect(run, task)
    if effect is None:
        effect, setting = privleak(run, task)
    if headline is None and effect is None:
        return Robustness(name, task, missing=f"missing: {why}", source=source)
    return Robustness(name, task, headline=headline, effect=effect, effect_setting=setting, source=source)


def _pick(candidates: list[Run], fingerprint: str, name: str, task: str) -> Run | None:
    if len(candidates) > 1:
        files = ", ".join(str(r.source) for r in candidates)
        raise CubError(f"{len(candidates)} {name} attack runs of model {fingerprint} on '{task}' ({files}); give one")
    return candidates[0] if candidates else None


def model_figures(run: Run, task: str, attack_runs: Sequence[Run]) -> dict[str, Robustness]:
    """Attack name -> figures for ranked evaluate ``run`` on ``task``, for every attack present in
    ``attack_runs`` (a model never attacked by one of them gets a ``missing`` entry)."""
    fingerprint = run.model["fingerprint"]
    names = sorted({attack_name(a) for a in attack_runs})
    out = {}
    for name in names:
        same_model = [a for a in attack_runs if a.model["fingerprint"] == fingerprint and attack_name(a) == name]
        chosen = _pick([a for a in same_model if a.task(task) is not None], fingerprint, name, task)
        if chosen is not None:
            out[name] = figures(chosen, task, run.task(task))
        elif same_model:
            out[name] = Robustness(name, task, missing=f"missing: the {name} run has no '{task}' result",
                                   source=str(same_model[0].source))
        else:
            out[name] = Robustness(name, task, missing=f"missing: no {name} attack run of this model")
    return out


def _nan(value) -> float:
    return math.nan if value is None else float(value)


def attach(ranking: Ranking, runs: Sequence[Run], attack_runs: Sequence[Run],
           describe: Callable[[Run], str] = lambda run: str(run.source)) -> Ranking:
    """A copy of ``ranking`` (computed from ``runs``) with robustness columns from ``attack_runs``:
    per attack ``A``, ``A_headline`` (+ CI, metric name), ``A_effect`` (+ CI, setting) and
    ``A_missing`` per model; ``A_mean_effect``, ``A_attacked``, ``A_skipped`` per method.
    ``describe`` names an attack run in the notes (default: its results file)."""
    if not attack_runs:
        return ranking
    by_source = {str(run.source): run for run in runs}
    task = ranking.forget_task
    names = sorted({attack_name(a) for a in attack_runs})
    models = ranking.models.copy()
    found: dict[str, list[Robustness]] = {name: [] for name in names}
    for _, row in models.iterrows():
        per = model_figures(by_source[row["run"]], task, attack_runs)
        for name in names:
            found[name].append(per[name])
    for name in names:
        figs = found[name]
        models[f"{name}_headline"] = [_nan(f.headline.value) if f.headline else math.nan for f in figs]
        models[f"{name}_headline_ci_low"] = [f.headline.ci95[0] if f.headline and f.headline.ci95 else math.nan
                                             for f in figs]
        models[f"{name}_headline_ci_high"] = [f.headline.ci95[1] if f.headline and f.headline.ci95 else math.nan
                                              for f in figs]
        models[f"{name}_headline_metric"] = [f.headline.metric if f.headline else "" for f in figs]
        models[f"{name}_effect"] = [_nan(f.effect.value) if f.effect else math.nan for f in figs]
        models[f"{name}_effect_ci_low"] = [f.effect.ci95[0] if f.effect and f.effect.ci95 else math.nan for f in figs]
        models[f"{name}_effect_ci_high"] = [f.effect.ci95[1] if f.effect and f.effect.ci95 else math.nan for f in figs]
        models[f"{name}_effect_setting"] = [f.effect_setting or "" for f in figs]
        models[f"{name}_missing"] = [f.missing for f in figs]

    methods = ranking.methods.copy()
    for name in names:
        mean, attacked, skipped = [], [], []
        for group in methods["group"]:
            members = models[models["group"] == group]
            effects = members[f"{name}_effect"].dropna()
            mean.append(float(effects.mean()) if len(effects) else math.nan)
            attacked.append(len(effects))
            skipped.append(int(members[f"{name}_missing"].str.startswith("skipped").sum()))
        methods[f"{name}_mean_effect"] = mean
        methods[f"{name}_attacked"] = pd.array(attacked, dtype="Int64")
        methods[f"{name}_skipped"] = pd.array(skipped, dtype="Int64")

    notes = list(ranking.notes)
    ranked = {run.model["fingerprint"] for run in by_source.values()}
    for a in attack_runs:
        if a.task(task) is not None and a.model["fingerprint"] not in ranked:
            fingerprint = a.model["fingerprint"][:19]
            notes.append(f"{attack_name(a)} attack run {describe(a)} (model {a.name}, {fingerprint}...) "
                         f"matches no ranked model on '{task}'")
    for name in names:
        lacking = int((models[f"{name}_headline"].isna() & models[f"{name}_effect"].isna()).sum())
        if lacking:
            notes.append(f"{name}: {lacking} of {len(models)} model(s) have no attack figures "
                         f"(the reason is in their {name} columns)")
    return dataclasses.replace(ranking, models=models, methods=methods, notes=notes, attacks=names)


def attach_all(rankings: Sequence[Ranking], runs: Sequence[Run], attack_runs: Sequence[Run]) -> list[Ranking]:
    return [attach(r, runs, attack_runs) for r in rankings]
