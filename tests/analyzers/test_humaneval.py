from __future__ import annotations

import json
import shutil

import pytest

from code_unlearn_bench.analyzers.base import AnalysisContext
from code_unlearn_bench.analyzers.humaneval import ANALYZER, truncate_top_level
from code_unlearn_bench.errors import CubError
from code_unlearn_bench.loaders import humaneval

needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap not installed")


def test_truncation_reference_protocol():
    stripped = 'def f():\n    """doc"""'
    comp = '\n    return 1\n\n\ndef g():\n    pass\n'
    assert truncate_top_level(comp, stripped) == "\n    return 1\n\n"
    # after a raw prompt (ends with a newline) the first line is a line of its own
    assert truncate_top_level("def g():\n    return 2\n", stripped + "\n") == ""
    assert truncate_top_level("    return 1\n# trailing comment\n", stripped + "\n") == "    return 1"
    assert truncate_top_level("    return 1\n", stripped + "\n") == "    return 1\n"


def test_refuses_without_code_execution_opt_in():
    with pytest.raises(CubError, match="--allow-code-execution"):
        ANALYZER().prepare(AnalysisContext(allow_code_execution=False))


@pytest.mark.parametrize("quiet", [True, False])
def test_quiet_silences_sandbox_fallback_notes(quiet, capsys, monkeypatch):
    """`--quiet` reaches the sandbox choice: auto's "backend unavailable, trying the next" notes
    are printed only without it."""
    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap not installed")
    from code_unlearn_bench.errors import SandboxError
    from code_unlearn_bench.sandbox import docker

    def unavailable(self, *args, **kwargs):
        raise SandboxError("no docker engine (test)")

    monkeypatch.setattr(docker.DockerSandbox, "__init__", unavailable)
    a = ANALYZER(timeout=5)
    a.prepare(AnalysisContext(allow_code_execution=True, sandbox="auto", exec_workers=1, quiet=quiet))
    err = capsys.readouterr().err
    assert ("sandbox docker unavailable" in err) is not quiet
    assert a.sandbox.describe()["backend"] != "docker"


def test_bad_options():
    with pytest.raises(CubError):
        ANALYZER(truncate="half")
    with pytest.raises(CubError):
        ANALYZER(k=[0])


@pytest.fixture(scope="module")
def prepared():
    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap not installed")
    a = ANALYZER(timeout=5)
    a.prepare(AnalysisContext(allow_code_execution=True, sandbox="bwrap", allow_unsafe_execution=False,
                              exec_workers=2, quiet=True))
    return a


def test_canonical_pass_wrong_fail_with_statuses(prepared):
    samples = humaneval.load(None, {})[:12]
    records = [{"id": s.id, "completion": s.reference} for s in samples]
    records[1] = {"id": samples[1].id, "completion": "\n    return None\n"}
    records[2] = {"id": samples[2].id, "completion": "\n    while True:\n        pass\n"}
    records[3] = {"id": samples[3].id, "completion": "\n    return x +\n"}
    scores = prepared.score(samples, records)
    assert [s["status"] for s in scores[:4]] == ["passed", "failed", "timeout", "failed"]
    assert "SyntaxError" in scores[3]["reason"]
    assert all(s["passed"] for s in scores[4:])
    out = prepared.aggregate(samples, scores)
    assert out["metrics"]["pass@1"]["value"] == pytest.approx(9 / 12, abs=1e-6)
    assert "pass@10" not in out["metrics"]  # needs >= 10 samples per problem
    assert out["breakdown"]["status_counts"] == {"failed": 2, "passed": 9, "timeout": 1}
    assert out["breakdown"]["prompt_format"] == "rstrip"
    assert prepared.protocol()["sandbox"]["backend"] == "bwrap"
    json.dumps(scores)


