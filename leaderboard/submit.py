"""Validating a run for the leaderboard and storing it as a normalised, verified submission.

A submission must be comparable with every other one: it must match the results schema, be an
``evaluate`` result, contain the required tasks, its ``config_hash`` must be the hash of its
``config``, and every completed task must have been run at the registered task version on every
sample of the registered default data (same data hash, n = its sample count) with the task's
canonical settings (``canonical`` in the task spec). Then its numbers are verified: the generations
are re-scored here (``leaderboard/verify.py``) and must reproduce every metric, n and CI; the stored
submission holds the re-scored numbers. All problems are collected, so a submitter sees the whole
list at once. docs/trust.md describes what is verified and what rests on the submitter.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterable

from code_unlearn_bench import comparability
from code_unlearn_bench.errors import CubError
from code_unlearn_bench.leaderboard.verify import verify as verify_run
from code_unlearn_bench.results import RESULTS_FILE, schema_errors

SUBMISSION_VERSION = "1"

# What a task result keeps in a submission: the comparable scores and how they were obtained.
# Breakdowns, health diagnostics and timings are machine- or sample-level detail.
_TASK_KEYS = ("status", "reason", "task", "mode", "generation", "options", "protocol", "primary_metric", "metrics",
              "comparability")
_TOP_KEYS = ("schema_version", "cub_version", "created_at", "kind", "model", "config", "config_hash",
             "environment", "seed", "sessions")



@dataclass(frozen=True)
class Registered:
    """What a submission's task is checked against: the registered task and its default data."""

    version: str
    data_hash: str | None
    n: int | None = None  # samples in the default data (None: not checked)
    ids: tuple[str, ...] | None = None  # their ids (None: not checked)
    canonical: dict | None = None  # Task.canonical_settings() (None: not checked)


# task name -> Registered (a (version, data hash) tuple is accepted too)
TaskLookup = Callable[[str], "Registered | tuple[str, str | None]"]


class SubmissionError(CubError):
    """A run that cannot be submitted; ``errors`` lists every problem found."""

    def __init__(self, source: str, errors: list[str]):
        self.errors = errors
        super().__init__(f"{source} is not a valid submission ({len(errors)} problem(s)): " + "; ".join(errors))


@lru_cache(maxsize=None)  # computing a default-data hash loads the task's data: once per task
def registered_task(name: str) -> Registered:
    """The registered version, default data (hash, size, ids) and canonical settings of ``name``.

    The only function that knows the task registry's API; everything else takes a
    :data:`TaskLookup` so tests and other registries can stand in."""
    from code_unlearn_bench.tasks import spec as task_spec
    from code_unlearn_bench.samples import data_hash

    task = task_spec.get_task(name)
    samples = task.load_samples()
    return Registered(str(task.version), data_hash(samples), len(samples), tuple(s.id for s in samples),
                      task.canonical_settings())


def _registered(lookup: TaskLookup, name: str) -> Registered:
    reg = lookup(name)
    return reg if isinstance(reg, Registered) else Registered(*reg)


def _canonical_errors(name: str, result: dict, canonical: dict) -> list[str]:
    key = comparability.key(result)
    diffs = [d for part in ("generation", "options")
             for d in comparability.differences({part: canonical.get(part)}, {part: key.get(part)})]
    if not diffs:
        return []
    return [f"task '{name}': not run with the canonical settings of the task spec: "
            f"{comparability.describe(diffs, 'canonical', 'submitted')}"]


def _required_errors(tasks: dict, required: Iterable[str] | None) -> list[str]:
    completed = {name: res for name, res in tasks.items() if res.get("status") == "completed"}
    if required:
        return [f"required task '{name}' is " + ("missing" if name not in tasks else "not completed")
                for name in required if name not in completed]
    # Without an explicit list: the minimum that lets the run be placed on a trade-off plot.
    errors = []
    for kind in ("forget", "utility"):
        if not any(res.get("task", {}).get("kind") == kind for res in completed.values()):
            errors.append(f"no completed {kind} task (a submission needs at least one)")
    return errors


