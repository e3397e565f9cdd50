"""Readers shared by loaders: JSON, JSONL, source-file directories and HF datasets.

Every failure becomes a one-line DataError naming the file (and line) at fault.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

from code_unlearn_bench.errors import DataError


def read_json(path: str | Path) -> Any:
    p = Path(path)
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DataError(f"cannot read '{path}': {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise DataError(f"'{path}' is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"'{path}' is not valid JSON (line {exc.lineno}: {exc.msg})") from None


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DataError(f"cannot read '{path}': {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise DataError(f"'{path}' is not UTF-8 text") from None
    rows = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"'{path}' line {n} is not valid JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise DataError(f"'{path}' line {n} is not a JSON object")
        rows.append(row)
    return rows


def require_fields(row: dict[str, Any], fields: Iterable[str], where: str) -> None:
    missing = [f for f in fields if f not in row]
    if missing:
        raise DataError(f"{where} lacks field(s) {', '.join(missing)}")


def is_hf_saved_dataset(path: Path) -> bool:
    return path.is_dir() and ((path / "dataset_info.json").exists() or (path / "state.json").exists()
                              or (path / "dataset_dict.json").exists())


def read_hf_dataset(source: str, split: str = "train") -> list[dict[str, Any]]:
    """A ``save_to_disk`` directory (read offline) or a hub dataset name (needs network and cache)."""
    try:
        import datasets
    except ImportError:  # pragma: no cover - datasets is a hard dependency
        raise DataError("reading HF datasets needs the 'datasets' package") from None
    try:
        if Path(source).is_dir():
            ds = datasets.load_from_disk(source)
        else:
            ds = datasets.load_dataset(source)
    except Exception as exc:  # datasets raises many exception types
        raise DataError(f"cannot load HF dataset '{source}': {str(exc).splitlines()[0][:200]}") from None
    if isinstance(ds, datasets.DatasetDict):
        if split not in ds:
            raise DataError(f"HF dataset '{source}' has no split '{split}' (has: {', '.join(ds)})")
        ds = ds[split]
    return [dict(row) for row in ds]


def read_source_dir(path: Path, pattern: str) -> list[tuple[str, str]]:
    """(relative path, text) of every file matching ``pattern`` under ``path``, sorted."""
    out = []
    for f in sorted(path.rglob(pattern)):
        if f.is_file():
            try:
                out.append((str(f.relative_to(path)), f.read_text(encoding="utf-8")))
            except UnicodeDecodeError:
                continue  # binary or non-UTF-8 files are not source code we can score
            except OSError as exc:
                raise DataError(f"cannot read '{f}': {exc.strerror or exc}") from None
    return out
