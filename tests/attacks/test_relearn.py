"""Relearning attack end to end on a tiny real model: fine-tuning with the unlearn package's loop on
disjoint data, then the forget set re-scored; overlapping data is refused."""

import json

import pytest

from code_unlearn_bench.attacks import related_data
from code_unlearn_bench.samples import Sample


@pytest.fixture(scope="module")
def mem(tiny_memorised):
    return tiny_memorised


def test_default_related_data_is_disjoint_stdlib_code(tmp_path):
    from code_unlearn_bench.loaders.copyright import stdlib_samples

    forget = stdlib_samples()
    path = related_data.write_default("copyright", forget, 5, tmp_path / "d.jsonl", "--relearn-data")
    rows = [json.loads(line) for line in open(path)]
    assert len(rows) == 5 and len({r["task_id"] for r in rows}) == 5
    pinned = {s.id for s in forget}
    assert not pinned & {r["task_id"] for r in rows}
    assert not {s.meta["content"].strip() for s in forget} & {r["content"].strip() for r in rows}
    with pytest.raises(Exception, match="no built-in disjoint data"):
        related_data.write_default("insecure", forget, 5, tmp_path / "x.jsonl", "--relearn-data")


def test_check_disjoint_names_the_shared_sample():
    a = [Sample("f1", "x = ", "1\n", {"content": "x = 1\n"})]
    related_data.check_disjoint(a, [Sample("r1", "y = ", "2\n", {"content": "y = 2\n"})], "--relearn-data")
    with pytest.raises(Exception, match="shares 1 sample.*'r2'"):
        related_data.check_disjoint(a, [Sample("r2", "", "", {"content": "x = 1\n"})], "--relearn-data")


def test_relearn_attack_fine_tunes_on_disjoint_data_and_rescores(mem, cub, tmp_path):
    relearn = tmp_path / "relearn.jsonl"
    relearn.write_text("".join(json.dumps({"task_id": f"r{i}", "content": t}) + "\n" for i, t in enumerate(mem.unseen)))
    out = tmp_path / "atk"
    args = ["attack", "relearn", "--model", mem.path, "--data", mem.seen_jsonl, "--output-dir", out,
            "--relearn-data", relearn, "--relearn-epochs", "2", "--relearn-lr", "3e-3", "--relearn-max-length", "128",
            "--max-new-tokens", "48", "--quiet"]
    code, stdout, err = cub(*args)
    assert code == 0, err
    task = json.loads((out / "results.json").read_text())["tasks"]["copyright"]
    detail = task["attack"]["settings"]["relearned"]
    assert detail["n_examples"] == 2 and detail["steps"] == 4 and len(detail["losses"]) == 4
    ckpt = out / "relearn" / "train" / "epoch-02"
    assert detail["checkpoint"] == str(ckpt) and (ckpt / "cub_checkpoint.json").is_file()
    assert task["primary_metric"] == "forget_quality@relearned"
    m = task["metrics"]
    assert m["effect_of_attack@relearned"]["n"] == 2
    assert m["effect_of_attack@relearned"]["value"] == pytest.approx(
        m["forget_quality@before"]["value"] - m["forget_quality@relearned"]["value"], abs=1e-6)
    # the fine-tune really changed the model: 4 steps at 3e-3 on other code move a memorised 1M model
    before = (out / "settings" / "before" / "generations" / "copyright.jsonl").read_text()
    after = (out / "settings" / "relearned" / "generations" / "copyright.jsonl").read_text()
    assert before != after
    assert "relearned" in stdout

    # a rerun resumes: nothing is trained or generated again
    stamp = (ckpt / "cub_checkpoint.json").stat().st_mtime_ns
    assert cub(*args)[0] == 0
    assert (ckpt / "cub_checkpoint.json").stat().st_mtime_ns == stamp


def test_relearn_refuses_forget_data_and_several_tasks(mem, cub, tmp_path):
    code, _, err = cub("attack", "relearn", "--model", mem.path, "--data", mem.all_jsonl,
                       "--output-dir", tmp_path / "a", "--relearn-data", mem.seen_jsonl)
    assert code == 2 and "--relearn-data shares 2 sample(s) with the forget set" in err
    code, _, err = cub("attack", "relearn", "--model", mem.path, "--task", "copyright,deprecated",
                       "--output-dir", tmp_path / "b")
    assert code == 2 and "one --task" in err
    code, _, err = cub("attack", "relearn", "--model", mem.path, "--output-dir", tmp_path / "c",
                       "--relearn-epochs", "0")
    assert code == 2 and "--relearn-epochs must be >= 1" in err
