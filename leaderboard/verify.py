"""Verifying a submission: its numbers are recomputed here from its generations, never taken on trust.

A submission is a run directory: ``results.json`` plus ``generations/<task>.jsonl``. For every
completed task, :func:`verify` checks that each sample id of the registered data appears exactly
once in the generations file, then re-scores the generations through the very code path of
``cub score`` (:func:`code_unlearn_bench.evaluation.run.rescore`, in a scratch copy: HumanEval programs
re-executed in the sandbox, the Insecure Code Detector re-run, BLEU recomputed with the model's
tokenizer) and compares every metric (value, CI, n), the task block and the comparability key with
what was submitted. What it cannot check: that the generations came from the named weights.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

from code_unlearn_bench.errors import CubError

# JSON round trips and platform libms may move the 6th decimal; a real edit moves more.
TOLERANCE = 1e-6

Verifier = Callable[[Path, dict, Callable], "tuple[list[str], dict[str, dict]]"]


def _ids_errors(name: str, path: Path, expected: tuple[str, ...] | None) -> list[str]:
    if not path.is_file():
        return [f"task '{name}': no generations file generations/{name}.jsonl (a submission is results.json plus "
                f"its generations)"]
    counts: dict[str, int] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            record = json.loads(line)
            counts[str(record["id"])] = counts.get(str(record["id"]), 0) + 1
        except (json.JSONDecodeError, KeyError, TypeError):
            return [f"task '{name}': generations line {n} is not a record with an id"]
    errors = []
    dup = sorted(i for i, c in counts.items() if c > 1)
    if dup:
        errors.append(f"task '{name}': {len(dup)} sample id(s) appear more than once in the generations "
                      f"(first: {dup[0]})")
    if expected is not None:
        missing = [i for i in expected if i not in counts]
        extra = sorted(set(counts) - set(expected))
        if missing:
            errors.append(f"task '{name}': {len(missing)} sample(s) of the registered data have no generation "
                          f"(first: {missing[0]})")
        if extra:
            errors.append(f"task '{name}': {len(extra)} generation(s) for samples not in the registered data "
                          f"(first: {extra[0]})")
    return errors


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=0, abs_tol=TOLERANCE)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    return a == b


def compare(name: str, submitted: dict, rescored: dict) -> list[str]:
    """Every way the submitted task result differs from the re-scored one."""
    from code_unlearn_bench import comparability

    errors = []
    sub_m, new_m = submitted.get("metrics") or {}, rescored.get("metrics") or {}
    for metric in sorted(set(sub_m) | set(new_m)):
        if metric not in new_m or metric not in sub_m:
            errors.append(f"task '{name}': metric '{metric}' is " + ("not produced by re-scoring" if metric not in new_m
                                                                       else "missing from the submission"))
            continue
        for field in ("value", "ci95", "n", "higher_is_better"):
            a, b = sub_m[metric].get(field), new_m[metric].get(field)
            if not _close(a, b):
                errors.append(f"task '{name}': {metric} {field} is {json.dumps(a)} in the submission but "
                              f"{json.dumps(b)} when its generations are re-scored")
    for field in ("name", "version", "kind", "data_hash", "n"):
        a, b = (submitted.get("task") or {}).get(field), (rescored.get("task") or {}).get(field)
        if a != b:
            errors.append(f"task '{name}': task.{field} is {json.dumps(a)} in the submission but {json.dumps(b)} "
                          f"when re-scored from its config")
    diff = comparability.describe(comparability.differences(comparability.key(submitted),
                                                            comparability.key(rescored)), "submitted", "re-scored")
    if diff:
        errors.append(f"task '{name}': recorded settings do not match its config: {diff}")
    return errors


def _rescore(run_dir: Path, data: dict, tasks: list[str]) -> dict[str, dict]:
    """Re-score ``tasks`` of the submission in a scratch copy, via ``cub score``'s code path."""
    from code_unlearn_bench.evaluation.run import rescore
    from code_unlearn_bench.store import RunStore

    with tempfile.TemporaryDirectory(prefix="cub-verify-") as tmp:
        scratch = RunStore(tmp)
        for name in tasks:
            scratch.gen_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(run_dir / "generations" / f"{name}.jsonl", scratch.gen_path(name))
        # The verifier's own execution settings: code runs in a real sandbox, never the unsafe one.
        config = {**data["config"], "tasks": tasks, "output_dir": tmp, "allow_code_execution": True,
                  "sandbox": "auto", "allow_unsafe_execution": False, "exec_workers": None}
        scratch.write_manifest({"created_at": data["created_at"], "model": data["model"],
                                "environment": data["environment"], "config": config, "tasks": {}})
        return rescore(tmp)["tasks"]


def verify(run_dir: Path, data: dict, lookup: Callable) -> tuple[list[str], dict[str, dict]]:
    """(problems, re-scored task results) for the submission in ``run_dir`` (``data``: its results.json).
    ``lookup(task)`` gives the registered task (its sample ids)."""
    completed = [name for name, res in data["tasks"].items() if res.get("status") == "completed"]
    errors = []
    for name in completed:
        errors += _ids_errors(name, run_dir / "generations" / f"{name}.jsonl", getattr(lookup(name), "ids", None))
    if errors:
        return errors, {}
    try:
        rescored = _rescore(run_dir, data, completed)
    except CubError as exc:
        return [f"re-scoring the generations failed: {exc}"], {}
    for name in completed:
        errors += compare(name, data["tasks"][name], rescored[name])
    return errors, rescored
