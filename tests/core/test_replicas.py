"""Engine replicas in child processes: --data-parallel-size sharding, merging, resume, vLLM children."""

import json
from pathlib import Path

import pytest

from code_unlearn_bench.errors import CubError
from code_unlearn_bench.evaluation.replicas import merge_parts, replica_devices
from code_unlearn_bench.store import RunStore

FAKE_VLLM = Path(__file__).resolve().parent.parent / "models" / "fake_vllm"


def test_replica_devices(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2,3")
    assert replica_devices(4, 1, needs_gpu=True) == ["0", "1", "2", "3"]
    assert replica_devices(2, 2, needs_gpu=True) == ["0,1", "2,3"]
    with pytest.raises(CubError, match="needs 6 GPUs, 4 visible"):
        replica_devices(3, 2, needs_gpu=False)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert replica_devices(2, 1, needs_gpu=False) == [None, None]  # CPU processes
    with pytest.raises(CubError, match="needs 1 GPUs, 0 visible"):
        replica_devices(1, 1, needs_gpu=True)


def test_merge_parts_moves_each_record_once(tmp_path):
    store = RunStore(tmp_path)
    store.append_records("t", [{"id": "a"}])
    store.append_records("t.part-0", [{"id": "a"}, {"id": "b"}])  # 'a' was merged before a crash
    store.append_records("t.part-1", [{"id": "c"}])
    assert merge_parts(store, "t") == 2
    assert [r["id"] for r in store.read_records("t")] == ["a", "b", "c"]
    assert sorted(p.name for p in store.gen_dir.iterdir()) == ["t.jsonl"]


def _ids(run: Path) -> list[str]:
    return [json.loads(line)["id"] for line in (run / "generations" / "copyright.jsonl").read_text().splitlines()]


def test_hf_data_parallel_on_cpu_equals_one_process(cub, tiny_memorised, tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    common = ["--model", tiny_memorised.path, "--data", tiny_memorised.all_jsonl, "--max-new-tokens", "8",
              "--quiet", "--backend", "hf"]
    assert cub("evaluate", *common, "--output-dir", tmp_path / "one")[0] == 0
    code, _, err = cub("evaluate", *common, "--output-dir", tmp_path / "two", "--data-parallel-size", "2")
    assert code == 0, err
    one = json.loads((tmp_path / "one" / "results.json").read_text())
    two = json.loads((tmp_path / "two" / "results.json").read_text())
    assert one["tasks"]["copyright"]["metrics"] == two["tasks"]["copyright"]["metrics"]
    gen = {json.loads(x)["id"]: json.loads(x)["completion"]
           for x in (tmp_path / "two" / "generations" / "copyright.jsonl").read_text().splitlines()}
    ref = {json.loads(x)["id"]: json.loads(x)["completion"]
           for x in (tmp_path / "one" / "generations" / "copyright.jsonl").read_text().splitlines()}
    assert gen == ref and len(_ids(tmp_path / "two")) == 4
    assert sorted(p.name for p in (tmp_path / "two" / "generations").iterdir()) == ["copyright.jsonl"]


@pytest.fixture
def fake_vllm_env(monkeypatch, tmp_path):
    log = tmp_path / "vllm-events.jsonl"
    monkeypatch.setenv("PYTHONPATH", str(FAKE_VLLM))
    monkeypatch.setenv("FAKE_VLLM_LOG", str(log))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")

    def events(kind):
        return [e for e in map(json.loads, log.read_text().splitlines())] if kind is None else \
            [e for e in map(json.loads, log.read_text().splitlines()) if e["event"] == kind]
    return events


def test_vllm_replicas_shard_merge_resume_and_tear_down(cub, fake_vllm_env, tiny_memorised, tmp_path):
    run = tmp_path / "run"
    common = ["--model", tiny_memorised.path, "--data", tiny_memorised.all_jsonl, "--backend", "vllm",
              "--data-parallel-size", "2", "--num-samples", "3", "--temperature", "0.8", "--quiet",
              "--output-dir", run]
    code, _, err = cub("evaluate", *common, "--limit", "2")
    assert code == 0, err
    inits = fake_vllm_env("init")
    assert sorted(e["cuda_visible"] for e in inits) == ["0", "1"]  # one GPU per replica
    assert all(e["kwargs"]["dtype"] == "bfloat16" for e in inits)
    assert len(fake_vllm_env("destroy_model_parallel")) == 2  # each replica tore its engine down
    gens = fake_vllm_env("generate")
    assert [g["n_prompts"] for g in gens] == [3, 3] and {g["pid"] for g in gens} == {e["pid"] for e in inits}
    assert sorted(_ids(run)) == ["seen-0", "seen-1"]
    # a killed replica left a finished chunk behind: it is merged, not generated again
    from code_unlearn_bench.tasks.spec import get_task

    [sample] = [s for s in get_task("copyright").load_samples(str(tiny_memorised.all_jsonl)) if s.id == "unseen-0"]
    RunStore(run).append_records("copyright.part-1", [{"id": "unseen-0", "prompt_hash": sample.prompt_hash(),
                                                       "completion": "c", "completions": ["c", "c", "c"]}])
    code, _, err = cub("evaluate", *common)
    assert code == 0, err
    later = fake_vllm_env("generate")[2:]
    assert [g["n_prompts"] for g in later] == [3]  # only unseen-1 was left; one replica got work
    assert sorted(_ids(run)) == ["seen-0", "seen-1", "unseen-0", "unseen-1"]


def test_failing_replica_is_a_one_line_error(cub, fake_vllm_env, tiny_memorised, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_VLLM_FAIL", "CUDA out of memory")
    code, _, err = cub("evaluate", "--model", tiny_memorised.path, "--data", tiny_memorised.seen_jsonl,
                       "--backend", "vllm", "--quiet", "--output-dir", tmp_path / "run")
    assert code == 2 and "replica 0 failed" in err and "CUDA out of memory" in err
