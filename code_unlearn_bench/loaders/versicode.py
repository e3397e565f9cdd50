"""VersiCode loader with the paper's preprocessing (the deprecated-API forget task).

VersiCode (HF dataset ``AstoneNg/VersiCode``) publishes JSON files ``{"data": [...]}``; a record
has ``dependency``, ``version`` (``"==x.y.z"`` or a range), ``code``, ``masked_code`` (the API use
replaced by ``<token_mask>`` or its whole line by ``<line_mask>``/``<block_mask>``), ``masked_line``
and ``answer`` (the API name), plus ``time``, ``description``, ``id`` and more.

Preprocessing (paper, "Deprecated API Unlearning"):

1. version filtration: keep records pinned with ``==`` to one release;
2. file filtration: drop packages with fewer than ``min_snippets`` (3) records;
3. temporal split: per package, sort its distinct releases and take the middle one
   (``releases[len // 2]``) as the boundary: API uses from earlier releases are ``forget``
   ("deprecated"), the rest ``retain`` ("still valid"). A package with one release has no
   earlier release, so all its records are ``retain``.

Prompt = the code right before the API call: ``masked_code`` up to the mask, plus, for line/block
masks, ``masked_line`` up to the first whole-word occurrence of ``answer``. Reference = ``answer``.
Records whose answer cannot be located are skipped (counted in the error if nothing is left).

Options: ``min_snippets`` (3), ``package`` (one or a comma list), ``split`` (``forget``/``retain``
to keep one side; default both), ``order``: ``interleave`` (default: round-robin over packages,
one forget and one retain sample per round, so a ``--limit`` prefix spans packages and splits) or
``file`` (by package, release, file position).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterable

from code_unlearn_bench.errors import DataError
from code_unlearn_bench.loaders._io import read_json
from code_unlearn_bench.samples import Sample

REQUIRED = ("dependency", "version", "masked_code", "answer")
MASKS = ("<token_mask>", "<line_mask>", "<block_mask>")
_PIN = re.compile(r"^==\s*([0-9][0-9A-Za-z.+!_-]*)$")
META_FIELDS = ("description", "time", "type", "granularity", "language", "task", "source",
               "deprecated_api", "replacement", "deprecated_in", "removed_in", "reference")


def read_records(source: str | Path) -> list[dict[str, Any]]:
    """The records of a VersiCode JSON file, or of every ``*.json`` file in a directory (sorted)."""
    path = Path(source).expanduser()
    if path.is_dir():
        files = sorted(path.rglob("*.json"))
        if not files:
            raise DataError(f"no VersiCode *.json files under {path}")
    elif path.is_file():
        files = [path]
    else:
        raise DataError(f"VersiCode data not found: {path}")
    records: list[dict[str, Any]] = []
    for f in files:
        doc = read_json(f)
        data = doc.get("data") if isinstance(doc, dict) else None
        if not isinstance(data, list):
            raise DataError(f"'{f}' is not VersiCode JSON (expected an object with a 'data' list)")
        for n, rec in enumerate(data):
            validate_record(rec, f"'{f.name}' record {n}")
            records.append({**rec, "_file": f.name, "_index": n})
    return records


def validate_record(rec: Any, where: str) -> None:
    if not isinstance(rec, dict):
        raise DataError(f"{where} is not an object")
    bad = [k for k in REQUIRED if not isinstance(rec.get(k), str) or not rec[k].strip()]
    if bad:
        raise DataError(f"{where} lacks field(s) {', '.join(bad)}")


def pinned_version(version: str) -> str | None:
    """``"==1.2.3"`` -> ``"1.2.3"``; ranges and unpinned specs -> None."""
    m = _PIN.match(version.strip())
    return m.group(1) if m else None


def version_key(version: str):
    """Sort key for releases: PEP 440 order, unparsable versions after the parsable ones."""
    from packaging.version import InvalidVersion, Version

    try:
        return (0, Version(version), "")
    except InvalidVersion:
        return (1, Version("0"), version)


def prompt_and_answer(rec: dict[str, Any]) -> tuple[str, str] | None:
    """The code right before the API use, and the API name; None when the use cannot be located."""
    code, answer = rec["masked_code"], rec["answer"].strip()
    for mask in MASKS:
        at = code.find(mask)
        if at < 0:
            continue
        if mask == "<token_mask>":
            return code[:at], answer
        line = rec.get("masked_line")
        if not isinstance(line, str):
            return None
        m = re.search(r"(?<![A-Za-z0-9_])" + re.escape(answer) + r"(?![A-Za-z0-9_])", line)
        if not m:
            return None
        return code[:at] + line[:m.start()], answer
    return None


def _csv(option: Any) -> set[str] | None:
    if option in (None, ""):
        return None
    items = option if isinstance(option, (list, tuple)) else str(option).split(",")
    return {str(i).strip() for i in items if str(i).strip()} or None


def to_sample(rec: dict[str, Any], split: str, prompt: str, answer: str) -> Sample:
    version = pinned_version(rec["version"]) or rec["version"]
    ident = rec.get("id") if rec.get("id") not in (None, "") else f"{rec['_file']}:{rec['_index']}"
    meta = {k: rec[k] for k in META_FIELDS if rec.get(k) is not None}
    meta.update({"package": rec["dependency"], "version": version, "split": split, "answer": answer})
    return Sample(id=f"{rec['dependency']}/{ident}", prompt=prompt, reference=answer, meta=meta)


def middle_release_split(records: Iterable[dict[str, Any]], min_snippets: int = 3) -> list[tuple[dict, str]]:
    """Steps 1-3 of the paper's preprocessing: (record, "forget" | "retain") pairs."""
    by_package: dict[str, list[dict[str, Any]]] = {}
    for rec in records:
        version = pinned_version(rec["version"])
        if version is not None:
            by_package.setdefault(rec["dependency"], []).append({**rec, "_release": version})
    out: list[tuple[dict, str]] = []
    for package in sorted(by_package):
        recs = by_package[package]
        if len(recs) < min_snippets:
            continue
        releases = sorted({r["_release"] for r in recs}, key=version_key)
        boundary = version_key(releases[len(releases) // 2])
        recs.sort(key=lambda r: (version_key(r["_release"]), r["_file"], r["_index"]))
        out.extend((r, "forget" if version_key(r["_release"]) < boundary else "retain") for r in recs)
    return out


def build_samples(pairs: Iterable[tuple[dict, str]], options: dict) -> list[Sample]:
    """Locate prompts, apply the package/split filters, and fail clearly when nothing is left."""
    packages, keep = _csv(options.get("package")), options.get("split") or None
    if keep not in (None, "forget", "retain"):
        raise DataError(f"split must be forget or retain, got '{keep}'")
    samples, unlocated = [], 0
    for rec, split in pairs:
        if (packages and rec["dependency"] not in packages) or (keep and split != keep):
            continue
        located = prompt_and_answer(rec)
        if located is None:
            unlocated += 1
            continue
        samples.append(to_sample(rec, split, *located))
    order = options.get("order") or "interleave"
    if order not in ("interleave", "file"):
        raise DataError(f"unknown order '{order}' (known: interleave, file)")
    if order == "interleave":
        samples = interleave(samples)
    if not samples:
        raise DataError(f"no usable API-use records (answer not found in the masked line: {unlocated}; "
                        f"check package/split options and the ==version pins)")
    return samples


def interleave(samples: list[Sample]) -> list[Sample]:
    """Round-robin over packages, one forget and one retain sample per package per round, so any
    ``--limit`` prefix spans many packages and both splits."""
    queues: dict[str, dict[str, list[Sample]]] = {}
    for s in samples:
        queues.setdefault(s.meta["package"], {"forget": [], "retain": []})[s.meta["split"]].append(s)
    out: list[Sample] = []
    depth = max((max(len(q["forget"]), len(q["retain"])) for q in queues.values()), default=0)
    for d in range(depth):
        for q in queues.values():
            out.extend(q[split][d] for split in ("forget", "retain") if d < len(q[split]))
    return out


def load(source: str | None, options: dict) -> list[Sample]:
    if source is None:
        raise DataError("VersiCode cannot be bundled: pass --data PATH to a VersiCode JSON file or folder "
                        "(HF dataset AstoneNg/VersiCode)")
    options = dict(options or {})
    try:
        min_snippets = int(options.get("min_snippets", 3))
    except (TypeError, ValueError):
        raise DataError(f"min_snippets must be an integer, got {options.get('min_snippets')!r}") from None
    return build_samples(middle_release_split(read_records(source), min_snippets), options)
