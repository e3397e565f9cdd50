"""The engine checks of scripts/gpu_check.py: the library's trainer under `accelerate launch` with
ONE process (the borrowed machine has one GPU) and each configs/accelerate/ engine, full and
LoRA: two epochs, the process killed once epoch 1 is saved, then a resume to epoch 2 from what
the engine saved, the last checkpoint reloaded through the hf backend, all against the same two
epochs run straight in a plain process.

The launched program is this file (`--engine-run`), which calls unlearn.trainer.train.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

CONFIGS = {"fsdp": "configs/accelerate/fsdp.yaml", "zero2": "configs/accelerate/zero2.yaml",
           "zero3": "configs/accelerate/zero3.yaml"}
# Step losses and the reloaded checkpoint's NLL, relative to the plain run: the plain path
# resumes exactly; the engines compute in bf16 weights where the plain run autocasts fp32 ones.
TOLERANCE = {"single": 1e-3, "fsdp": 5e-2, "zero2": 5e-2, "zero3": 5e-2}


class EngineFailed(Exception):
    pass


def train_kwargs(ctx, lora: bool, epochs: int, out: Path) -> dict:
    from gpu_checks import sizes

    s = sizes(ctx)
    return {"model": str(Path(ctx["out"]) / "tiny"), "task": "copyright", "output_dir": str(out), "method": "prod",
            "epochs": epochs, "lr": 1e-3, "grad_accum": 2, "max_length": 256, "limit": s["files"],
            "task_options": {"max_chars": s["chars"]}, "lora": lora, "precision": "bf16",
            "device": "cpu" if ctx["device"] == "cpu" else None}


def engine_run(kwargs: dict) -> None:
    """In the launched process: one training run through the library's trainer; with
    ``stop_after`` the process dies right after that epoch is saved, as a crash would (a run
    that completes drops its resume state, so only an interrupted one can be resumed)."""
    from code_unlearn_bench.unlearn.methods import get_method
    from code_unlearn_bench.config import TrainConfig
    from code_unlearn_bench.unlearn.trainer import train

    stop_after = kwargs.pop("stop_after", None)

    def on_epoch(entry: dict) -> None:
        if entry["epoch"] == stop_after:
            sys.stdout.flush()
            os._exit(0)

    train(TrainConfig(**kwargs), get_method(kwargs["method"])(), on_epoch=on_epoch)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(cmd: list[str], log: Path, repo: str) -> float:
    t0 = time.perf_counter()
    with open(log, "w") as fh:
        code = subprocess.call(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=repo)
    if code:
        from gpu_check import last_line

        raise EngineFailed(f"{log.name}: exit {code}: {last_line(log)}")
    return time.perf_counter() - t0


def launch(ctx, engine: str, kwargs: dict, log: Path) -> float:
    """`accelerate launch --num_processes 1` with the engine's config file (none for "single")."""
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "1",
           "--main_process_port", str(_free_port())]
    if engine in CONFIGS:
        cmd += ["--config_file", str(Path(ctx["repo"]) / CONFIGS[engine])]
    else:
        cmd += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    return _run(cmd + [str(Path(__file__).resolve()), "--engine-run", json.dumps(kwargs)], log, ctx["repo"])


def reference(ctx, lora: bool) -> dict:
    """The same two epochs in one plain process (no launcher); shared by every engine check."""
    out = Path(ctx["out"]) / f"reference-{'lora' if lora else 'full'}"
    kwargs = train_kwargs(ctx, lora, 2, out)
    _run([sys.executable, str(Path(__file__).resolve()), "--engine-run", json.dumps(kwargs)],
         Path(ctx["out"]) / f"{out.name}.log", ctx["repo"])  # a complete run returns at once
    return json.loads((out / "run.json").read_text())


def losses(run: dict) -> list[float]:
    return [x for e in run["epochs"] for x in e["losses"]]