def test_unbiased_pass_at_k_with_samples(prepared):
    samples = humaneval.load(None, {"task_ids": ["HumanEval/0", "HumanEval/4"]})
    good = [s.reference for s in samples]
    # problem 0: 1 of 3 correct; problem 4: 3 of 3
    records = [{"id": samples[0].id, "completion": "\n    return 0\n",
                "completions": ["\n    return 0\n", good[0], "\n    return 1\n"]},
               {"id": samples[1].id, "completion": good[1], "completions": [good[1]] * 3}]
    a = ANALYZER(timeout=5, k=[1, 2, 10])
    a.sandbox, a.workers = prepared.sandbox, 2
    scores = a.score(samples, records)
    assert [(s["n"], s["c"]) for s in scores] == [(3, 1), (3, 3)], scores
    assert scores[0]["statuses"] == ["failed", "passed", "failed"]
    m = a.aggregate(samples, scores)["metrics"]
    assert m["pass@1"]["value"] == pytest.approx((1 / 3 + 1) / 2, abs=1e-6)
    assert m["pass@2"]["value"] == pytest.approx((2 / 3 + 1) / 2, abs=1e-6)  # 1 - C(2,2)/C(3,2)
    assert "pass@10" not in m


def evaluate_in_bwrap(cub, model, out, limit: int, max_new_tokens: int) -> None:
    code, _, err = cub("evaluate", "--model", model, "--tasks", "humaneval", "--limit", str(limit),
                       "--max-new-tokens", str(max_new_tokens), "--allow-code-execution", "--sandbox", "bwrap",
                       "--exec-workers", "2", "--output-dir", out, "--quiet")
    assert code == 0, err


@needs_bwrap
def test_cub_evaluate_humaneval_reports_pass_at_1_and_statuses(tiny_model_dir, cub, tmp_path):
    out = tmp_path / "he"
    evaluate_in_bwrap(cub, tiny_model_dir, out, limit=3, max_new_tokens=8)
    task = json.loads((out / "results.json").read_text())["tasks"]["humaneval"]
    assert task["primary_metric"] == "pass@1" and task["metrics"]["pass@1"]["n"] == 3
    assert sum(task["breakdown"]["status_counts"].values()) == 3
    # the time-limit rule is in results.json (canonical solutions run far below 10 s / 4 here)
    limit = task["protocol"]["time_limit"]
    assert limit["floor_s"] == 10 and limit["factor"] == 4 and limit["limits_s"]["min"] == 10
    assert "pass" in task["protocol"] and "completion token" in task["protocol"]["pass"]
    assert "health" in task
    lines = [json.loads(x) for x in (out / "generations" / "humaneval.jsonl").read_text().splitlines()]
    assert all(r["scores"]["status"] in ("passed", "failed", "timeout", "oom") and "reason" in r["scores"]
               for r in lines)


def test_cub_evaluate_humaneval_skipped_without_opt_in(tiny_model_dir, cub, tmp_path):
    out = tmp_path / "skip"
    code, _, err = cub("evaluate", "--model", tiny_model_dir, "--tasks", "humaneval", "--limit", "1",
                       "--max-new-tokens", "4", "--output-dir", out, "--quiet")
    task = json.loads((out / "results.json").read_text())["tasks"]["humaneval"]
    assert task["status"] == "skipped" and "--allow-code-execution" in task["reason"]


@needs_bwrap
def test_cub_score_fails_exit_tricks_and_passes_canonical(tiny_model_dir, cub, tmp_path):
    # the public path: saved generations replaced by exit tricks (and one canonical solution),
    # re-scored by `cub score`: os._exit(0) used to be reported as passed
    out = tmp_path / "tricks"
    evaluate_in_bwrap(cub, tiny_model_dir, out, limit=4, max_new_tokens=4)
    gen_path = out / "generations" / "humaneval.jsonl"
    records = [json.loads(x) for x in gen_path.read_text().splitlines()]
    samples = {s.id: s for s in humaneval.load(None, {})}
    # the default prompt format strips the prompt's final newline: a body starts with one
    tricks = ["\n    import os; os._exit(0)\n", "\n    import os; os.execv('/bin/true', ['true'])\n",
              "\n    import sys; sys.exit(0)\n", None]
    for rec, trick in zip(records, tricks):
        rec["completion"] = trick if trick is not None else samples[rec["id"]].reference
        rec.pop("scores", None)
    gen_path.write_text("".join(json.dumps(r) + "\n" for r in records))
    code, _, err = cub("score", "--output-dir", out, "--quiet")
    assert code == 0, err
    scored = [json.loads(x)["scores"] for x in gen_path.read_text().splitlines()]
    assert [s["status"] for s in scored] == ["failed", "failed", "failed", "passed"]
    assert all("before its tests ran to the end" in s["reason"] for s in scored[:2]), scored
    assert "exit(0)" in scored[2]["reason"]
    task = json.loads((out / "results.json").read_text())["tasks"]["humaneval"]
    assert task["metrics"]["pass@1"]["value"] == 0.25


