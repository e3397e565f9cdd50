"""Copyright forget set: whole source files; the model continues each file's first half.

Sources: a JSONL file (``task_id``/``content``; PROD's ``canonical_solution`` also accepted), a
directory of source files, an HF dataset (``save_to_disk`` dir or hub name), or, by default, 20
files of CPython 3.11.7's standard library shipped as package data
(``code_unlearn_bench/data/stdlib/``, PSF licence there): the same files, and the same data hash,
on every Python.

Split (the reference code's protocol): split the file on single spaces and give the model the
first floor(n/2) pieces; the rest is the reference. ``" ".join`` of the pieces is the file again,
so prompt + reference == file exactly.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path
from typing import Any

from code_unlearn_bench.errors import DataError
from code_unlearn_bench.loaders._io import (is_hf_saved_dataset, read_hf_dataset, read_jsonl, read_source_dir,
                                            require_fields)
from code_unlearn_bench.samples import Sample

# (path relative to the stdlib, first 16 hex digits of its sha256 under CPython 3.11.7); the
# shipped copies are checked against these on every load.
# Small (1-3.5 KB) real modules, so a 256-token continuation covers most of each second half.
STDLIB_FILES = (
    ("asyncio/base_futures.py", "385a1fd5e8688f1f"),
    ("asyncio/base_tasks.py", "70f6b21a2371eaa8"),
    ("asyncio/coroutines.py", "8b60928d13116c28"),
    ("asyncio/format_helpers.py", "6377b672b3f4ba8b"),
    ("asyncio/trsock.py", "c0eac37debcc51b7"),
    ("bisect.py", "e5b2ff166f48a06e"),
    ("ctypes/_endian.py", "4bcc8bafbaa7c290"),
    ("curses/ascii.py", "cf0137c2143c5e5b"),
    ("email/encoders.py", "690b275529788cc4"),
    ("email/iterators.py", "1080a2d03779176d"),
    ("encodings/rot_13.py", "14767f475acdc0bf"),
    ("encodings/uu_codec.py", "45ba92000718abf8"),
    ("json/scanner.py", "8604d9d03786d0d5"),
    ("json/tool.py", "d5174b728b376a12"),
    ("multiprocessing/popen_fork.py", "0a09db57e7fab706"),
    ("nturl2path.py", "980982ba66cc403d"),
    ("secrets.py", "86893f2e4d33e8d0"),
    ("signal.py", "6ae9e49fe09b607b"),
    ("sqlite3/dump.py", "7b23e13d844d448f"),
    ("tomllib/_re.py", "75b8e0e428594f6d"),
)


def split_file(content: str) -> tuple[str, str]:
    words = content.split(" ")
    half = len(words) // 2
    prompt = " ".join(words[:half])
    reference = (" " if half else "") + " ".join(words[half:])
    return prompt, reference


def make_sample(task_id: str, content: str, origin: str) -> Sample:
    prompt, reference = split_file(content)
    return Sample(id=str(task_id), prompt=prompt, reference=reference,
                  meta={"content": content, "origin": origin})


def packaged_jsonl(name: str) -> list[dict[str, Any]]:
    """Rows of ``code_unlearn_bench/data/stdlib/<name>`` (pinned CPython 3.11.7 files)."""
    resource = resources.files("code_unlearn_bench") / "data" / "stdlib" / name
    try:
        return read_jsonl(Path(str(resource)))
    except DataError as exc:
        raise DataError(f"package data is broken (reinstall code-unlearn-bench): {exc}") from None


def stdlib_samples() -> list[Sample]:
    """The 20 pinned standard-library files, from the package (never the running Python's)."""
    rows = {r["task_id"]: r["content"] for r in packaged_jsonl("copyright_forget.jsonl")}
    out = []
    for rel, digest in STDLIB_FILES:
        text = rows.get(f"stdlib/{rel}")
        actual = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16] if text is not None else "missing"
        if actual != digest:
            raise DataError(f"package data file stdlib/{rel} is not the pinned version "
                            f"(sha256 {actual} != {digest}); reinstall code-unlearn-bench")
        out.append(make_sample(f"stdlib/{rel}", text, "python-stdlib"))
    return out


def _rows_to_samples(rows: list[dict[str, Any]], where: str, id_field: str, content_field: str) -> list[Sample]:
    out = []
    for n, row in enumerate(rows, 1):
        field = content_field if content_field in row else ("canonical_solution" if "canonical_solution" in row else content_field)
        require_fields(row, [field], f"{where} record {n}")
        content = row[field]
        if not isinstance(content, str) or not content.strip():
            raise DataError(f"{where} record {n}: '{field}' must be a non-empty string")
        out.append(make_sample(str(row.get(id_field, n - 1)), content, where))
    return out


def truncate_lines(content: str, max_chars: int | None) -> str:
    """The file's first ``max_chars`` characters, cut back to a line end (small CPU presets)."""
    if not max_chars or len(content) <= max_chars:
        return content
    head = content[:max_chars]
    return head[: head.rfind("\n") + 1] if "\n" in head else head


def load(source: str | None, options: dict[str, Any]) -> list[Sample]:
    samples = _load(source, options)
    max_chars = options.get("max_chars")
    if max_chars:
        samples = [make_sample(s.id, truncate_lines(s.meta["content"], int(max_chars)), s.meta["origin"])
                   for s in samples]
    return samples


def _load(source: str | None, options: dict[str, Any]) -> list[Sample]:
    if source is None:
        # strict_hashes is kept for old configs: the shipped files are always checked now
        return stdlib_samples()
    id_field = options.get("id_field", "task_id")
    content_field = options.get("content_field", "content")
    path = Path(source).expanduser()
    if path.is_file():
        if path.suffix not in (".jsonl", ".json"):
            raise DataError(f"copyright data '{source}' must be a .jsonl file, a directory or an HF dataset")
        return _rows_to_samples(read_jsonl(path), str(source), id_field, content_field)
    if is_hf_saved_dataset(path) or not path.exists():
        if not path.exists() and ("/" not in source or source.startswith((".", "/"))):
            raise DataError(f"copyright data '{source}' does not exist")
        return _rows_to_samples(read_hf_dataset(source), str(source), id_field, content_field)
    files = read_source_dir(path, options.get("pattern", "*.py"))
    if not files:
        raise DataError(f"no files matching '{options.get('pattern', '*.py')}' under '{source}'")
    return [make_sample(rel, text, str(source)) for rel, text in files if text.strip()]