def checkpoint_nll(ctx, path: Path) -> float:
    from code_unlearn_bench.models.hf import HFBackend

    texts = json.loads((Path(ctx["out"]) / "tiny" / "gpu_check_texts.json").read_text())["memorised"]
    backend = HFBackend(str(path), dtype="float32", device=ctx["device"])
    lls = backend.loglikelihood([("", t) for t in texts], batch_size=8)
    backend.close()
    return -sum(sum(x) for x in lls) / sum(len(x) for x in lls)


def engine_check(ctx, engine: str, lora: bool) -> dict:
    if engine.startswith("zero") and importlib.util.find_spec("deepspeed") is None:
        return {"status": "skipped", "reason": "deepspeed is not importable here (carry a wheel: docs/scaling.md)"}
    try:
        return _engine_check(ctx, engine, lora)
    except EngineFailed as exc:
        if ctx["device"] == "cpu" and engine != "single":
            return {"status": "skipped", "reason": f"{engine} does not run on CPU here: {exc}"}
        return {"status": "fail", "reason": str(exc)}


def _engine_check(ctx, engine: str, lora: bool) -> dict:
    ref = reference(ctx, lora)
    out = Path(ctx["out"]) / ctx["name"]
    shutil.rmtree(out, ignore_errors=True)
    t1 = launch(ctx, engine, {**train_kwargs(ctx, lora, 2, out), "stop_after": 1},
                Path(ctx["out"]) / f"{ctx['name']}-epoch1.log")
    saved = sorted(p.name for p in (out / "resume").iterdir()) if (out / "resume").is_dir() else []
    t2 = launch(ctx, engine, train_kwargs(ctx, lora, 2, out), Path(ctx["out"]) / f"{ctx['name']}-resume.log")
    run = json.loads((out / "run.json").read_text())
    strategy = run["distributed"]["strategy"]
    if strategy != engine:
        raise EngineFailed(f"accelerate ran '{strategy}', not '{engine}'")
    got, want = losses(run), losses(ref)
    if len(got) != len(want) or None in got:
        raise EngineFailed(f"step losses {got} vs the plain run's {want}")
    loss_diff = max(abs(a - b) / max(abs(b), 1e-6) for a, b in zip(got, want))
    nll, nll_ref = checkpoint_nll(ctx, out / "epoch-02"), checkpoint_nll(ctx, Path(ctx["out"]) / "reference-"
                                                                         f"{'lora' if lora else 'full'}" / "epoch-02")
    nll_base = checkpoint_nll(ctx, Path(ctx["out"]) / "tiny")
    tol = TOLERANCE[engine]
    figures = {"strategy": strategy, "loss_rel_diff": round(loss_diff, 6), "nll_reloaded": round(nll, 4),
               "nll_plain": round(nll_ref, 4), "nll_base": round(nll_base, 4), "resume_saved": "+".join(saved),
               "launch_s": round(t1 + t2, 1)}
    ok = loss_diff <= tol and abs(nll - nll_ref) <= tol * abs(nll_ref) and abs(nll - nll_base) > 1e-3 * abs(nll_base)
    return {"status": "pass" if ok else "fail", "figures": figures,
            "reason": "" if ok else f"losses / reloaded NLL differ from the plain run by more than {tol:g} "
                                    f"(relative), or training left the model unchanged"}


# The checks gpu_check.py names, one per engine and layout (each takes the check's context).
single = partial(engine_check, engine="single", lora=False)
fsdp_full = partial(engine_check, engine="fsdp", lora=False)
fsdp_lora = partial(engine_check, engine="fsdp", lora=True)
zero2_full = partial(engine_check, engine="zero2", lora=False)
zero2_lora = partial(engine_check, engine="zero2", lora=True)
zero3_full = partial(engine_check, engine="zero3", lora=False)
zero3_lora = partial(engine_check, engine="zero3", lora=True)


if __name__ == "__main__" and sys.argv[1:2] == ["--engine-run"]:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    engine_run(json.loads(sys.argv[2]))
