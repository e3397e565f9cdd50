"""The curated deprecated-API set: format, size, uniqueness, answers in code, reproducible build."""

from __future__ import annotations

import importlib.util
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from code_unlearn_bench.loaders.deprecated import default_path

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def records():
    return json.loads(default_path().read_text(encoding="utf-8"))["data"]


def test_size_and_coverage(records):
    assert len(records) >= 150
    assert len({r["dependency"] for r in records}) >= 25
    assert Counter(r["status"] for r in records) == {"deprecated": len(records) // 2, "current": len(records) // 2}


def test_format(records):
    for r in records:
        for key in ("id", "dependency", "version", "description", "code", "masked_code", "masked_line",
                    "answer", "deprecated_api", "replacement", "reference"):
            assert isinstance(r[key], str) and r[key].strip(), (r["id"], key)
        assert re.fullmatch(r"==\d+(\.\d+)*", r["version"]), r["id"]
        assert r["deprecated_in"] or r["removed_in"], r["id"]
        assert r["masked_code"].count("<token_mask>") == 1 and "<token_mask>" in r["masked_line"], r["id"]
        compile(r["code"], r["id"], "exec")  # every snippet is valid Python


def test_answers_occur_in_code_and_unmask_exactly(records):
    for r in records:
        assert r["answer"] in r["code"], r["id"]
        assert r["masked_code"].replace("<token_mask>", r["answer"]) == r["code"], r["id"]


def test_uniqueness_and_pairs(records):
    assert len({r["id"] for r in records}) == len(records)
    assert len({r["code"] for r in records}) == len(records)
    assert len({(r["masked_code"], r["answer"]) for r in records}) == len(records)
    ids = {r["id"] for r in records}
    for r in records:
        if r["status"] == "deprecated":
            assert r["id"].replace("-deprecated", "-current") in ids


def test_file_is_what_the_builder_writes(records):
    spec = importlib.util.spec_from_file_location("build_deprecated_apis", REPO / "tools" / "build_deprecated_apis.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.build() == records
