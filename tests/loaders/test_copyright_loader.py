import json

import pytest

from code_unlearn_bench.errors import DataError
from code_unlearn_bench.loaders import copyright as loader
from code_unlearn_bench.tasks.spec import get_task


def test_default_is_twenty_pinned_stdlib_files_split_exactly():
    samples = loader.load(None, {})
    assert len(samples) == 20
    assert len({s.id for s in samples}) == 20
    for s in samples:
        assert s.prompt + s.reference == s.meta["content"]
        words = s.meta["content"].split(" ")
        assert s.prompt == " ".join(words[: len(words) // 2])


def test_paper_forget_set_loads(shared_data):
    samples = loader.load(str(shared_data / "prod_copyright" / "forget_100.jsonl"), {})
    assert len(samples) == 100
    assert samples[0].id == "1200"
    assert all(s.prompt + s.reference == s.meta["content"] for s in samples)


def test_directory_and_hf_dataset_sources(tmp_path):
    (tmp_path / "src" / "pkg").mkdir(parents=True)
    (tmp_path / "src" / "a.py").write_text("def a():\n    return 1\n")
    (tmp_path / "src" / "pkg" / "b.py").write_text("def b(x):\n    return x + 1\n")
    (tmp_path / "src" / "notes.txt").write_text("ignored")
    samples = loader.load(str(tmp_path / "src"), {"pattern": "*.py"})
    assert [s.id for s in samples] == ["a.py", "pkg/b.py"]

    import datasets

    ds = datasets.Dataset.from_list([{"task_id": "x1", "canonical_solution": "import os\nprint(os.getcwd())\n"}])
    ds.save_to_disk(str(tmp_path / "hf"))
    samples = loader.load(str(tmp_path / "hf"), {})
    assert [s.id for s in samples] == ["x1"]
    assert samples[0].prompt + samples[0].reference == "import os\nprint(os.getcwd())\n"


@pytest.mark.parametrize("content,message", [
    ('{"task_id": 1, "content": "x = 1"}\n{"task_id": 2\n', "line 2 is not valid JSON"),
    ('{"task_id": 1, "text": "x = 1"}\n', r"lacks field\(s\) content"),
    ('{"task_id": 1, "content": ""}\n', "non-empty string"),
])
def test_malformed_jsonl_is_a_one_line_data_error(tmp_path, content, message):
    f = tmp_path / "bad.jsonl"
    f.write_text(content)
    with pytest.raises(DataError, match=message) as exc:
        loader.load(str(f), {})
    assert "\n" not in str(exc.value)


def test_missing_source_and_duplicate_ids(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        loader.load(str(tmp_path / "nope.jsonl"), {})
    f = tmp_path / "dup.jsonl"
    f.write_text(json.dumps({"task_id": "a", "content": "x = 1"}) + "\n" + json.dumps({"task_id": "a", "content": "y = 2"}) + "\n")
    with pytest.raises(DataError, match="duplicate sample id 'a'"):
        get_task("copyright").load_samples(str(f))
