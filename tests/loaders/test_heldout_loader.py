from __future__ import annotations

import json
from pathlib import Path

import pytest

from code_unlearn_bench.errors import DataError
from code_unlearn_bench.loaders import heldout

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def forget_texts() -> list[str]:
    from code_unlearn_bench.loaders import copyright

    texts = [s.meta["content"] for s in copyright.stdlib_samples()]
    prod = SHARED / "prod_copyright" / "forget_100.jsonl"
    if prod.exists():
        texts += [json.loads(line)["content"] for line in prod.read_text().splitlines() if line.strip()]
    cse = SHARED / "cyberseceval" / "autocomplete.json"
    if cse.exists():
        texts += [e["origin_code"] for e in json.loads(cse.read_text())]
    return texts


def test_default_is_disjoint_from_every_default_forget_set():
    samples = heldout.load(None, {})
    assert len(samples) == 164
    forget = forget_texts()
    assert len(forget) >= 20
    blob = "\n\x00".join(forget)
    for s in samples:
        assert s.prompt + s.reference not in blob
        body = s.reference.strip()
        if len(body) >= 120:  # short bodies ("return a + b") may occur anywhere by chance
            assert body not in blob, s.id


def test_directory_and_jsonl_sources(tmp_path):
    (tmp_path / "a.py").write_text("import os\nprint(os.sep)\n")
    (tmp_path / "empty.py").write_text("# only one line\n")
    got = heldout.load(str(tmp_path), {"pattern": "*.py"})
    assert [(s.id, s.prompt, s.reference) for s in got] == [("a.py", "import os\n", "print(os.sep)\n")]
    f = tmp_path / "h.jsonl"
    f.write_text(json.dumps({"task_id": 7, "content": "x = 1\ny = 2\n"}) + "\n")
    (s,) = heldout.load(str(f), {"max_chars": 3})
    assert (s.id, s.reference) == ("7", "y =")
    with pytest.raises(DataError, match="neither a directory"):
        heldout.load(str(tmp_path / "nope"), {})
