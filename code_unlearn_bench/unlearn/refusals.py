"""Refusal answers (the preferred/template answer of DPO and FLAT).

The project ships its own list (code_unlearn_bench/data/idontknow.jsonl, one JSON object
``{"text": ...}`` per line); ``--refusals PATH`` can point at another, e.g. the paper's
../shared/data/prod_copyright/idontknow.jsonl, whose lines are plain text. Both forms are read.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
from pathlib import Path

from code_unlearn_bench.errors import DataError


def default_refusals_path() -> Path:
    return Path(str(importlib.resources.files("code_unlearn_bench") / "data" / "idontknow.jsonl"))


def load_refusals(path: str | Path | None = None) -> tuple[list[str], str]:
    """(refusal lines, "sha256:..." of the file) -- the hash goes into run.json."""
    p = Path(path) if path else default_refusals_path()
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read refusal list '{p}': {exc.strerror or exc}") from None
    out = []
    for n, line in enumerate(raw.decode("utf-8", errors="replace").splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        if line[0] in "{\"":
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                raise DataError(f"{p}:{n}: malformed JSON line") from None
            if isinstance(value, dict):
                value = value.get("text")
            if not isinstance(value, str) or not value.strip():
                raise DataError(f"{p}:{n}: expected a string or an object with a 'text' string")
            line = value.strip()
        out.append(line)
    if not out:
        raise DataError(f"refusal list '{p}' is empty")
    return out, "sha256:" + hashlib.sha256(raw).hexdigest()
