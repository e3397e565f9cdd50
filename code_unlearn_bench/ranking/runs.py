"""Reading ``results.json`` files (written by ``cub evaluate``/``cub attack``) for ranking, checks
and the leaderboard (the format itself: :mod:`code_unlearn_bench.results`).

One :class:`Run` wraps one validated results file. Scores are looked up with
:meth:`Run.score`, which never raises for a missing score: it returns ``(None, reason)`` so the
callers can *report* a model lacking a score instead of silently dropping it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from code_unlearn_bench.errors import CubError
from code_unlearn_bench.results import RESULTS_FILE, schema_errors

# Used only when a metric entry lacks ``higher_is_better`` (the schema makes it optional);
# every analyzer in this repo sets it, so this is a fallback for hand-written files.
_LOWER_IS_BETTER_HINTS = ("nll", "loss", "perplexity", "ppl")


def default_higher_is_better(metric_name: str) -> bool:
    lowered = metric_name.lower()
    return not any(hint in lowered for hint in _LOWER_IS_BETTER_HINTS)


@dataclass(frozen=True)
class Score:
    """One metric of one task of one run, as stored in results.json."""

    metric: str
    value: float
    ci95: tuple[float, float] | None
    n: int
    higher_is_better: bool


class Run:
    """A validated results.json (``source`` is its path)."""

    def __init__(self, data: dict, source: Path):
        self.data = data
        self.source = source

    # --- identity -------------------------------------------------------------------------
    @property
    def model(self) -> dict:
        return self.data["model"]

    @property
    def name(self) -> str:
        return str(self.model.get("name") or self.model.get("spec"))

    @property
    def lineage(self) -> dict | None:
        lineage = self.model.get("lineage")
        return lineage if lineage and lineage.get("method") else None

    @property
    def method(self) -> str | None:
        return self.lineage["method"] if self.lineage else None

    @property
    def epoch(self) -> int | None:
        return self.lineage.get("epoch") if self.lineage else None

    @property
    def run_dir(self) -> Path:
        return self.source.parent

    def label(self) -> str:
        """Short display label: ``method e3`` for unlearning checkpoints, else the model name."""
        if self.lineage:
            epoch = self.epoch
            return f"{self.method} e{epoch}" if epoch is not None else str(self.method)
        return self.name

    def matches(self, ref: str) -> bool:
        """Whether ``ref`` (a model name/spec/path or run directory) designates this run."""
        if ref in (self.name, self.model.get("spec"), self.model.get("path")):
            return True
        try:
            ref_path = Path(ref).resolve()
        except OSError:
            return False
        candidates = [self.run_dir.resolve(), self.source.resolve()]
        if self.model.get("path"):
            candidates.append(Path(self.model["path"]).resolve())
        return ref_path in candidates

    # --- scores ---------------------------------------------------------------------------
    def task_names(self, kind: str | None = None, completed: bool = True) -> list[str]:
        names = []
        for name, result in self.data.get("tasks", {}).items():
            if completed and result.get("status") != "completed":
                continue
            if kind and result.get("task", {}).get("kind") != kind:
                continue
            names.append(name)
        return names

    def task(self, name: str) -> dict | None:
        return self.data.get("tasks", {}).get(name)

    def score(self, task: str, metric: str | None = None) -> tuple[Score | None, str | None]:
        """The task's ``metric`` (default: its primary metric), or ``(None, why it is missing)``."""
        result = self.task(task)
        if result is None:
            return None, f"no '{task}' result"
        if result.get("status") != "completed":
            reason = result.get("reason")
            return None, f"'{task}' {result.get('status')}" + (f": {reason}" if reason else "")
        metric = metric or result.get("primary_metric")
        if not metric:
            return None, f"'{task}' has no primary_metric"
        entry = result.get("metrics", {}).get(metric)
        if entry is None:
            return None, f"'{task}' has no metric '{metric}'"
        value = entry.get("value")
        if value is None or not math.isfinite(float(value)):
            return None, f"'{task}' {metric} has no value"
        ci = entry.get("ci95")
        return (
            Score(
                metric=metric,
                value=float(value),
                ci95=(float(ci[0]), float(ci[1])) if ci else None,
                n=int(entry.get("n", 0)),
                higher_is_better=bool(entry.get("higher_is_better", default_higher_is_better(metric))),
            ),
            None,
        )


def _load_validated(path: str | Path) -> tuple[dict, Path]:
    """Read and schema-validate a results.json (``path`` is the file or its run directory)."""
    path = Path(path)
    if not path.exists():
        raise CubError(f"no such run directory or file: {path}")
    file = path / RESULTS_FILE if path.is_dir() else path
    if not file.is_file():
        raise CubError(f"no {RESULTS_FILE} in {path}")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CubError(f"cannot read {file}: {exc}") from None
    errors = schema_errors(data)
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise CubError(f"{file} does not match the results schema: {errors[0]}{more}")
    return data, file


def load_run(path: str | Path) -> Run:
    """Load and schema-validate an evaluate results.json (``path`` is the file or its run directory)."""
    data, file = _load_validated(path)
    if data.get("kind", "evaluate") != "evaluate":
        hint = " (attack runs go to `cub rank --attacks`)" if data["kind"] == "attack" else ""
        raise CubError(f"{file} is an '{data['kind']}' result, not an evaluate result{hint}")
    return Run(data, file)


def load_attack_run(path: str | Path) -> Run:
    """Load and schema-validate an attack results.json (``"kind": "attack"``, written by ``cub attack``)."""
    data, file = _load_validated(path)
    kind = data.get("kind", "evaluate")
    if kind != "attack":
        raise CubError(f"{file} is an '{kind}' result, not an attack result (attack runs are written by `cub attack`)")
    return Run(data, file)


def discover(paths: Iterable[str | Path]) -> list[Path]:
    """Results files named by ``paths``: a results.json, a run directory, or a directory holding
    run directories (searched recursively, sorted so the order never depends on the filesystem)."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            found.append(path)
        elif (path / RESULTS_FILE).is_file():
            found.append(path / RESULTS_FILE)
        elif path.is_dir():
            nested = sorted(path.rglob(RESULTS_FILE))
            if not nested:
                raise CubError(f"no {RESULTS_FILE} found under {path}")
            found.extend(nested)
        else:
            raise CubError(f"no such run directory or file: {path}")
    unique: dict[Path, Path] = {}
    for file in found:
        unique.setdefault(file.resolve(), file)
    return list(unique.values())


def load_runs(paths: Iterable[str | Path]) -> list[Run]:
    runs = [load_run(p) for p in discover(paths)]
    if not runs:
        raise CubError("no results files given")
    return runs


def load_attack_runs(paths: Iterable[str | Path]) -> list[Run]:
    """The attack runs named by ``paths`` (run directories, results files or folders of them)."""
    runs = [load_attack_run(p) for p in discover(paths)]
    if not runs:
        raise CubError("no attack results files given")
    return runs
