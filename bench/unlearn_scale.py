"""PROD vs GA through the real trainer at the settings used at scale (bf16, LoRA, gradient
checkpointing), and the memory planner's estimate against the measured peak.

Each (method, measurement) runs `cub unlearn` in a fresh child process on the first --limit
copyright files (--max-length tokens, batch 1, --grad-accum 2, two epochs):
  time    step time = the second epoch's time / steps, no memory hook (the first epoch warms
          up the CPU kernels: PROD's precompute would otherwise warm them for PROD only);
  memory  peak of live tensor bytes (--measure-memory: a dispatch hook sees every allocation;
          stable on a loaded machine, unlike RSS), against `plan()` for the same run with the
          nucleus size PROD really produced.
Targets: PROD <= 1.1x GA in step time and peak memory; planner within 15% of the measured peak.
A GPU section runs the same on CUDA (full fine-tune too, torch.cuda.max_memory_allocated)
when a GPU is present.

    python bench/unlearn_scale.py [--model smollm2-135m] [--limit 4] [--max-length 256] [--rounds 1]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

MIB = 1 << 20


def child(args) -> dict:
    """One training run; prints its figures as JSON."""
    import torch

    from code_unlearn_bench.unlearn.methods import get_method
    from code_unlearn_bench.unlearn.planner import PlanRequest, plan
    from code_unlearn_bench.unlearn.shapes import load_shape
    from code_unlearn_bench.config import TrainConfig
    from code_unlearn_bench.unlearn.trainer import train

    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = TrainConfig(model=args.model, task="copyright", output_dir=args.out, method=args.method, epochs=2,
                      lr=1e-5, grad_accum=2, max_length=args.max_length, lora=args.lora,
                      gradient_checkpointing=True, precision="bf16", device=args.device, limit=args.limit,
                      task_options={"max_chars": args.max_chars}, measure_memory=args.measure)
    run = train(cfg, get_method(args.method)(), log=lambda _m: None)
    epoch = run["epochs"][-1]
    positions = run["data"]["n_answer_tokens"]
    entries = int((run.get("precomputed_bytes", 8 * positions) - 8 * positions) / 8 / positions) or 64
    est = plan(load_shape(args.model), PlanRequest(
        method=args.method, lora=args.lora, precision="bf16", max_length=args.max_length, gradient_checkpointing=True,
        grad_accum=2, device="cpu", prod_entries=entries))
    measured = run.get("peak_live_tensor_bytes") or (run["peak_memory_bytes"] if args.device == "cuda" else None)
    return {"step_s": epoch["time_s"] / epoch["steps"], "measured": measured, "planned": est.peak,
            "entries": entries, "device": run["device"], "precompute_s": run.get("precompute_time_s", 0.0)}


def _spawn(args, method: str, measure: bool, device: str, lora: bool) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, __file__, "--child", "--method", method, "--model", args.model, "--limit",
               str(args.limit), "--max-length", str(args.max_length), "--max-chars", str(args.max_chars),
               "--threads", str(args.threads), "--device", device, "--out", str(Path(tmp) / "run")]
        cmd += ["--measure"] if measure else []
        cmd += ["--lora"] if lora else []
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode:
            raise SystemExit(proc.stderr[-3000:])
        return json.loads(proc.stdout.strip().splitlines()[-1])


def section(args, device: str, lora: bool) -> None:
    rows = {}
    for method in ("ga", "prod"):
        times = sorted(_spawn(args, method, False, device, lora)["step_s"] for _ in range(args.rounds))
        # on CUDA the allocator's own peak needs no hook
        memory = _spawn(args, method, device != "cuda", device, lora)
        rows[method] = {**memory, "step_s": times[len(times) // 2]}
    ga, prod = rows["ga"], rows["prod"]
    kind = "LoRA r=8" if lora else "full fine-tune"
    print(f"\n{device}: {args.model}, bf16 + {kind} + gradient checkpointing, batch 1 x {args.max_length} tokens, "
          f"{args.limit} files, {args.rounds} timing round(s)")
    print(f"{'method':<8}{'step s':>9}{'peak MiB':>11}{'plan MiB':>11}{'plan/peak':>11}{'nucleus':>9}")
    for name, r in rows.items():
        ratio = r["planned"] / r["measured"] if r["measured"] else float("nan")
        print(f"{name:<8}{r['step_s']:>9.3f}{(r['measured'] or 0) / MIB:>11.1f}{r['planned'] / MIB:>11.1f}"
              f"{ratio:>11.3f}{r['entries'] if name == 'prod' else '':>9}")
    print(f"PROD vs GA: step time {prod['step_s'] / ga['step_s']:.2f}x, peak memory "
          f"{prod['measured'] / ga['measured']:.2f}x (targets <= 1.1x); PROD precompute {prod['precompute_s']:.1f}s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--limit", type=int, default=4)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--max-chars", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--method", help=argparse.SUPPRESS)
    parser.add_argument("--device", default="cpu", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--lora", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return 0
    section(args, "cpu", lora=True)
    import torch

    if torch.cuda.is_available():  # GPU section: the same, and a full fine-tune
        section(args, "cuda", lora=True)
        section(args, "cuda", lora=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