def _task_errors(name: str, result: dict, lookup: TaskLookup) -> list[str]:
    if result.get("status") != "completed":
        return []
    errors = []
    info = result["task"]
    if info.get("name") != name:
        errors.append(f"task '{name}': result names task '{info.get('name')}'")
    try:
        reg = _registered(lookup, name)
    except CubError as exc:
        return [f"task '{name}': not a registered task ({exc})"]
    version, data_hash = reg.version, reg.data_hash
    if str(info.get("version")) != version:
        errors.append(f"task '{name}': version {info.get('version')} but the registered task is version {version}")
    if data_hash is None:
        errors.append(f"task '{name}': the registered task has no data hash to compare with")
    elif info.get("data_hash") != data_hash:
        errors.append(f"task '{name}': data hash {info.get('data_hash')} differs from the registered default data "
                      f"({data_hash}); was it run with --data or --task-option?")
    elif reg.n is not None and info.get("n") != reg.n:
        errors.append(f"task '{name}': n={info.get('n')} but the registered data has {reg.n} samples; a submission "
                      f"must cover every sample (subset runs are refused)")
    if reg.canonical is not None:
        errors += _canonical_errors(name, result, reg.canonical)
    edited = comparability.written_mismatch(result)
    if edited:
        errors.append(f"task '{name}': {edited}")
    primary = result.get("primary_metric")
    metric = result.get("metrics", {}).get(primary or "")
    if not primary or metric is None:
        errors.append(f"task '{name}': primary metric '{primary}' has no entry in metrics")
    elif metric.get("value") is None:
        errors.append(f"task '{name}': primary metric '{primary}' has no value")
    return errors


def validate(data: object, required: Iterable[str] | None = None, lookup: TaskLookup | None = None) -> list[str]:
    """Every reason ``data`` (a parsed results.json) cannot be submitted; empty when it can.
    ``lookup`` defaults to :func:`registered_task` (resolved at call time, so it can be patched)."""
    lookup = lookup or registered_task
    errors = [f"schema: {e}" for e in schema_errors(data)]
    if errors or not isinstance(data, dict):
        return errors or ["schema: not a JSON object"]
    if data.get("kind", "evaluate") != "evaluate":
        errors.append(f"kind is '{data['kind']}': only evaluate results can be submitted")
    errors += _limit_errors(data) + _config_hash_errors(data)
    errors += _required_errors(data["tasks"], required)
    for name, result in data["tasks"].items():
        errors += _task_errors(name, result, lookup)
    return errors


def _limit_errors(data: dict) -> list[str]:
    errors = []
    limit = data["config"].get("limit")
    if limit:
        errors.append(f"run with --limit {limit}: a submission must cover every sample of its tasks")
    for task, n in sorted((data["config"].get("task_limits") or {}).items()):
        errors.append(f"run with --task-limit {task}={n}: a submission must cover every sample of its tasks")
    return errors


def _config_hash_errors(data: dict) -> list[str]:
    from code_unlearn_bench.config import EvalConfig

    try:
        expected = EvalConfig.from_dict(data["config"], origin="config").identity_hash()
    except (CubError, TypeError) as exc:
        return [f"config is not a valid run configuration: {exc}"]
    if expected != data["config_hash"]:
        return [f"config_hash {data['config_hash'][:19]}… is not the hash of config ({expected[:19]}…): the config "
                f"was edited after the run"]
    return []


