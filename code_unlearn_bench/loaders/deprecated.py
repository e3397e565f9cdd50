"""Deprecated-API loader: the project's curated set (default) or VersiCode data.

The default source is ``code_unlearn_bench/data/deprecated_apis.json`` (see
docs/deprecated-apis.md): VersiCode-shaped records, each also carrying ``status``
(``deprecated`` -> forget split, ``current`` -> retain split) and the deprecation facts. A
``--data`` file whose records all carry ``status`` is split the same way; any other VersiCode file
gets the paper's preprocessing (``==`` pins, >= 3 snippets per package, middle-release boundary;
:mod:`code_unlearn_bench.loaders.versicode`).

Options: ``package``, ``split`` (``forget``/``retain``), ``min_snippets`` (VersiCode files only).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from code_unlearn_bench.errors import DataError
from code_unlearn_bench.loaders import versicode
from code_unlearn_bench.samples import Sample

STATUS_SPLIT = {"deprecated": "forget", "current": "retain"}


def default_path() -> Path:
    return Path(str(resources.files("code_unlearn_bench") / "data" / "deprecated_apis.json"))


def status_split(records: list[dict]) -> list[tuple[dict, str]]:
    pairs = []
    for rec in records:
        split = STATUS_SPLIT.get(rec.get("status"))
        if split is None:
            raise DataError(f"record '{rec.get('id', rec['_index'])}' has status {rec.get('status')!r} "
                            f"(expected deprecated or current)")
        pairs.append((rec, split))
    return pairs


def load(source: str | None, options: dict) -> list[Sample]:
    options = dict(options or {})
    records = versicode.read_records(source if source is not None else default_path())
    if all("status" in r for r in records):
        pairs = status_split(records)
    else:
        try:
            min_snippets = int(options.get("min_snippets", 3))
        except (TypeError, ValueError):
            raise DataError(f"min_snippets must be an integer, got {options.get('min_snippets')!r}") from None
        pairs = versicode.middle_release_split(records, min_snippets)
    return versicode.build_samples(pairs, options)
