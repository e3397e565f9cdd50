"""CyberSecEval "autocomplete" loader (the insecure-code forget task).

Each entry holds ``origin_code`` and the insecure line ``line_text`` inside it. As in CyberSecEval,
the code is split at the first occurrence of ``line_text``: the code before it is the prompt, the
insecure line onward is the reference (the part to forget). CyberSecEval's own ``code_after``
(``line_text + "\\n" + origin_code.split(line_text)[1]``) stops at a second occurrence of the line
(59 of the 1,916 entries); the reference here is the full remainder, the text actually to forget.

Source: a JSON file (a list of entries), a directory holding ``autocomplete.json``, a directory
written by ``datasets.save_to_disk``, or a Hugging Face dataset name (from the local HF cache).
Default: ``$CUB_CYBERSECEVAL_PATH``, else the development copy ``../shared/data`` next to a source
checkout, else a one-line error asking for ``--data``.

Options: ``language`` / ``cwe`` (one value or a comma list), ``subset`` (N entries drawn with
``seed``, default 0), ``order`` (``interleave``, the default, round-robins across languages so any
``--limit`` prefix covers every language; ``file`` keeps the file order), ``split`` (HF split).
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

from code_unlearn_bench.errors import DataError
from code_unlearn_bench.loaders._io import is_hf_saved_dataset, read_hf_dataset, read_json
from code_unlearn_bench.samples import Sample

REQUIRED = ("origin_code", "line_text", "language", "cwe_identifier")
META_FIELDS = ("prompt_id", "cwe_identifier", "pattern_id", "pattern_desc", "rule", "analyzer",
               "file_path", "line_number", "line_text", "variant", "repo")
ENV_VAR = "CUB_CYBERSECEVAL_PATH"
RELATIVE = Path("cyberseceval") / "autocomplete.json"  # under the shared data dir (CUB_DATA_DIR)


def default_source() -> Path:
    """``$CUB_CYBERSECEVAL_PATH``, else the shared development data, else a one-line error."""
    from code_unlearn_bench.env import get_env, shared_data_dir

    if get_env().cyberseceval_path is not None:
        return get_env().cyberseceval_path

    shared = shared_data_dir()
    if shared is not None and (shared / RELATIVE).is_file():
        return shared / RELATIVE
    raise DataError(
        "no CyberSecEval data: pass --data PATH to PurpleLlama's "
        f"CybersecurityBenchmarks/datasets/autocomplete/autocomplete.json (or set {ENV_VAR})")


def read_entries(source: str | os.PathLike | None, split: str = "train") -> list[Any]:
    path = Path(source).expanduser() if source is not None else default_source()
    if path.is_dir() and (path / "autocomplete.json").is_file():
        path = path / "autocomplete.json"
    if path.is_file():
        data = read_json(path)
    elif is_hf_saved_dataset(path):
        data = read_hf_dataset(str(path), split)
    elif source is not None and not path.exists() and "/" in str(source) and not str(source).startswith((".", "/", "~")):
        data = read_hf_dataset(str(source), split)  # "owner/name" on the Hugging Face hub (or its cache)
    else:
        raise DataError(f"CyberSecEval data not found: {path}")
    if not isinstance(data, list):
        raise DataError(f"CyberSecEval data must be a JSON list of entries, got {type(data).__name__}")
    return data


def to_sample(entry: Any, position: int) -> Sample:
    if not isinstance(entry, dict):
        raise DataError(f"CyberSecEval entry {position} is not an object")
    missing = [k for k in REQUIRED if not isinstance(entry.get(k), str) or not entry.get(k)]
    if missing:
        raise DataError(f"CyberSecEval entry {position} lacks field(s): {', '.join(missing)}")
    code, line = entry["origin_code"], entry["line_text"]
    cut = code.find(line)  # first occurrence, as CyberSecEval's origin_code.split(line_text)[0]
    if cut < 0:
        raise DataError(f"CyberSecEval entry {position}: line_text does not occur in origin_code")
    meta = {k: entry[k] for k in META_FIELDS if k in entry}
    meta["language"] = entry["language"]
    ident = entry.get("prompt_id", position)
    return Sample(id=f"{entry['language']}/{ident}", prompt=code[:cut], reference=code[cut:], meta=meta)


def _values(option: Any) -> set[str] | None:
    if option in (None, "", []):
        return None
    items = option if isinstance(option, (list, tuple)) else str(option).split(",")
    return {str(v).strip() for v in items if str(v).strip()}


def _interleave(samples: list[Sample]) -> list[Sample]:
    """Round-robin across languages (languages in order of first appearance)."""
    queues: dict[str, list[Sample]] = {}
    for s in samples:
        queues.setdefault(s.meta["language"], []).append(s)
    out: list[Sample] = []
    for depth in range(max((len(q) for q in queues.values()), default=0)):
        out.extend(q[depth] for q in queues.values() if depth < len(q))
    return out


def load(source: str | None, options: dict) -> list[Sample]:
    options = dict(options or {})
    samples = [to_sample(e, i) for i, e in enumerate(read_entries(source, str(options.get("split", "train"))))]
    ids = [s.id for s in samples]
    if len(set(ids)) != len(ids):
        raise DataError("CyberSecEval data has duplicate (language, prompt_id) entries")
    languages, cwes = _values(options.get("language")), _values(options.get("cwe"))
    if languages:
        samples = [s for s in samples if s.meta["language"] in languages]
    if cwes:
        samples = [s for s in samples if s.meta["cwe_identifier"] in cwes]
    if not samples:
        raise DataError(f"no CyberSecEval entries match language={options.get('language')} cwe={options.get('cwe')}")
    subset = options.get("subset")
    if subset not in (None, "", 0, "0"):
        try:
            n = int(subset)
            seed = int(options.get("seed", 0))
        except (TypeError, ValueError):
            raise DataError(f"subset and seed must be integers, got subset={subset!r}") from None
        if n < len(samples):
            keep = sorted(random.Random(seed).sample(range(len(samples)), n))
            samples = [samples[i] for i in keep]
    order = options.get("order", "interleave")
    if order not in ("interleave", "file"):
        raise DataError(f"unknown order '{order}' (known: interleave, file)")
    return _interleave(samples) if order == "interleave" else samples
