"""Two CPU processes under accelerate (torchrun + gloo: DDP, and DeepSpeed ZeRO-2/3 on its CPU
accelerator when deepspeed is installed) against one plain process with the same global batch:
same loss trajectory and final weights, also after a kill -9 mid-epoch + resume. (FSDP cannot
run here: accelerate selects it only for GPU process groups, see unlearn/engines.py.)

Tolerances: DDP averages gradients in another summation order than one process, so values
agree to float32 rounding (measured: identical losses, weights within ~1e-6; ZeRO-2/3 losses
within 2e-8 relative, weights within 3e-7); the test allows
LOSS_RTOL relative on every step loss and WEIGHT_ATOL absolute on every weight.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import torch
from safetensors.torch import load_file

LOSS_RTOL = 1e-5
WEIGHT_ATOL = 1e-5
EPOCHS = 3
SNIPPETS = ["def add(a, b):\n    return a + b\n", "import os\nprint(os.getcwd())\n",
            "class Point:\n    def __init__(self, x, y):\n        self.x = x\n        self.y = y\n",
            "for i in range(10):\n    print(i * i)\n", "x = [1, 2, 3]\ny = sum(x)\n",
            "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n", "with open('f') as fh:\n    data = fh.read()\n"]
CASES = {"prod": ("prod", []), "ga": ("ga", []), "prod-lora": ("prod", ["--lora", "--merge"])}
# plain PROD under DDP is covered by the kill/resume test (its whole trajectory and final weights
# are compared with the single process); one launch less keeps this file near two minutes
LAUNCHED = ["ga", "prod-lora"]
# DeepSpeed runs against the single-process run of the same case (its name's suffix)
ENGINES = {"zero2-ga": "zero2", "zero3-prod-lora": "zero3"}
ACCELERATE = Path(__file__).resolve().parents[2] / "configs" / "accelerate"
# 7 examples, global batch 4: the second step of an epoch is short (4 + 3), so one rank runs a
# zero-weight filler micro-batch there


def _args(model, data, out, method, accum, *extra):
    return ["unlearn", "--model", str(model), "--method", method, "--data", str(data), "--output-dir", str(out),
            "--epochs", str(EPOCHS), "--lr", "1e-3", "--grad-accum", str(accum), "--max-length", "32",
            "--device", "cpu", *extra]


def _launch(argv, engine=None, **popen):
    if engine:
        pytest.importorskip("deepspeed")
        argv = [*argv, "--accelerate-config", str(ACCELERATE / f"{engine}.yaml")]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(
        [str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, "-m", "code_unlearn_bench", *argv, "--num-processes", "2"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **popen)


@pytest.fixture(scope="module")
def world(tmp_path_factory, tiny_model_dir):
    from code_unlearn_bench.cli import main

    root = tmp_path_factory.mktemp("ddp")
    data = root / "forget.jsonl"
    data.write_text("".join(json.dumps({"task_id": f"s{i}", "content": t}) + "\n" for i, t in enumerate(SNIPPETS)))
    single = {}
    for case, (method, extra) in CASES.items():
        assert main(_args(tiny_model_dir, data, root / f"single-{case}", method, 4, *extra)) == 0
        single[case] = root / f"single-{case}"
    return root, data, single


def _run(out):
    return json.loads((out / "run.json").read_text())


def _assert_same_training(a: Path, b: Path):
    ra, rb = _run(a), _run(b)
    la = [x for e in ra["epochs"] for x in e["losses"]]
    lb = [x for e in rb["epochs"] for x in e["losses"]]
    assert len(la) == len(lb) == EPOCHS * 2
    assert lb == pytest.approx(la, rel=LOSS_RTOL)
    wa, wb = _weights(a / f"epoch-{EPOCHS:02d}"), _weights(b / f"epoch-{EPOCHS:02d}")
    assert wa.keys() == wb.keys()
    diff = max((wa[k] - wb[k]).abs().max().item() for k in wa)
    assert diff <= WEIGHT_ATOL, diff
    # and training did move the weights (the comparison is not between two untouched models)
    assert any(not torch.equal(wa[k], _weights(a / "epoch-01")[k]) for k in wa)


def _weights(ckpt: Path) -> dict:
    (f,) = [p for p in ckpt.glob("*.safetensors")]  # model.safetensors or adapter_model.safetensors
    return load_file(str(f))


@pytest.mark.parametrize("case", LAUNCHED + list(ENGINES))
def test_two_processes_match_one_with_the_same_global_batch(world, tiny_model_dir, case):
    root, data, single = world
    engine = ENGINES.get(case)
    reference = case.split("-", 1)[1] if engine else case
    method, extra = CASES[reference]
    out = root / f"launched-{case}"
    proc = _launch(_args(tiny_model_dir, data, out, method, 2, *extra), engine)
    log, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, log[-3000:]
    run = _run(out)
    assert run["distributed"] == {"strategy": engine or "ddp", "processes": 2, "global_batch": 4}
    assert log.count(f"{method}: {EPOCHS} epochs") == 1  # one voice: only the main process reports
    _assert_same_training(single[reference], out)
    if "--lora" in extra:
        _assert_lora_outputs(out)


def _assert_lora_outputs(out: Path):
    """A DDP LoRA run saves PEFT adapters that `cub evaluate`'s loader reads as such, and --merge
    a plain model with the same outputs."""
    from code_unlearn_bench.models.loading import load_model_and_tokenizer

    adapter, tok, info = load_model_and_tokenizer(str(out / f"epoch-{EPOCHS:02d}"))
    assert info.format == "peft" and info.lineage["method"] == "prod"
    merged, _, minfo = load_model_and_tokenizer(str(out / "merged"))
    assert minfo.format == "hf" and minfo.lineage["epoch"] == EPOCHS
    ids = torch.tensor([tok(SNIPPETS[0])["input_ids"]])
    with torch.no_grad():
        assert torch.allclose(adapter(input_ids=ids).logits, merged(input_ids=ids).logits, atol=1e-4)


@pytest.mark.parametrize("engine", [None, "zero3"])
def test_kill_mid_epoch_then_resume_with_two_processes(world, tiny_model_dir, engine):
    root, data, single = world
    out = root / f"killed-{engine or 'ddp'}"
    args = _args(tiny_model_dir, data, out, "slow_methods:SlowPROD", 2)
    proc = _launch(args, engine)
    deadline = time.time() + 240
    while not ((out / "run.json").exists() and _run(out)["epochs"]):
        assert proc.poll() is None and time.time() < deadline, "the run ended before its first epoch was saved"
        time.sleep(0.1)
    time.sleep(0.6)  # into epoch 2 (each micro-batch loss takes 0.4 s)
    # kill -9 the launcher and every worker (torchrun starts them in their own sessions)
    tree = psutil.Process(proc.pid).children(recursive=True) + [psutil.Process(proc.pid)]
    for p in tree:
        p.send_signal(signal.SIGKILL)
    proc.communicate()
    psutil.wait_procs(tree, timeout=30)
    run = _run(out)
    assert run["status"] == "running" and len(run["epochs"]) == 1 and not (out / "epoch-02").exists()

    args[args.index("slow_methods:SlowPROD")] = "prod"  # same run identity: resume at full speed
    proc = _launch(args, engine)
    log, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0 and "resuming" in log, log[-3000:]
    assert _run(out)["status"] == "complete"
    _assert_same_training(single["prod"], out)
