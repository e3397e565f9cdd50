"""Related but disjoint data: relearning sets and never-seen holdout sets for the attacks.

The default for the copyright task: small files of the running Python's standard library that are
neither one of the task's pinned forget files nor equal to any forget sample: code of the same
kind as the default forget set, so relearning on it is the "benign fine-tuning on related data"
attack and membership scores on it are the never-seen baseline. Other tasks have no built-in
disjoint set; the user gives one (``--relearn-data`` / ``--holdout-data``) in the task's format.
"""

from __future__ import annotations

import json
import sysconfig
from pathlib import Path
from typing import Iterable

from code_unlearn_bench.errors import CubError, DataError
from code_unlearn_bench.samples import Sample

DEFAULT_TASKS = {"copyright"}
MIN_CHARS, MAX_CHARS = 800, 4000  # the size band of the pinned forget files (1-3.5 KB)
# third-party code, tests, build config, and the codec modules (dozens of near-identical files)
_SKIP_DIRS = {"site-packages", "dist-packages", "idlelib", "lib2to3", "__pycache__", "encodings"}


def sample_text(sample: Sample) -> str:
    """The whole text a sample stands for (copyright samples keep the file in meta["content"])."""
    return sample.meta.get("content") or (sample.prompt + sample.reference)


def stdlib_rows(exclude_texts: Iterable[str], n: int) -> list[dict[str, str]]:
    """Up to ``n`` standard-library files (sorted by path: deterministic for one Python version),
    skipping the copyright task's pinned files and any text in ``exclude_texts``."""
    from code_unlearn_bench.loaders.copyright import STDLIB_FILES

    root = Path(sysconfig.get_paths()["stdlib"])
    pinned = {rel for rel, _ in STDLIB_FILES}
    excluded = {t.strip() for t in exclude_texts}
    rows = []
    # top-level modules and one package level down; never tests or third-party packages
    candidates = sorted([*root.glob("*.py"), *root.glob("*/*.py")], key=lambda p: p.relative_to(root).as_posix())
    for path in candidates:
        rel = path.relative_to(root).as_posix()
        if rel in pinned or rel.split("/")[0] in _SKIP_DIRS or rel.startswith(("test", "config-")):
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if MIN_CHARS <= len(text) <= MAX_CHARS and text.strip() not in excluded:
            rows.append({"task_id": f"stdlib/{rel}", "content": text})
        if len(rows) >= n:
            break
    if not rows:
        raise DataError(f"no standard-library file in {root} is usable as disjoint default data")
    return rows


def write_default(task: str, forget: list[Sample], n: int, path: Path, flag: str) -> str:
    """Write the default disjoint set for ``task`` as JSONL at ``path``; returns the path."""
    if task not in DEFAULT_TASKS:
        raise CubError(f"task '{task}' has no built-in disjoint data; give {flag} (a source in the task's format)")
    rows = stdlib_rows((sample_text(s) for s in forget), n)
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
