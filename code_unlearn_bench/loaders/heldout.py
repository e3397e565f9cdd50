"""Held-out code for the held-out loss (mean token NLL): code that no forget set contains.

Default: the 164 HumanEval problems' canonical solutions, scored as continuations of their
problem prompts (context = prompt, continuation = canonical solution). Disjoint from every
default forget set (stdlib files, the paper's StarCoderData files, CyberSecEval snippets;
tests/loaders/test_heldout_loader.py checks it) and what the CPU measurements used
(SmolLM2-135M: 1.10 nats/token on the first 40).

Other sources: a JSONL file (``id_field``, ``content_field``) or a directory of source files
(``pattern``); each file is scored as the continuation of its first line (a continuation needs
some context to be conditioned on). ``max_chars`` (0 = no cap) caps each continuation's length.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from code_unlearn_bench.errors import DataError
from code_unlearn_bench.loaders import humaneval
from code_unlearn_bench.loaders._io import read_jsonl, read_source_dir, require_fields
from code_unlearn_bench.samples import Sample


def file_sample(sample_id: str, text: str, origin: str, max_chars: int = 0) -> Sample | None:
    first, sep, rest = text.partition("\n")
    if not sep or not rest.strip():
        return None  # nothing to score after the first line
    if max_chars:
        rest = rest[:max_chars]
    return Sample(id=sample_id, prompt=first + "\n", reference=rest, meta={"origin": origin})


def load(source: str | None, options: dict[str, Any]) -> list[Sample]:
    max_chars = int(options.get("max_chars", 0) or 0)
    if source is None:
        out = []
        for p in humaneval.read_problems():
            ref = p["canonical_solution"][:max_chars] if max_chars else p["canonical_solution"]
            out.append(Sample(id=p["task_id"], prompt=p["prompt"], reference=ref,
                              meta={"origin": "humaneval-canonical"}))
        return out
    path = Path(source)
    if path.is_dir():
        rows = read_source_dir(path, options.get("pattern", "*.py"))
        samples = [file_sample(rel, text, str(path), max_chars) for rel, text in rows]
    elif path.is_file():
        id_field, content_field = options.get("id_field", "task_id"), options.get("content_field", "content")
        samples = []
        for n, row in enumerate(read_jsonl(path), 1):
            require_fields(row, (id_field, content_field), f"'{path}' line {n}")
            samples.append(file_sample(str(row[id_field]), str(row[content_field]), str(path), max_chars))
    else:
        raise DataError(f"held-out source '{source}' is neither a directory of source files nor a JSONL file")
    samples = [s for s in samples if s is not None]
    if not samples:
        raise DataError(f"held-out source '{source}' holds no file with code after its first line")
    return samples
