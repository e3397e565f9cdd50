"""One GPU check for the borrowed H200 (issue 20): every check in its own child process with its
own time limit, every verdict (pass / fail / skipped + reason, figures, wall time) in one JSON
file, and the whole table printed at the end, whatever happened.

    python3 scripts/gpu_check.py [--out DIR] [--only a,b] [--budget 460]
    python3 scripts/gpu_check.py --device cpu --tiny     # dry run: the same code on CPU, small shapes

Exit 0: every check that ran passed; 1: a check failed; 2: nothing could run (no CUDA, say).
Only the standard library and rich are imported here, so the table comes out even when torch or
the package cannot be imported. Checks: scripts/gpu_checks.py (hf parity, 7B-shaped steps) and
scripts/gpu_check_engines.py (FSDP / ZeRO through accelerate); commands: docs/scaling.md.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


@dataclass(frozen=True)
class Check:
    name: str
    target: str  # what passing means, shown in the table
    func: str  # "module:function" in scripts/, called in a child process with the context dict
    timeout: int  # seconds on the GPU; the dry run gets the same
    needs: tuple[str, ...] = ()  # checks whose pass this one depends on (their artefacts)


CHECKS = (
    Check("tiny-model", "a memorising tiny Llama trained here (final loss < 1.0)", "gpu_checks:build_tiny", 90),
    Check("hf-parity", "GPU bf16 vs CPU fp32: greedy tokens >= 90% equal; |NLL diff| <= max(0.02, 2%)",
          "gpu_checks:hf_parity", 90, ("tiny-model",)),
    Check("step-full-7b", "one full fine-tune step: max_memory_allocated within 10% of the plan",
          "gpu_checks:step_full", 150),
    Check("step-lora-7b", "one LoRA + checkpointing step: max_memory_allocated within 10% of the plan",
          "gpu_checks:step_lora", 100),
    Check("prod-vs-ga-7b", "LoRA + checkpointing: PROD <= 1.1x GA in step time and peak memory",
          "gpu_checks:prod_vs_ga", 120),
    Check("resume-single", "1 process, no engine: epoch 1 + resume = 2 epochs straight; reload",
          "gpu_check_engines:single", 120, ("tiny-model",)),
    Check("fsdp-full", "FSDP, 1 process, full: runs as fsdp, resume, reload, losses ~ single",
          "gpu_check_engines:fsdp_full", 120, ("tiny-model",)),
    Check("fsdp-lora", "FSDP, 1 process, LoRA: runs as fsdp, resume, reload, losses ~ single",
          "gpu_check_engines:fsdp_lora", 120, ("tiny-model",)),
    Check("zero2-full", "ZeRO-2 (if deepspeed), full: resume, reload, losses ~ single",
          "gpu_check_engines:zero2_full", 120, ("tiny-model",)),
    Check("zero2-lora", "ZeRO-2 (if deepspeed), LoRA: resume, reload, losses ~ single",
          "gpu_check_engines:zero2_lora", 120, ("tiny-model",)),
    Check("zero3-full", "ZeRO-3 (if deepspeed), full: resume, reload, losses ~ single",
          "gpu_check_engines:zero3_full", 120, ("tiny-model",)),
    Check("zero3-lora", "ZeRO-3 (if deepspeed), LoRA: resume, reload, losses ~ single",
          "gpu_check_engines:zero3_lora", 120, ("tiny-model",)),
)
STATUSES = ("pass", "fail", "skipped")


@dataclass
class Verdict:
    name: str
    status: str
    reason: str = ""
    target: str = ""
    figures: dict = field(default_factory=dict)
    wall_s: float = 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--tiny", action="store_true", help="small shapes (the dry run on CPU)")
    parser.add_argument("--out", help="work dir; verdicts in OUT/gpu-check.json (default: a temp dir)")
    parser.add_argument("--only", help="comma-separated check names")
    parser.add_argument("--budget", type=float, default=460.0, help="seconds for all checks together")
    parser.add_argument("--timeout-scale", type=float, default=None,
                        help="multiply every time limit and the budget (default 1; 4 with --device cpu)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--func", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    out = Path(args.out or tempfile.mkdtemp(prefix="cub-gpu-check-")).resolve()
    out.mkdir(parents=True, exist_ok=True)
    if args.child:
        return run_child(args.child, args.func, out, args.device, args.tiny)
    checks = select(args.only)
    if checks is None:
        print(f"gpu-check: error: unknown check in --only (known: {', '.join(c.name for c in CHECKS)})",
              file=sys.stderr)
        return 2
    # a CPU dry run on a shared 2-core machine runs several times slower than the H200
    scale = args.timeout_scale or (4.0 if args.device == "cpu" else 1.0)
    started = time.monotonic()
    done: dict[str, Verdict] = {}
    # a SIGTERM (a caller's time limit) still gets the table of what ran
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        run_all(checks, out, args.device, args.tiny, args.budget * scale, started, scale, done)
    except KeyboardInterrupt:
        pass
    verdicts = [done.get(c.name) or Verdict(c.name, "skipped", "the harness was interrupted before it finished", c.target)
                for c in checks]
    total = time.monotonic() - started
    write_json(out / "gpu-check.json", verdicts, args, total)
    print_table(verdicts, total, out / "gpu-check.json")
    return exit_code(verdicts)


def select(only: str | None) -> tuple[Check, ...] | None:
    if not only:
        return CHECKS
    names = {n.strip() for n in only.split(",") if n.strip()}
    known = {c.name: c for c in CHECKS}
    if any(n not in known for n in names):
        return None
    names |= {need for n in names for need in known[n].needs}  # what they build comes first
    return tuple(c for c in CHECKS if c.name in names)


def environment_problem(device: str) -> str | None:
    """Why nothing can run here (no CUDA, no torch, no package), or None. One child process so
    that a broken torch never takes the harness down."""
    probe = ("import torch, code_unlearn_bench, code_unlearn_bench.tasks, transformers, accelerate, peft\n"
             "import os, sys\n"
             "pkg = os.path.realpath(code_unlearn_bench.__file__)\n"
             f"if not pkg.startswith({str(REPO) + os.sep!r}):\n"
             "    sys.exit(f'code_unlearn_bench comes from {pkg}, not this working tree (use scripts/gpu-check.sh)')\n"
             f"if {device!r} == 'cuda' and not torch.cuda.is_available():\n"
             "    sys.exit(f'no CUDA device visible (torch {torch.__version__}, CUDA build {torch.version.cuda})')\n")
    try:
        # not from the repo root, whose unmapped code_unlearn_bench/ would shadow the package
        proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                              env=child_env(), cwd=tempfile.gettempdir())
    except subprocess.TimeoutExpired:
        return "importing torch took over 120 s"
    if proc.returncode:
        lines = (proc.stderr or "").strip().splitlines()
        return lines[-1] if lines else f"probe exited {proc.returncode}"
    return None


def run_all(checks, out: Path, device: str, tiny: bool, budget: float, started: float,
            scale: float = 1.0, verdicts: dict[str, Verdict] | None = None) -> list[Verdict]:
    """Every check's verdict, in order; ``verdicts`` fills as they come (for an interrupted run)."""
    verdicts = {} if verdicts is None else verdicts
    problem = environment_problem(device)
    if problem:
        verdicts.update({c.name: Verdict(c.name, "skipped", f"nothing can run: {problem}", c.target) for c in checks})
        return list(verdicts.values())
    for check in checks:
        missing = [n for n in check.needs if n in verdicts and verdicts[n].status != "pass"]
        left = budget - (time.monotonic() - started)
        if missing:
            verdicts[check.name] = Verdict(check.name, "skipped", f"needs {', '.join(missing)}, which did not pass",
                                           check.target)
        elif left < 10:
            verdicts[check.name] = Verdict(check.name, "skipped", f"the harness budget of {budget:.0f} s is spent",
                                           check.target)
        else:
            verdicts[check.name] = run_one(check, out, device, tiny, min(check.timeout * scale, left))
        v = verdicts[check.name]
        print(f"gpu-check: {v.name}: {v.status} ({v.wall_s:.1f} s) {v.reason}", file=sys.stderr, flush=True)
    return list(verdicts.values())


