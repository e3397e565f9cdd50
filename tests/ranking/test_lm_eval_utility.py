"""`cub rank --utility-results`: results files the real lm_eval package writes here, from a tiny
local task (a task YAML over a local JSONL, no hub) on two tiny local models."""

import json
import os

import pytest

from code_unlearn_bench.ranking import lm_eval_utility, synthetic

lm_eval = pytest.importorskip("lm_eval")

TASK_YAML = """\
task: cub_tiny
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: multiple_choice
doc_to_text: "{{{{prompt}}}}"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: "{{{{answer}}}}"
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
metadata:
  version: 1.0
"""
DOCS = [{"prompt": "def add(a, b):\n    return", "choices": [" a + b", " a - b"], "answer": 0},
        {"prompt": "import", "choices": [" os", " 123"], "answer": 0},
        {"prompt": "for i in", "choices": [" range(10):", " ))(("], "answer": 0},
        {"prompt": "class Point", "choices": [":", " = = ="], "answer": 0}]


@pytest.fixture(scope="module")
def harness(tmp_path_factory, tiny_model_dir):
    """lm-eval results (written as `lm_eval --output_path` writes them) for two tiny models."""
    from lm_eval.loggers import EvaluationTracker
    from lm_eval.tasks import TaskManager

    from code_unlearn_bench.models import tiny

    root = tmp_path_factory.mktemp("lm_eval")
    second = tiny.make_tiny_model_dir(root / "model-b", hidden=32, layers=2, seed=1)
    (root / "tasks").mkdir()
    (root / "tasks" / "docs.jsonl").write_text("".join(json.dumps(d) + "\n" for d in DOCS))
    (root / "tasks" / "cub_tiny.yaml").write_text(TASK_YAML.format(data=root / "tasks" / "docs.jsonl"))
    saved = {k: os.environ.get(k) for k in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE")}
    os.environ.update(HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1")  # no hub access, ever
    try:
        # only the local task is indexed (the built-in task index costs ~20 s to build)
        manager = TaskManager(include_path=str(root / "tasks"), include_defaults=False)
        # the second run without bootstrap: lm-eval then writes its stderr as "N/A"
        for model, bootstrap in ((tiny_model_dir, 1000), (second, 0)):
            tracker = EvaluationTracker(output_path=str(root / "out"))
            res = lm_eval.simple_evaluate(model="hf", model_args=f"pretrained={model},dtype=float32",
                                          tasks=["cub_tiny"], task_manager=manager, device="cpu", batch_size=1,
                                          bootstrap_iters=bootstrap, evaluation_tracker=tracker, log_samples=False)
            tracker.save_results_aggregated(results=res, samples=None)
    finally:
        for k, v in saved.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    docs = [json.loads(f.read_text()) for f in (root / "out").rglob("results_*.json")]
    files = {lm_eval_utility.model_of(doc): doc for doc in docs}
    return root, [str(tiny_model_dir), str(second)], files


def cub_run(root, name, model_path, forget):
    doc = synthetic.results(name, {"copyright": forget})
    doc["model"]["path"] = str(model_path)
    return synthetic.write_run(root / "runs" / name, doc)


def test_rank_on_an_lm_eval_metric(cub, harness, tmp_path):
    root, models, files = harness
    assert len(files) == 2
    a = cub_run(tmp_path, "a", models[0], 0.6)
    b = cub_run(tmp_path, "b", models[1], 0.4)
    lost = cub_run(tmp_path, "never-run-by-lm-eval", "/models/x", 0.5)
    code, out, err = cub("rank", a, b, lost, "--utility-results", f"{root / 'out'}:cub_tiny:acc", "--format", "json")
    assert code == 0, err
    [ranking] = json.loads(out)["rankings"]
    assert ranking["utility_task"] == "lm_eval:cub_tiny" and ranking["utility_metric"] == "acc"
    rows = {r["model"]: r for r in ranking["models"]}
    for name, model in (("a", models[0]), ("b", models[1])):
        entry = files[model]["results"]["cub_tiny"]
        assert rows[name]["utility"] == pytest.approx(entry["acc,none"]) and rows[name]["in_pool"]
    entry = files[models[0]]["results"]["cub_tiny"]
    half = 1.96 * entry["acc_stderr,none"]
    assert [rows["a"]["utility_ci_low"], rows["a"]["utility_ci_high"]] == \
        pytest.approx([entry["acc,none"] - half, entry["acc,none"] + half], abs=1e-5)
    assert files[models[1]]["results"]["cub_tiny"]["acc_stderr,none"] == "N/A"
    assert rows["b"]["utility_ci_low"] is None  # no stderr, no CI (NaN -> null in JSON)
    # a model lm-eval never ran is reported, not dropped; PDR ranks the two scored models
    assert rows["never-run-by-lm-eval"]["missing"] == "no 'lm_eval:cub_tiny' result"
    ua, ub = rows["a"]["utility"], rows["b"]["utility"]
    assert rows["a"]["pdr"] == (1.0 if ua >= ub else 0.0)


def test_mapping_file_and_errors(cub, harness, tmp_path):
    root, models, files = harness
    # the cub run's model lives elsewhere (e.g. copied): the mapping joins lm-eval's path to the run
    c = cub_run(tmp_path, "c", "/elsewhere/model-b", 0.5)
    d = cub_run(tmp_path, "d", models[0], 0.7)
    mapping = tmp_path / "map.json"
    mapping.write_text(json.dumps({models[1]: str(c)}))
    spec = f"{root / 'out'}:cub_tiny:acc"
    code, out, err = cub("rank", c, d, "--utility-results", spec, "--utility-map", mapping, "--format", "json")
    assert code == 0, err
    ranking = json.loads(out)["rankings"][0]
    rows = {r["model"]: r for r in ranking["models"]}
    assert rows["c"]["utility"] == pytest.approx(files[models[1]]["results"]["cub_tiny"]["acc,none"])
    for bad, message in ((f"{root / 'out'}:cub_tiny", "expects PATH:TASK:METRIC"),
                         (f"{root / 'out'}:cub_tiny:f1", "has no metric 'f1,none' (it has acc,none)"),
                         (f"{root / 'out'}:mmlu:acc", "no lm-eval result for task 'mmlu'"),
                         (f"{tmp_path / 'nope'}:cub_tiny:acc", "no such file or folder")):
        code, _, err = cub("rank", c, d, "--utility-results", bad)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
