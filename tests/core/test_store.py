import json

import pytest

from code_unlearn_bench.errors import CubError
from code_unlearn_bench.store import RunStore


def test_torn_last_line_is_dropped_and_file_repaired(tmp_path):
    store = RunStore(tmp_path)
    store.append_records("t", [{"id": "a", "completion": "x"}, {"id": "b", "completion": "y"}])
    with store.gen_path("t").open("a") as f:
        f.write('{"id": "c", "compl')  # killed mid-write
    records = store.read_records("t")
    assert [r["id"] for r in records] == ["a", "b"]
    assert store.gen_path("t").read_text().endswith('"id": "b"}\n')
    store.append_records("t", [{"id": "c", "completion": "z"}])
    assert [r["id"] for r in store.read_records("t")] == ["a", "b", "c"]


def test_identity_mismatch_refused_unless_overwrite(tmp_path):
    store = RunStore(tmp_path)
    m = store.open({"model_fingerprint": "sha256:1", "config": "c"}, overwrite=False)
    m["tasks"]["t"] = {}
    store.write_manifest(m)
    store.append_records("t", [{"id": "a"}])
    assert store.open({"model_fingerprint": "sha256:1", "config": "c"}, overwrite=False)["tasks"] == {"t": {}}
    with pytest.raises(CubError, match="different model_fingerprint"):
        store.open({"model_fingerprint": "sha256:2", "config": "c"}, overwrite=False)
    fresh = store.open({"model_fingerprint": "sha256:2", "config": "c"}, overwrite=True)
    assert fresh["tasks"] == {} and store.read_records("t") == []


def test_results_written_atomically(tmp_path):
    store = RunStore(tmp_path)
    store.write_results({"a": 1})
    assert json.loads(store.results_path.read_text()) == {"a": 1}
    assert not list(tmp_path.glob(".results.json.*"))