def slug(text: str, limit: int = 40) -> str:
    """File/URL-safe form of a model name (``<script>x`` -> ``script-x``)."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit].strip("-") or "model"


def submission_id(data: dict) -> str:
    fingerprint = data["model"]["fingerprint"].split(":")[-1]
    config = data["config_hash"].split(":")[-1]
    return f"{slug(data['model']['name'])}-{fingerprint[:10]}-{config[:8]}"


def normalise(data: dict, now: datetime | None = None, rescored: dict | None = None) -> dict:
    """The submission document: the results.json fields that matter for comparison, plus a
    ``submission`` block. It still matches the results schema, so ranking code reads it as a run.
    ``rescored`` (task -> result re-scored from the generations) replaces the submitted numbers
    and marks the document verified: only verified documents are shown on the site."""
    from code_unlearn_bench import __version__

    tasks = {**data["tasks"], **(rescored or {})}
    doc = {key: data[key] for key in _TOP_KEYS if key in data}
    doc["tasks"] = {name: {k: res[k] for k in _TASK_KEYS if k in res} for name, res in sorted(tasks.items())}
    doc["submission"] = {
        "version": SUBMISSION_VERSION,
        "id": submission_id(data),
        "submitted_at": (now or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if rescored is not None:
        doc["submission"]["verified"] = {"by": f"cub {__version__}", "tasks": sorted(rescored),
                                         "how": "generations re-scored via the `cub score` path; every metric, n "
                                                "and CI reproduced"}
    return doc


def load_results(run: str | Path) -> tuple[Path, object]:
    path = Path(run)
    file = path / RESULTS_FILE if path.is_dir() else path
    if not file.is_file():
        raise CubError(f"no {RESULTS_FILE} in {path}")
    try:
        return file, json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SubmissionError(str(file), [f"cannot read it as JSON: {exc}"]) from None


def submit(run: str | Path, to: str | Path, required: Iterable[str] | None = None, force: bool = False,
           lookup: TaskLookup | None = None, verifier=None) -> Path:
    """Validate and verify ``run`` and write its normalised submission into folder ``to``; returns
    the file. ``verifier`` defaults to :func:`verify_run` (resolved at call time: patchable)."""
    file, data = load_results(run)
    errors = validate(data, required, lookup)
    if errors:
        raise SubmissionError(str(file), errors)
    lookup = lookup or registered_task
    errors, rescored = (verifier or verify_run)(file.parent, data, lambda name: _registered(lookup, name))
    if errors:
        raise SubmissionError(str(file), errors)
    doc = normalise(data, rescored=rescored)
    return _store(doc, Path(to) / f"{doc['submission']['id']}.json", force, "the same model and config")


def _store(doc: dict, target: Path, force: bool, what: str) -> Path:
    """Write a normalised submission; an existing one is replaced only with ``force``."""
    if target.exists() and not force:
        raise CubError(f"{target} already exists ({what}); pass --force to replace it")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    except OSError as exc:
        raise CubError(f"cannot write {target}: {exc}") from None
    return target


# --- attack runs (`cub attack`): stored beside the submission of the attacked model ---------------
ATTACKS_DIR = "attacks"  # <submissions>/attacks/*.json; `cub leaderboard build` reads them


def _submissions_by_fingerprint(folder: Path) -> dict[str, list[dict]]:
    """fingerprint -> the evaluate submissions in ``folder`` (their parsed documents)."""
    found: dict[str, list[dict]] = {}
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CubError(f"cannot read submission {path}: {exc}") from None
        fingerprint = (doc.get("model") or {}).get("fingerprint") if isinstance(doc, dict) else None
        if fingerprint and doc.get("kind", "evaluate") == "evaluate":
            found.setdefault(fingerprint, []).append(doc)
    return found


def _sub_id(doc: dict) -> str:
    return str((doc.get("submission") or {}).get("id") or submission_id(doc))


def validate_attack(data: object, submissions: dict[str, list[dict]]) -> list[str]:
    """Every reason attack result ``data`` cannot be added to a leaderboard whose evaluate
    submissions are ``submissions`` (by fingerprint); empty when it can."""
    errors = [f"schema: {e}" for e in schema_errors(data)]
    if errors or not isinstance(data, dict):
        return errors or ["schema: not a JSON object"]
    kind = data.get("kind", "evaluate")
    if kind != "attack":
        return [f"kind is '{kind}': only attack results (from `cub attack`) can be submitted with submit-attack; "
                f"submit evaluate runs with `cub leaderboard submit`"]
    if not (data.get("attack") or {}).get("name"):
        errors.append("no attack.name: not written by `cub attack`")
    limit = data["config"].get("limit")
    if limit:
        errors.append(f"run with --limit {limit}: a submission must cover every sample of its tasks")
    for task, n in sorted((data["config"].get("task_limits") or {}).items()):
        errors.append(f"run with --task-limit {task}={n}: a submission must cover every sample of its tasks")
    fingerprint = data["model"]["fingerprint"]
    targets = submissions.get(fingerprint)
    if not targets:
        errors.append(f"the attacked model ({data['model']['name']}, {fingerprint}) matches no submission; "
                      f"submit its evaluate run first with `cub leaderboard submit`")
        return errors
    for name, result in sorted(data["tasks"].items()):
        info = result["task"]
        with_task = [t for t in targets if name in (t.get("tasks") or {})]
        if not with_task:
            errors.append(f"task '{name}': no submission of the attacked model has a '{name}' result to compare with")
        for target in with_task:
            theirs = target["tasks"][name]
            for key, what in (("version", "version"), ("data_hash", "data hash")):
                if str(info.get(key)) != str(theirs["task"].get(key)):
                    errors.append(f"task '{name}': {what} {info.get(key)} differs from the submission "
                                  f"{_sub_id(target)} ({theirs['task'].get(key)})")
    return errors


def attack_submission_id(data: dict) -> str:
    return f"{submission_id(data)}-{slug(data['attack']['name'], 20)}"


def normalise_attack(data: dict, targets: list[dict], now: datetime | None = None) -> dict:
    """The attack submission: like :func:`normalise`, plus the top-level ``attack`` block and each
    task's ``attack`` object (per-setting health diagnostics dropped); ``submission.models`` lists
    the ids of the attacked model's submissions."""
    doc = {key: data[key] for key in _TOP_KEYS if key in data}
    doc["attack"] = data["attack"]
    doc["tasks"] = {}
    for name, res in sorted(data["tasks"].items()):
        task = {k: res[k] for k in (*_TASK_KEYS, "attack") if k in res}
        if isinstance(task.get("attack"), dict) and isinstance(task["attack"].get("settings"), dict):
            task["attack"] = {**task["attack"], "settings": {
                s: {k: v for k, v in detail.items() if k != "health"} if isinstance(detail, dict) else detail
                for s, detail in task["attack"]["settings"].items()}}
        doc["tasks"][name] = task
    doc["submission"] = {
        "version": SUBMISSION_VERSION,
        "id": attack_submission_id(data),
        "submitted_at": (now or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "models": sorted(_sub_id(t) for t in targets),
    }
    return doc


def submit_attack(run: str | Path, to: str | Path, force: bool = False) -> Path:
    """Validate attack run ``run`` against the submissions in ``to`` and store it under
    ``to/attacks/``; returns the file."""
    file, data = load_results(run)
    folder = Path(to)
    if not folder.is_dir():
        raise CubError(f"no submissions folder {folder}; submit the attacked model's evaluate run first")
    submissions = _submissions_by_fingerprint(folder)
    errors = validate_attack(data, submissions)
    if errors:
        raise SubmissionError(str(file), errors)
    doc = normalise_attack(data, submissions[data["model"]["fingerprint"]])
    return _store(doc, folder / ATTACKS_DIR / f"{doc['submission']['id']}.json", force,
                  "the same attack, model and config")


def collect_unchecked(eval_runs: Iterable[Path], attack_runs: Iterable[Path], to: str | Path) -> Path:
    """One experiment's own site (`cub reproduce`): its runs use subsets (--task-limit), which
    public submissions refuse, so they are normalised into ``to`` without the submission checks and
    without re-scoring (build that site with ``require_verified=False``). Attack runs join their
    model's runs by fingerprint, as :func:`submit_attack` does; an attack of a model with no run
    is left out. Returns ``to``."""
    folder = Path(to)
    for run in eval_runs:
        doc = normalise(load_results(run)[1])
        _store(doc, folder / f"{doc['submission']['id']}.json", True, "")
    submissions = _submissions_by_fingerprint(folder)
    for run in attack_runs:
        data = load_results(run)[1]
        targets = submissions.get(data["model"]["fingerprint"])
        if targets:
            doc = normalise_attack(data, targets)
            _store(doc, folder / ATTACKS_DIR / f"{doc['submission']['id']}.json", True, "")
    return folder
