"""Schema-valid results.json documents built from plain numbers.

For tests, docs and demos of ranking/check/leaderboard without running a model. The documents
follow code_unlearn_bench/schemas/results.schema.json (the tests validate them against it).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Mapping

from code_unlearn_bench.comparability import ATTACK_VERSIONS

# task -> (kind, primary metric, higher_is_better, version)
TASKS: dict[str, tuple[str, str, bool, str]] = {
    "copyright": ("forget", "forget_quality", True, "1.0"),
    "insecure": ("forget", "forget_quality", True, "1.0"),
    "deprecated": ("forget", "forget_quality", True, "1.0"),
    "humaneval": ("utility", "pass@1", True, "1.0"),
    "heldout": ("utility", "heldout_nll", False, "1.0"),
}


def sha256(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def data_hash(task: str) -> str:
    """The (made-up) data hash the synthetic runs use for ``task``'s default data."""
    return sha256(f"synthetic-data:{task}")


def task_result(task: str, value: float | None, ci_halfwidth: float = 0.02, n: int = 20) -> dict[str, Any]:
    kind, metric, hib, version = TASKS[task]
    ci = None if value is None else [round(value - ci_halfwidth, 6), round(value + ci_halfwidth, 6)]
    return {
        "status": "completed",
        "task": {"name": task, "version": version, "kind": kind, "source": "default",
                 "data_hash": data_hash(task), "n": n},
        "mode": "loglikelihood" if task == "heldout" else "generate",
        "protocol": {"analyzer": f"synthetic_{task}"},
        "primary_metric": metric,
        "metrics": {metric: {"value": value, "ci95": ci, "n": n, "higher_is_better": hib}},
    }


