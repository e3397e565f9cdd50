"""Related but disjoint data: relearning sets and never-seen holdout sets for the attacks.

The default for the copyright task: 32 small files of CPython 3.11.7's standard library shipped
as package data (``data/stdlib/disjoint.jsonl``, the same on every Python), none of them a pinned
forget file, skipping any equal to a forget sample: code of the same kind as the default forget
set, so relearning on it is the "benign fine-tuning on related data" attack and membership scores
on it are the never-seen baseline. Other tasks have no built-in
disjoint set; the user gives one (``--relearn-data`` / ``--holdout-data``) in the task's format.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

from code_unlearn_bench.errors import CubError, DataError
from code_unlearn_bench.samples import Sample

DEFAULT_TASKS = {"copyright"}


def sample_text(sample: Sample) -> str:
    """The whole text a sample stands for (copyright samples keep the file in meta["content"])."""
    return sample.meta.get("content") or (sample.prompt + sample.reference)


def packaged_rows(exclude_texts: Iterable[str], n: int) -> list[dict[str, str]]:
    """Up to ``n`` of the shipped disjoint standard-library files, in their pinned order (package
    data, the same on every Python; ``scripts/pin_stdlib_data.py`` chose them), skipping any text
    in ``exclude_texts``."""
    from code_unlearn_bench.loaders.copyright import packaged_jsonl

    excluded = {t.strip() for t in exclude_texts}
    shipped = packaged_jsonl("disjoint.jsonl")
    rows = [r for r in shipped if r["content"].strip() not in excluded][:n]
    if not rows:
        raise DataError("no file of the built-in disjoint set is usable (all equal a forget sample)")
    return rows


def write_default(task: str, forget: list[Sample], n: int, path: Path, flag: str) -> str:
    """Write the default disjoint set for ``task`` as JSONL at ``path``; returns the path."""
    if task not in DEFAULT_TASKS:
        raise CubError(f"task '{task}' has no built-in disjoint data; give {flag} (a source in the task's format)")
    rows = packaged_rows((sample_text(s) for s in forget), n)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def check_disjoint(forget: list[Sample], other: list[Sample], flag: str) -> None:
    """One-line error if ``other`` shares a text with the forget set: relearning or scoring the
    forget set itself would measure nothing the attack claims to."""
    forget_texts = {sample_text(s).strip(): s.id for s in forget}
    shared = [s.id for s in other if sample_text(s).strip() in forget_texts]
    if shared:
        raise CubError(f"{flag} shares {len(shared)} sample(s) with the forget set (first: '{shared[0]}'); "
                       f"the attack needs data disjoint from it")
