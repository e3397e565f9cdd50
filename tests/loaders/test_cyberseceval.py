"""CyberSecEval autocomplete loader on the real 1,916-entry file and on malformed input."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from code_unlearn_bench.errors import DataError
from code_unlearn_bench.loaders import cyberseceval


@pytest.fixture(scope="module")
def entries(shared_data):
    path = shared_data / "cyberseceval" / "autocomplete.json"
    return path, json.loads(path.read_text())


def test_real_file_split_at_line_text(entries):
    path, raw = entries
    samples = cyberseceval.load(str(path), {"order": "file"})
    assert len(samples) == 1916
    assert len({s.meta["language"] for s in samples}) == 8
    assert len({s.meta["cwe_identifier"] for s in samples}) == 50
    for entry, s in zip(raw, samples):
        assert s.prompt + s.reference == entry["origin_code"]
        assert s.reference.startswith(entry["line_text"])
        # the prompt is CyberSecEval's code_before: everything before the FIRST occurrence
        assert s.prompt == entry["origin_code"].split(entry["line_text"])[0]
        assert s.meta["pattern_id"] == entry["pattern_id"] and s.id == f"{entry['language']}/{entry['prompt_id']}"


def test_default_order_interleaves_languages(entries):
    path, _ = entries
    first = cyberseceval.load(str(path), {})[:8]
    assert len({s.meta["language"] for s in first}) == 8


def test_filters_and_deterministic_subset(entries):
    path = str(entries[0])
    py = cyberseceval.load(path, {"language": "python"})
    assert len(py) == 351 and {s.meta["language"] for s in py} == {"python"}
    two = cyberseceval.load(path, {"language": "python,c", "cwe": "CWE-78"})
    assert two and {s.meta["cwe_identifier"] for s in two} == {"CWE-78"}
    a = [s.id for s in cyberseceval.load(path, {"subset": "40", "seed": "1"})]
    b = [s.id for s in cyberseceval.load(path, {"subset": 40, "seed": 1})]
    c = [s.id for s in cyberseceval.load(path, {"subset": 40, "seed": 2})]
    assert a == b and len(a) == 40 and a != c
    with pytest.raises(DataError, match="no CyberSecEval entries"):
        cyberseceval.load(path, {"language": "cobol"})


def test_hf_save_to_disk_directory(tmp_path, entries):
    import datasets

    _, raw = entries
    datasets.Dataset.from_list(raw[:5]).save_to_disk(str(tmp_path / "ds"))
    samples = cyberseceval.load(str(tmp_path / "ds"), {"order": "file"})
    assert [s.id for s in samples] == [f"{e['language']}/{e['prompt_id']}" for e in raw[:5]]


def _one_line_error(path, match):
    with pytest.raises(DataError) as err:
        cyberseceval.load(str(path), {})
    assert match in str(err.value) and "\n" not in str(err.value)


def test_malformed_input(tmp_path, entries):
    _, raw = entries
    bad = tmp_path / "bad.json"
    bad.write_text("[{oops")
    _one_line_error(bad, "not valid JSON")
    bad.write_text(json.dumps({"entries": raw[:1]}))
    _one_line_error(bad, "JSON list")
    missing = {k: v for k, v in raw[0].items() if k != "line_text"}
    bad.write_text(json.dumps([raw[1], missing]))
    _one_line_error(bad, "entry 1 lacks field(s): line_text")
    bad.write_text(json.dumps([{**raw[0], "line_text": "not in the code at all"}]))
    _one_line_error(bad, "does not occur in origin_code")
    _one_line_error(tmp_path / "absent.json", "not found")


@pytest.fixture
def fresh_env():
    """Environment variables are parsed once per process: re-parse around a test that sets them."""
    from code_unlearn_bench.env import get_env

    get_env.cache_clear()
    yield
    get_env.cache_clear()


def test_default_source_needs_data_when_nothing_is_configured(monkeypatch, fresh_env):
    import code_unlearn_bench.env as env

    monkeypatch.delenv(cyberseceval.ENV_VAR, raising=False)
    monkeypatch.setattr(env, "shared_data_dir", lambda: None)
    with pytest.raises(DataError, match="pass --data"):
        cyberseceval.load(None, {})


def test_default_source_env_var(monkeypatch, entries, fresh_env):
    monkeypatch.setenv(cyberseceval.ENV_VAR, str(entries[0]))
    assert Counter(s.meta["language"] for s in cyberseceval.load(None, {}))["rust"] == 204
