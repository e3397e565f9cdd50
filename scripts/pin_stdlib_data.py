"""Regenerate code_unlearn_bench/data/stdlib/*.jsonl from CPython 3.11.7's standard library.

The default copyright forget set and the attacks' default disjoint set are shipped as package data
so that their data hash is the same on every Python (the files differ between Python releases).
Run with CPython 3.11.7 only; the loaders check the shipped files against ``STDLIB_FILES``.

    python scripts/pin_stdlib_data.py
"""

from __future__ import annotations

import json
import sys
import sysconfig
from pathlib import Path

from code_unlearn_bench.loaders.copyright import STDLIB_FILES

OUT = Path(__file__).resolve().parents[1] / "code_unlearn_bench" / "data" / "stdlib"
N_DISJOINT = 32
MIN_CHARS, MAX_CHARS = 800, 4000  # the size band of the pinned forget files (1-3.5 KB)
# third-party code, tests, build config, and the codec modules (dozens of near-identical files)
SKIP_DIRS = {"site-packages", "dist-packages", "idlelib", "lib2to3", "__pycache__", "encodings"}


def disjoint_files(root: Path, forget_texts: set[str]) -> list[dict[str, str]]:
    """Small top-level / one-level-down modules, sorted by path, that are no forget file."""
    pinned = {rel for rel, _ in STDLIB_FILES}
    rows = []
    for path in sorted([*root.glob("*.py"), *root.glob("*/*.py")], key=lambda p: p.relative_to(root).as_posix()):
        rel = path.relative_to(root).as_posix()
        if rel in pinned or rel.split("/")[0] in SKIP_DIRS or rel.startswith(("test", "config-")):
            continue
        text = path.read_text(encoding="utf-8")
        if MIN_CHARS <= len(text) <= MAX_CHARS and text.strip() not in forget_texts:
            rows.append({"task_id": f"stdlib/{rel}", "content": text})
        if len(rows) == N_DISJOINT:
            return rows
    raise SystemExit(f"only {len(rows)} usable files under {root}")


def write_jsonl(path: Path, rows: list[dict[str, str]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def main() -> None:
    if sys.version_info[:3] != (3, 11, 7):
        raise SystemExit(f"run under CPython 3.11.7 (this is {sys.version.split()[0]})")
    root = Path(sysconfig.get_paths()["stdlib"])
    forget = [{"task_id": f"stdlib/{rel}", "content": (root / rel).read_text(encoding="utf-8")}
              for rel, _ in STDLIB_FILES]
    OUT.mkdir(parents=True, exist_ok=True)
    write_jsonl(OUT / "copyright_forget.jsonl", forget)
    write_jsonl(OUT / "disjoint.jsonl", disjoint_files(root, {r["content"].strip() for r in forget}))
    (OUT / "LICENSE.txt").write_text((root / "LICENSE.txt").read_text(encoding="utf-8"), encoding="utf-8")


if __name__ == "__main__":
    main()
