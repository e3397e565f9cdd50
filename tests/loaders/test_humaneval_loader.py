from __future__ import annotations

import gzip
import json

import pytest

from code_unlearn_bench.errors import DataError
from code_unlearn_bench.loaders import humaneval


def test_bundled_problems_in_order_with_both_prompt_formats():
    raw = humaneval.load(None, {"prompt_format": "raw"})
    stripped = humaneval.load(None, {})
    assert len(raw) == len(stripped) == 164
    assert [s.id for s in raw[:3]] == ["HumanEval/0", "HumanEval/1", "HumanEval/2"]
    for r, s in zip(raw, stripped):
        assert r.prompt.endswith("\n") and not s.prompt.endswith(("\n", " "))
        # whichever format, prompt + reference is the canonical program
        assert r.prompt + r.reference == s.prompt + s.reference
        assert s.meta["prompt_format"] == "rstrip" and r.meta["prompt_format"] == "raw"


def test_task_ids_subset_and_unknown_id():
    got = humaneval.load(None, {"task_ids": "HumanEval/5, HumanEval/2"})
    assert [s.id for s in got] == ["HumanEval/2", "HumanEval/5"]  # file order, not request order
    with pytest.raises(DataError, match="unknown HumanEval task id"):
        humaneval.load(None, {"task_ids": ["HumanEval/999"]})


def test_bad_sources_are_one_line_data_errors(tmp_path):
    with pytest.raises(DataError, match="not a file"):
        humaneval.load(str(tmp_path / "missing.jsonl"), {})
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"task_id": "x", "prompt": "p"}\n')
    with pytest.raises(DataError, match="lacks field"):
        humaneval.load(str(bad), {})
    broken = tmp_path / "broken.jsonl.gz"
    with gzip.open(broken, "wt") as fh:
        fh.write("{not json\n")
    with pytest.raises(DataError, match="not valid JSON"):
        humaneval.load(str(broken), {})
    with pytest.raises(DataError, match="prompt_format"):
        humaneval.load(None, {"prompt_format": "chat"})


def test_custom_file_and_check_program(tmp_path):
    row = {"task_id": "T/0", "prompt": "def add(a, b):\n", "canonical_solution": "    return a + b\n",
           "test": "def check(f):\n    assert f(1, 2) == 3\n", "entry_point": "add"}
    path = tmp_path / "he.jsonl"
    path.write_text(json.dumps(row) + "\n")
    (s,) = humaneval.load(str(path), {"prompt_format": "raw"})
    program = humaneval.check_program(s, s.reference)
    env = {}
    exec(compile(program, "<test>", "exec"), env)  # trusted text written above
    assert program.rstrip().endswith("check(add)")
