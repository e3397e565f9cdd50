"""The run path with a model the caller built: a backend handed in, generated records saved per
sample, scored once, and a resumed run that never touches the backend again."""

from __future__ import annotations

import pytest

from code_unlearn_bench.config import EvalConfig
from code_unlearn_bench.models.base import Backend, ModelInfo
from code_unlearn_bench.models.handle import ModelHandle
from code_unlearn_bench.evaluation.prepare import prepare_tasks
from code_unlearn_bench.results import RESULTS_FILE, environment_info, envelope, now_iso, schema_errors
from code_unlearn_bench.jsonio import hash_json
from code_unlearn_bench.evaluation.runner import run_tasks
from code_unlearn_bench.store import RunStore


class AnswerBackend(Backend):
    """Answers every prompt with its reference when it knows it, else with "nothing"."""

    name = "answers"

    def __init__(self, answers: dict[str, str]):
        super().__init__(ModelInfo("answers", "-", "answers", "hf", "sha256:" + "0" * 64), tokenizer=None)
        self.answers, self.calls = answers, []

    def generate(self, prompts, settings, batch_size=8, seeds=None):
        self.calls.append((len(prompts), settings))
        return [self.answers.get(p, "nothing") for p in prompts]


class Untouchable:
    tokenizer = None

    @property
    def backend(self):
        raise AssertionError("a fully generated run must not build the backend")


@pytest.fixture
def setup(tmp_path):
    config = EvalConfig(model="-", tasks=["deprecated"], output_dir=str(tmp_path), limit=4, batch_size=3)
    prepared = prepare_tasks(config)
    [pt] = prepared
    assert pt.generation.max_new_tokens == 16 and pt.generation.stop == ("\n",) and pt.num_samples == 1
    assert pt.analyzer.name == "deprecated_api"  # built once, at preparation
    store = RunStore(tmp_path)
    manifest = store.open({"test": 1}, overwrite=False)
    manifest["created_at"] = now_iso()
    return config, prepared, store, manifest


def test_run_tasks_with_a_handed_in_backend(setup):
    config, prepared, store, manifest = setup
    pt = prepared[0]
    answers = {s.prompt: s.reference for s in pt.samples[:2]}  # two of four samples answered right
    backend = AnswerBackend(answers)
    results = run_tasks(store, manifest, prepared, ModelHandle.from_backend(backend), config)
    assert [n for n, _ in backend.calls] == [3, 1]  # batch_size 3, settings from the prepared task
    assert backend.calls[0][1] == pt.generation
    task = results["deprecated"]
    assert task["status"] == "completed" and task["task"]["n"] == 4
    assert task["generation"]["max_new_tokens"] == 16 and "health" in task
    from code_unlearn_bench.analyzers.deprecated import exact_match

    expected = [exact_match(answers.get(s.prompt, "nothing"), s.reference) for s in pt.samples]
    by_id = {r["id"]: r["scores"]["exact_match"] for r in store.read_records("deprecated")}
    assert [by_id[s.id] for s in pt.samples] == expected and sum(expected) >= 1

    # resumed: every record is saved, so the backend is never built, and the scores are the same
    again = run_tasks(store, manifest, prepared, Untouchable(), config)
    assert again["deprecated"]["metrics"] == task["metrics"]

    doc = envelope("evaluate", manifest={**manifest, "environment": environment_info()}, model=backend.info.to_json(),
                   config=config.to_json(), config_hash=config.identity_hash(), seed=config.seed, tasks=again)
    assert schema_errors(doc) == [] and store.results_path.name == RESULTS_FILE


def test_hash_json_is_canonical():
    assert hash_json({"a": 1, "b": [1, 2]}) == hash_json({"b": [1, 2], "a": 1})
    assert hash_json({"a": 1}).startswith("sha256:") and hash_json({"a": 1}) != hash_json({"a": 2})
