"""Utility from lm-evaluation-harness: ``cub rank ... --utility-results PATH:TASK:METRIC``.

PDR then ranks forget quality against any task lm-eval runs (MMLU, MBPP, ...). PATH is one
results JSON that ``lm_eval --output_path`` wrote (``results_<date>.json``) or a folder searched
recursively for them; TASK is the lm-eval task name; METRIC its metric (``acc`` means lm-eval's
``acc,none``; give ``exact_match,strict-match`` for a filtered one). Nothing of lm-eval is imported:
its results file is the interface.

Each results file is joined to the ranked ``cub evaluate`` runs by model: the ``pretrained``
model argument lm-eval recorded (the path it loaded) must designate the run's model (same
name, spec or path; paths compared resolved). ``--utility-map FILE`` (JSON or YAML object)
maps an lm-eval model (as recorded) or a results file to a cub run dir / model when they differ.
The score becomes a utility task ``lm_eval:<TASK>`` of that run, so the ranking, its
notes for runs lacking a score, the tables and plots are the ordinary ones. The CI is
value +- 1.96 x lm-eval's standard error (normal approximation; none when lm-eval reports none).
Several results files for one model: the newest (lm-eval's ``date``) is used, and a note says so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from code_unlearn_bench.errors import CubError
from code_unlearn_bench.ranking.runs import Run

PREFIX = "lm_eval:"


@dataclass(frozen=True)
class UtilitySpec:
    path: Path
    task: str
    metric: str  # lm-eval's key, "<metric>,<filter>"

    @property
    def metric_name(self) -> str:
        name, _, flt = self.metric.partition(",")
        return name if flt == "none" else self.metric

    @property
    def task_name(self) -> str:
        return PREFIX + self.task


@dataclass(frozen=True)
class HarnessScore:
    file: Path
    model: str
    date: float
    value: float
    stderr: float | None
    n: int
    higher_is_better: bool


def parse_spec(text: str) -> UtilitySpec:
    parts = text.rsplit(":", 2)
    if len(parts) != 3 or not all(p.strip() for p in parts):
        raise CubError(f"--utility-results expects PATH:TASK:METRIC (e.g. lm-eval-out:mmlu:acc), got '{text}'")
    path, task, metric = (p.strip() for p in parts)
    return UtilitySpec(Path(path), task, metric if "," in metric else f"{metric},none")


def model_of(doc: dict[str, Any]) -> str:
    args = (doc.get("config") or {}).get("model_args")
    if isinstance(args, str):  # older lm-eval: "pretrained=/path,dtype=float32"
        args = dict(kv.split("=", 1) for kv in args.split(",") if "=" in kv)
    model = (args or {}).get("pretrained") or doc.get("model_name")
    if not model:
        raise CubError("an lm-eval results file names no model (config.model_args.pretrained)")
    return str(model)


def _number(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):  # lm-eval writes "N/A" for a missing stderr
        return None


def read_scores(spec: UtilitySpec) -> list[HarnessScore]:
    if not spec.path.exists():
        raise CubError(f"--utility-results: no such file or folder: {spec.path}")
    files = [spec.path] if spec.path.is_file() else sorted(spec.path.rglob("results*.json"))
    out, tasks_seen = [], set()
    for file in files:
        try:
            doc = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CubError(f"cannot read lm-eval results {file}: {exc}") from None
        results = doc.get("results") if isinstance(doc, dict) else None
        if not isinstance(results, dict):
            raise CubError(f"{file} is not an lm-eval results file (no 'results' object)")
        tasks_seen |= set(results)
        if spec.task not in results:
            continue
        entry = results[spec.task]
        value = _number(entry.get(spec.metric))
        if value is None:
            known = sorted(k for k in entry if "," in k and "_stderr" not in k)
            raise CubError(f"{file}: task '{spec.task}' has no metric '{spec.metric}' (it has {', '.join(known)})")
        base = spec.metric.split(",", 1)[0]
        stderr_key = spec.metric.replace(",", "_stderr,", 1)
        out.append(HarnessScore(
            file=file, model=model_of(doc), date=float(doc.get("date") or 0), value=value,
            stderr=_number(entry.get(stderr_key)),
            n=int(((doc.get("n-samples") or {}).get(spec.task) or {}).get("effective") or 0),
            higher_is_better=bool(((doc.get("higher_is_better") or {}).get(spec.task) or {}).get(base, True))))
    if not out:
        found = ", ".join(sorted(tasks_seen)) or "no results files"
        raise CubError(f"--utility-results: no lm-eval result for task '{spec.task}' under {spec.path} (found: {found})")
    return out


def load_mapping(path: str | Path | None) -> dict[str, str]:
    if not path:
        return {}
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))  # JSON is YAML
    except (OSError, yaml.YAMLError) as exc:
        raise CubError(f"cannot read --utility-map {path}: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise CubError(f"--utility-map {path} must map lm-eval models (or results files) to cub runs or models")
    return {str(k): v for k, v in data.items()}


def _task_result(spec: UtilitySpec, score: HarnessScore) -> dict[str, Any]:
    ci = None if score.stderr is None else [round(score.value - 1.96 * score.stderr, 6),
                                            round(score.value + 1.96 * score.stderr, 6)]
    return {"status": "completed", "task": {"name": spec.task_name, "kind": "utility", "source": str(score.file),
                                            "n": score.n},
            "primary_metric": spec.metric_name,
            "metrics": {spec.metric_name: {"value": score.value, "ci95": ci, "n": score.n,
                                           "higher_is_better": score.higher_is_better}}}


def attach(runs: Sequence[Run], spec: UtilitySpec, mapping: dict[str, str] | None = None) -> list[str]:
    """Add the lm-eval score of each run's model as task ``spec.task_name``; returns notes."""
    mapping = mapping or {}
    newest: dict[str, list[HarnessScore]] = {}
    for score in read_scores(spec):
        newest.setdefault(score.model, []).append(score)
    notes = []
    for model, scores in sorted(newest.items()):
        scores.sort(key=lambda s: s.date)
        chosen = scores[-1]
        if len(scores) > 1:
            notes.append(f"lm-eval {spec.task}: {len(scores)} results files for {model}; used the newest "
                         f"({chosen.file.name})")
        ref = mapping.get(str(chosen.file), mapping.get(model, model))
        matched = [run for run in runs if run.matches(ref)]
        if not matched:
            notes.append(f"lm-eval {spec.task} results for {model} match no ranked run (map it with --utility-map)")
        for run in matched:
            run.data.setdefault("tasks", {})[spec.task_name] = _task_result(spec, chosen)
    return notes