def results(
    name: str,
    scores: Mapping[str, float | None],
    method: str | None = None,
    epoch: int | None = None,
    base_model: str = "original",
    skipped: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A results.json document for model ``name`` with the given primary-metric values.

    ``method``/``epoch`` add ``model.lineage`` (a checkpoint written by ``cub unlearn``);
    ``skipped`` maps task -> reason for tasks recorded as skipped."""
    model: dict[str, Any] = {
        "spec": name, "path": f"/models/{name}", "name": name, "format": "hf",
        "fingerprint": sha256(f"model:{name}"),
    }
    if method is not None:
        model["lineage"] = {"method": method, "epoch": epoch if epoch is not None else 0, "step": 10 * (epoch or 0),
                            "task": "copyright", "base_model": base_model, "hyperparameters": {"lr": 5e-6}}
        model["base_model"] = base_model
    tasks = {task: task_result(task, value) for task, value in scores.items()}
    for task, reason in (skipped or {}).items():
        kind, _, _, version = TASKS[task]
        tasks[task] = {"status": "skipped", "reason": reason,
                       "task": {"name": task, "version": version, "kind": kind, "data_hash": data_hash(task), "n": 0}}
    config = {"tasks": sorted(tasks), "limit": None, "batch_size": 8}
    from code_unlearn_bench.config import EvalConfig

    return {
        "schema_version": "1.0",
        "cub_version": "0.1.0",
        "created_at": "2025-01-01T00:00:00Z",
        "kind": "evaluate",
        "model": model,
        "config": config,
        "config_hash": EvalConfig(**config).identity_hash(),  # as `cub evaluate` computes it
        "environment": {"python": "3.11.0", "platform": "linux", "packages": {"torch": "2.5.0", "cub": "0.1.0"}},
        "seed": 1234,
        "tasks": tasks,
    }


def write_run(directory: str | Path, document: Mapping[str, Any]) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "results.json").write_text(json.dumps(document, indent=2), encoding="utf-8")
    return directory


# Original model, then gradient ascent (forgets fast, loses utility) and PROD (forgets while keeping
# utility) through three epochs: copyright forget quality and HumanEval pass@1 per checkpoint.
DEMO_SET: list[tuple[str, str | None, int | None, float, float]] = [
    ("original", None, None, 0.30, 0.30),
    ("ga-e1", "ga", 1, 0.50, 0.20),
    ("ga-e2", "ga", 2, 0.80, 0.10),
    ("ga-e3", "ga", 3, 0.95, 0.02),
    ("prod-e1", "prod", 1, 0.55, 0.29),
    ("prod-e2", "prod", 2, 0.75, 0.28),
    ("prod-e3", "prod", 3, 0.85, 0.26),
]


def write_demo_set(root: str | Path, utility_task: str = "humaneval") -> list[Path]:
    """Write :data:`DEMO_SET` as run directories under ``root``; returns them in order."""
    dirs = []
    for name, method, epoch, forget, util in DEMO_SET:
        doc = results(name, {"copyright": forget, utility_task: util}, method=method, epoch=epoch)
        dirs.append(write_run(Path(root) / name, doc))
    return dirs


def attack_results(
    name: str,
    forget: Mapping[str, float] | None = None,
    task: str = "copyright",
    attack: str = "prefix",
    skipped: str | None = None,
) -> dict[str, Any]:
    """A ``cub attack`` results.json (``"kind": "attack"``) for model ``name`` (same fingerprint as
    :func:`results` gives it) on forget ``task``.

    ``forget`` maps setting -> forget quality, baseline first (default ``k=0, k=8, k=32`` at
    .80/.70/.60); the last setting is the headline, and ``effect_of_attack@<s>`` is the drop from
    the baseline. ``skipped`` (a reason) records an ineligible checkpoint instead: the task
    skipped, nothing scored."""
    doc = results(name, {})
    forget = dict(forget or {"k=0": 0.80, "k=8": 0.70, "k=32": 0.60})
    settings = list(forget)
    baseline, headline = settings[0], settings[-1]
    kind, metric, hib, version = TASKS[task]
    info = {"name": task, "version": version, "kind": kind, "source": "default", "data_hash": data_hash(task), "n": 20}
    parameters = {"settings": settings}
    if skipped is not None:
        result: dict[str, Any] = {"status": "skipped", "reason": skipped, "task": info,
                                  "attack": {"name": attack, "parameters": parameters, "skipped": True}}
        eligibility = {"checked": True, "eligible": False, "reason": skipped, "min_share": 0.6}
    else:
        def entry(value: float, higher: bool) -> dict[str, Any]:
            return {"value": round(value, 6), "ci95": [round(value - 0.05, 6), round(value + 0.05, 6)], "n": 20,
                    "higher_is_better": higher}

        metrics: dict[str, Any] = {}
        detail: dict[str, Any] = {}
        for setting, value in forget.items():
            metrics[f"{metric}@{setting}"] = entry(value, hib)
            detail[setting] = {"n": 20, "metrics": {metric: entry(value, hib)}}
            if setting != baseline:
                effect = (forget[baseline] - value) * (1 if hib else -1)
                metrics[f"effect_of_attack@{setting}"] = detail[setting]["effect_of_attack"] = entry(effect, False)
        result = {"status": "completed", "task": info, "mode": "generate",
                  "protocol": {"analyzer": f"synthetic_{task}"},
                  "primary_metric": f"{metric}@{headline}", "metrics": metrics,
                  "attack": {"name": attack, "parameters": parameters, "attacked_metric": metric,
                             "higher_is_better": hib, "baseline": baseline, "headline": headline, "settings": detail}}
        eligibility = {"checked": True, "eligible": True, "reason": "eligible: keeps >= 60% of the original utility",
                       "min_share": 0.6}
    config = {"tasks": [task], "limit": None, "batch_size": 8, "attack": {"name": attack, "parameters": parameters}}
    doc.update(kind="attack", config=config, config_hash=sha256(json.dumps(config, sort_keys=True)),
               tasks={task: result}, attack={"name": attack, "parameters": parameters, "eligibility": eligibility})
    return doc


def mia_results(name: str, auc: float, privleak: float | None = None, task: str = "copyright") -> dict[str, Any]:
    """A ``cub attack mia`` results.json for model ``name``: the Min-K% AUC as headline and, with
    ``privleak``, the PrivLeak against a retain model (``privleak@min_k``)."""
    doc = attack_results(name, task=task, attack="mia")
    res = doc["tasks"][task]
    res["metrics"] = {"mia_auc@min_k": {"value": auc, "ci95": [auc - 0.1, auc + 0.1], "n": 40,
                                        "higher_is_better": True}}
    if privleak is not None:
        res["metrics"]["privleak@min_k"] = {"value": privleak, "ci95": [privleak - 0.1, privleak + 0.1], "n": 40,
                                            "higher_is_better": True}
    res["primary_metric"] = "mia_auc@min_k"
    del res["attack"]["settings"]
    res["attack"]["version"] = ATTACK_VERSIONS["mia"]
    return doc


_SAMPLE_KEY = {"copyright": "forget_quality", "insecure": "forget_quality", "heldout": "nll"}


def write_sampled_run(directory: str | Path, name: str, samples: Mapping[str, list[float]], method: str | None = None,
                      epoch: int | None = None) -> Path:
    """A run whose tasks' scores are the means of the given per-sample values, with those values
    in ``generations/<task>.jsonl`` as `cub evaluate` stores them (for the PDR bootstrap)."""
    doc = results(name, {t: round(sum(v) / len(v), 6) for t, v in samples.items()}, method=method, epoch=epoch)
    directory = write_run(directory, doc)
    (directory / "generations").mkdir(exist_ok=True)
    for task, values in samples.items():
        doc["tasks"][task]["metrics"][TASKS[task][1]]["n"] = len(values)
        lines = [json.dumps({"id": f"{task}-{i}", "scores": {_SAMPLE_KEY[task]: v}}) for i, v in enumerate(values)]
        (directory / "generations" / f"{task}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return write_run(directory, doc)