class CountingSandbox:
    """Records the programs it is asked to run; every program passes in 0.5 s."""

    def __init__(self):
        self.calls = []

    def run(self, programs, limits, workers=None):
        from code_unlearn_bench.sandbox import ExecutionResult

        self.calls.append((list(programs), limits))
        return [ExecutionResult("passed", wall_s=0.5) for _ in programs]

    def describe(self):
        return {"backend": "counting"}


def test_scaled_limit_rule_and_cache(tmp_path):
    from code_unlearn_bench.sandbox import timing

    assert timing.scaled_limit(10.0, 4.0, 0.2) == 10.0  # fast reference: the floor
    assert timing.scaled_limit(1.0, 4.0, 0.6) == 2.4
    assert timing.scaled_limit(1.0, 4.0, None) == 1.0  # not timed: the floor
    sb = CountingSandbox()
    times, measured = timing.reference_times(["a", "b", "a"], sb, 256, 40.0, 2, tmp_path)
    assert times == [0.5, 0.5, 0.5] and measured == 2
    assert len(sb.calls[0][0]) == 2 * timing.REPEATS and sb.calls[0][1].timeout_s == 40.0
    # cached in the cache dir: a second run (another process, same machine) measures nothing
    sb2 = CountingSandbox()
    assert timing.reference_times(["b", "a"], sb2, 256, 40.0, 2, tmp_path) == ([0.5, 0.5], 0)
    assert sb2.calls == [] and (tmp_path / timing.CACHE_FILE).is_file()
    # another sandbox or memory limit is another measurement
    assert timing.reference_times(["a"], sb2, 512, 40.0, 2, tmp_path)[1] == 1


@needs_bwrap
def test_time_limit_scales_with_the_reference_runtime(tmp_path):
    from code_unlearn_bench.samples import Sample

    # a problem whose canonical solution takes ~0.6 s; a completion taking ~1.5 s is fine by the
    # scaled rule (limit max(1, 4 x 0.6) = ~2.4 s) but times out under a fixed 1 s limit
    test = "def check(candidate):\n    assert candidate() == 1\n"
    sample = Sample("slow/0", "import time\ndef f():\n", "    time.sleep(0.6)\n    return 1\n",
                    {"entry_point": "f", "test": test})
    slow_but_ok = {"id": "slow/0", "completion": "    time.sleep(1.5)\n    return 1\n"}
    statuses = {}
    for rule in ("scaled", "fixed"):
        a = ANALYZER(timeout=1, time_limit=rule, k=[1])
        a.prepare(AnalysisContext(allow_code_execution=True, sandbox="bwrap", allow_unsafe_execution=False,
                                  exec_workers=2, quiet=True, cache_dir=tmp_path))
        [score] = a.score([sample], [slow_but_ok])
        statuses[rule] = (score["status"], score["timeout_s"], a.protocol()["time_limit"])
    status, limit, protocol = statuses["scaled"]
    assert status == "passed" and 2.3 <= limit < 4, statuses
    assert protocol["floor_s"] == 1 and protocol["factor"] == 4 and protocol["limits_s"]["above_floor"] == 1
    assert protocol["rule"].startswith("max(floor_s, factor x")
    assert statuses["fixed"][:2] == ("timeout", 1.0)
    assert statuses["fixed"][2] == {"rule": "fixed", "floor_s": 1.0}