def child_env(out: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    if out is not None:  # fingerprint and model caches stay in the work dir
        env.setdefault("CUB_CACHE_DIR", str(out / "cache"))
    # scripts/ for the check modules; the repo so that `python3 scripts/...` works from anywhere
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE), env.get("PYTHONPATH", "")) if p)
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    return env


def run_one(check: Check, out: Path, device: str, tiny: bool, timeout: float) -> Verdict:
    result = out / f"{check.name}.verdict.json"
    result.unlink(missing_ok=True)
    log = out / f"{check.name}.log"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", check.name, "--func", check.func,
           "--out", str(out), "--device", device] + (["--tiny"] if tiny else [])
    t0 = time.monotonic()
    with open(log, "w") as fh:
        # its own session, so a timeout kills the check's whole process tree (launchers, workers)
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=child_env(out), cwd=REPO,
                                start_new_session=True)
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()
            code = None
        except KeyboardInterrupt:  # never leave a check running behind the harness
            os.killpg(proc.pid, 9)
            raise
    wall = round(time.monotonic() - t0, 1)
    if code is None:
        where = newest_log(out, check.name)
        return Verdict(check.name, "fail", f"timed out after {timeout:.0f} s (in {where.name}: {last_line(where)})",
                       check.target,
                       wall_s=wall)
    if result.is_file():
        data = json.loads(result.read_text())
        return Verdict(check.name, data["status"], data.get("reason", ""), check.target, data.get("figures", {}), wall)
    return Verdict(check.name, "fail", f"crashed (exit {code}): {last_line(log)}", check.target, wall_s=wall)


