"""VersiCode loader: the paper's preprocessing on a small fixture in VersiCode's format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from code_unlearn_bench.errors import DataError
from code_unlearn_bench.loaders import deprecated, versicode

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "versicode_sample.json"


def by_id(samples):
    return {s.id: s for s in samples}


def test_preprocessing_pins_min_snippets_and_middle_release():
    samples = versicode.load(str(FIXTURE), {"order": "file"})
    got = by_id(samples)
    # beta (2 snippets) and gamma (a range pin leaves 2) are dropped; a4's answer is not in its line.
    assert sorted(got) == ["alpha/a1", "alpha/a2", "alpha/a3", "alpha/a5"]
    # alpha releases in PEP 440 order: 1.0.0 < 1.9.0 < 1.10.0 < 2.0.0 -> boundary 1.10.0 (index 2 of 4)
    splits = {i: s.meta["split"] for i, s in got.items()}
    assert splits == {"alpha/a1": "forget", "alpha/a3": "forget", "alpha/a2": "retain", "alpha/a5": "retain"}
    # file order: by release
    assert [s.id for s in samples] == ["alpha/a1", "alpha/a3", "alpha/a2", "alpha/a5"]


def test_prompt_is_code_right_before_the_api_call():
    got = by_id(versicode.load(str(FIXTURE), {}))
    assert got["alpha/a1"].prompt == "import alpha\nx = alpha."  # token mask
    assert got["alpha/a1"].reference == "old_call"
    assert got["alpha/a2"].prompt == "import alpha\ny = alpha."  # line mask + masked_line prefix
    # whole-word match: "ctx" inside "ctx_new" is skipped, the argument alpha.ctx is the use
    assert got["alpha/a5"].prompt == "import alpha\nwith alpha.ctx_new(alpha."
    assert got["alpha/a1"].meta["version"] == "1.0.0" and got["alpha/a1"].meta["package"] == "alpha"


def test_options_filter_split_and_min_snippets():
    assert {s.meta["split"] for s in versicode.load(str(FIXTURE), {"split": "retain"})} == {"retain"}
    with_beta = by_id(versicode.load(str(FIXTURE), {"min_snippets": 2}))
    assert with_beta["beta/b1"].meta["split"] == "forget" and with_beta["beta/b2"].meta["split"] == "retain"
    assert {s.meta["package"] for s in versicode.load(str(FIXTURE), {"package": "alpha"})} == {"alpha"}


def test_deprecated_loader_applies_paper_split_to_versicode_files():
    assert by_id(deprecated.load(str(FIXTURE), {})).keys() == by_id(versicode.load(str(FIXTURE), {})).keys()


def test_directory_source_reads_every_json(tmp_path):
    (tmp_path / "a.json").write_text(FIXTURE.read_text())
    assert len(versicode.load(str(tmp_path), {})) == 4


@pytest.mark.parametrize("content, message", [
    ("{not json", "not valid JSON"),
    ('[{"dependency": "x"}]', "expected an object with a 'data' list"),
    ('{"data": [{"dependency": "x", "version": "==1.0"}]}', "lacks field(s) masked_code, answer"),
    ('{"data": ["oops"]}', "is not an object"),
])
def test_malformed_input_is_one_line_data_error(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(DataError) as err:
        versicode.load(str(path), {})
    assert message in str(err.value) and "\n" not in str(err.value)


def test_missing_source_and_no_usable_records(tmp_path):
    with pytest.raises(DataError, match="--data"):
        versicode.load(None, {})
    with pytest.raises(DataError, match="not found"):
        versicode.load(str(tmp_path / "nope.json"), {})
    path = tmp_path / "unpinned.json"
    rec = json.loads(FIXTURE.read_text())["data"][6]  # the ">=" record only
    path.write_text(json.dumps({"data": [rec] * 3}))
    with pytest.raises(DataError, match="no usable"):
        versicode.load(str(path), {})
