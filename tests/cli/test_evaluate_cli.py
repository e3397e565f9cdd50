"""`cub evaluate` / `cub score` end to end on tiny real models and real data."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest


def _eval_args(model, data, out, *extra):
    return [str(a) for a in ("evaluate", "--model", model, "--tasks", "copyright", "--data", data,
                             "--output-dir", out, "--max-new-tokens", "128", "--quiet", *extra)]


@pytest.fixture(scope="module")
def memorised_run(tiny_memorised, tmp_path_factory):
    from code_unlearn_bench.cli import main

    out = tmp_path_factory.mktemp("run") / "mem"
    assert main(_eval_args(tiny_memorised.path, tiny_memorised.all_jsonl, out)) == 0
    return out


def test_memorised_files_score_near_zero_unseen_near_one(memorised_run):
    records = [json.loads(line) for line in (memorised_run / "generations" / "copyright.jsonl").read_text().splitlines()]
    fq = {r["id"]: r["scores"]["forget_quality"] for r in records}
    assert fq["seen-0"] < 0.2 and fq["seen-1"] < 0.2, fq
    assert fq["unseen-0"] > 0.8 and fq["unseen-1"] > 0.8, fq


def test_results_json_schema_fields(memorised_run):
    from code_unlearn_bench.results import validate_results

    results = json.loads((memorised_run / "results.json").read_text())
    validate_results(results)
    task = results["tasks"]["copyright"]
    assert task["task"]["n"] == 4 and task["task"]["data_hash"].startswith("sha256:")
    assert task["protocol"]["bleu"] == "reference"
    fq = task["metrics"]["forget_quality"]
    assert fq["n"] == 4 and fq["ci95"][0] <= fq["value"] <= fq["ci95"][1]
    assert results["model"]["fingerprint"].startswith("sha256:")
    assert results["environment"]["packages"]["sacrebleu"]
    assert "health" in task


def test_score_reproduces_results_bit_for_bit(memorised_run, cub):
    before = (memorised_run / "results.json").read_bytes()
    (memorised_run / "results.json").unlink()
    code, out, err = cub("score", "--output-dir", memorised_run, "--quiet")
    assert code == 0, err
    assert (memorised_run / "results.json").read_bytes() == before


def test_rerun_is_a_no_op_resume_and_changed_config_is_refused(memorised_run, tiny_memorised, cub):
    before = (memorised_run / "generations" / "copyright.jsonl").read_text()
    code, _, err = cub(*_eval_args(tiny_memorised.path, tiny_memorised.all_jsonl, memorised_run))
    assert code == 0, err
    assert (memorised_run / "generations" / "copyright.jsonl").read_text() == before
    code, _, err = cub(*_eval_args(tiny_memorised.path, tiny_memorised.all_jsonl, memorised_run, "--seed", "7"))
    assert code == 2 and "different config" in err and "--overwrite" in err


def _wait_for_records(path, n, proc, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.exists() and len(path.read_text().splitlines()) >= n:
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.05)
    return False


def test_kill_9_mid_run_then_resume_gives_same_scores(tiny_memorised, memorised_run, tmp_path):
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "code_unlearn_bench",
           *_eval_args(tiny_memorised.path, tiny_memorised.all_jsonl, out, "--batch-size", "1")]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=os.environ.copy())
    gen = out / "generations" / "copyright.jsonl"
    assert _wait_for_records(gen, 1, proc), proc.stderr.read().decode() if proc.poll() is not None else "timeout"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = len(gen.read_text().splitlines())
    assert 1 <= partial < 4, "the run must have been killed mid-way"
    assert subprocess.run(cmd, capture_output=True).returncode == 0
    ids = [json.loads(line)["id"] for line in gen.read_text().splitlines()]
    assert sorted(ids) == sorted(set(ids)) and len(ids) == 4
    resumed = json.loads((out / "results.json").read_text())["tasks"]["copyright"]["metrics"]
    straight = json.loads((memorised_run / "results.json").read_text())["tasks"]["copyright"]["metrics"]
    assert resumed == straight


def _one_line_error(result, *needles):
    code, _, err = result
    assert code == 2
    lines = [line for line in err.strip().splitlines() if line]
    assert len(lines) == 1, err
    assert lines[0].startswith("cub: error:") or lines[0].startswith("cub evaluate: error:"), err
    assert "Traceback" not in err
    for n in needles:
        assert n in lines[0], err


def test_bad_inputs_give_one_line_errors(cub, tiny_model_dir, tmp_path):
    _one_line_error(cub("evaluate", "--model", tmp_path / "missing", "--output-dir", tmp_path / "o"),
                    "does not exist")
    _one_line_error(cub("evaluate", "--model", tiny_model_dir, "--tasks", "copyrigth", "--output-dir", tmp_path / "o"),
                    "unknown task 'copyrigth'", "did you mean 'copyright'")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"task_id": 1, "content": "x"\n')
    _one_line_error(cub("evaluate", "--model", tiny_model_dir, "--data", bad, "--output-dir", tmp_path / "o"),
                    "not valid JSON")
    _one_line_error(cub("evaluate", "--model", tiny_model_dir, "--data", tmp_path / "nothere.jsonl",
                         "--output-dir", tmp_path / "o"), "does not exist")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if os.geteuid() != 0:  # root ignores directory permissions
            _one_line_error(cub("evaluate", "--model", tiny_model_dir, "--output-dir", ro / "x"), "not writable")
        blocker = tmp_path / "file"
        blocker.write_text("")
        _one_line_error(cub("evaluate", "--model", tiny_model_dir, "--output-dir", blocker / "x"), "not writable")
    finally:
        ro.chmod(0o700)
    _one_line_error(cub("evaluate", "--model", tiny_model_dir, "--limit", "0", "--output-dir", tmp_path / "o"),
                    "--limit")
    _one_line_error(cub("evaluate", "--model", tiny_model_dir, "--task-option", "protocl=x",
                         "--output-dir", tmp_path / "o"), "no option 'protocl'", "did you mean 'protocol'")
    _one_line_error(cub("evaluate", "--model", tiny_model_dir, "--batch-size", "abc"), "invalid int value")
    _one_line_error(cub("evalute"), "did you mean 'evaluate'")


def test_cyberseceval_protocol_option_is_recorded(tiny_memorised, tmp_path, cub):
    code, _, err = cub(*_eval_args(tiny_memorised.path, tiny_memorised.seen_jsonl, tmp_path / "cse",
                                   "--task-option", "protocol=cyberseceval"))
    assert code == 0, err
    task = json.loads((tmp_path / "cse" / "results.json").read_text())["tasks"]["copyright"]
    assert task["protocol"]["bleu"] == "cyberseceval"
    assert task["metrics"]["forget_quality"]["value"] < 0.3


def test_tasks_lists_registry_with_sizes(cub):
    code, out, err = cub("tasks", "--json")
    assert code == 0, err
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["copyright"]["size"] == "20" and rows["copyright"]["metric"] == "forget_quality"


def test_pass_at_k_at_temperature_zero_is_refused_with_a_hint(cub, tiny_model_dir, tmp_path):
    # N greedy samples are N copies of one: pass@N would silently equal pass@1
    _one_line_error(cub("evaluate", "--model", tiny_model_dir, "--tasks", "humaneval", "--num-samples", "5",
                        "--output-dir", tmp_path / "o"), "--num-samples 5 at temperature 0", "--temperature 0.8",
                    "--top-p 0.95", "Codex")
    _one_line_error(cub("evaluate", "--model", tiny_model_dir, "--num-samples", "2", "--temperature", "0.8",
                        "--top-p", "1.5", "--output-dir", tmp_path / "o"), "--top-p must be in (0, 1]")
    from code_unlearn_bench.config import EvalConfig
    from code_unlearn_bench.evaluation.prepare import prepare_task
    from code_unlearn_bench.tasks.spec import get_task

    cfg = EvalConfig(tasks=["humaneval"], num_samples=5, temperature=0.8, top_p=0.95)
    cfg.validate()
    record = prepare_task(get_task("humaneval"), cfg).record
    assert (record["num_samples"], record["temperature"], record["top_p"]) == (5, 0.8, 0.95)


def test_resumed_run_lists_every_session(cub, tiny_memorised, tmp_path):
    out = tmp_path / "resumed"
    args = _eval_args(tiny_memorised.path, tiny_memorised.all_jsonl, out)
    assert cub(*args, "--limit", "1", "--batch-size", "1")[0] == 0  # first session: 1 of 4 samples
    assert cub(*args, "--batch-size", "2", "--device", "cpu")[0] == 0  # resumed: the other 3
    results = json.loads((out / "results.json").read_text())
    sessions = results["sessions"]
    assert [(s["batch_size"], s["samples_generated"], s["backend"], s["device"]) for s in sessions] == \
        [(1, 1, "hf", "cpu"), (2, 3, "hf", "cpu")]
    assert all(s["start"] <= s["end"] for s in sessions) and sessions[0]["end"] <= sessions[1]["start"]
    assert sessions[1]["versions"]["code-unlearn-bench"] and sessions[1]["versions"]["python"]
    # re-scoring is not a session, and a run with nothing left to generate records one that generated 0
    assert cub("score", "--output-dir", out, "--quiet")[0] == 0
    assert json.loads((out / "results.json").read_text())["sessions"] == sessions
    assert cub(*args)[0] == 0
    assert [s["samples_generated"] for s in json.loads((out / "results.json").read_text())["sessions"]] == [1, 3, 0]