def last_line(log: Path) -> str:
    """The last informative line of a log (an exception's message, usually; torchrun's own
    ChildFailedError says nothing about the cause)."""
    lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()] if log.is_file() else []
    errors = [ln for ln in lines if ("Error" in ln or "error:" in ln) and "ChildFailedError" not in ln]
    return ((errors or lines or ["no output"])[-1])[:300]


def newest_log(out: Path, name: str) -> Path:
    """The log a check wrote last (its launched runs write their own)."""
    logs = sorted(out.glob(f"{name}*.log"), key=lambda p: p.stat().st_mtime)
    return logs[-1] if logs else out / f"{name}.log"


def run_child(name: str, func_spec: str, out: Path, device: str, tiny: bool) -> int:
    """In the child: run one check's function, write its verdict."""
    import importlib

    module, func = func_spec.split(":")
    ctx = {"out": str(out), "device": device, "tiny": tiny, "name": name, "repo": str(REPO)}
    try:
        verdict = getattr(importlib.import_module(module), func)(ctx)
    except Exception as exc:  # any failure of the check's own code is that check's verdict
        import traceback

        traceback.print_exc()
        verdict = {"status": "fail", "reason": f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:300]}"
                   if str(exc).strip() else type(exc).__name__}
    if verdict.get("status") not in STATUSES:
        verdict = {"status": "fail", "reason": f"the check returned no verdict: {verdict!r}"[:300]}
    (out / f"{name}.verdict.json").write_text(json.dumps(verdict, indent=1, default=str))
    return 0


def write_json(path: Path, verdicts: list[Verdict], args, total: float) -> None:
    doc = {"device": args.device, "tiny": args.tiny, "wall_s": round(total, 1), "exit_code": exit_code(verdicts),
           "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "checks": [asdict(v) for v in verdicts]}
    path.write_text(json.dumps(doc, indent=1, default=str))


def exit_code(verdicts: list[Verdict]) -> int:
    if any(v.status == "fail" for v in verdicts):
        return 1
    return 0 if any(v.status == "pass" for v in verdicts) else 2


def figures_text(figures: dict) -> str:
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in figures.items())


def print_table(verdicts: list[Verdict], total: float, json_path: Path) -> None:
    """The whole table on stdout, and as text beside the JSON (gpu-check.txt)."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"cub GPU check: {total:.0f} s in all; verdicts in {json_path}", box=box.SIMPLE_HEAD)
    for col in ("check", "verdict", "s", "figures", "target", "reason"):
        table.add_column(col, overflow="fold")
    style = {"pass": "green", "fail": "bold red", "skipped": "yellow"}
    for v in verdicts:
        table.add_row(v.name, f"[{style[v.status]}]{v.status}[/]", f"{v.wall_s:.0f}", figures_text(v.figures),
                      v.target, v.reason)
    console = Console(width=170, record=True)
    console.print(table)
    json_path.with_suffix(".txt").write_text(console.export_text())


if __name__ == "__main__":
    raise SystemExit(main())
