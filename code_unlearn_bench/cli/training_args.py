"""Flags shared by `cub learn` and `cub unlearn`, and their translation into a TrainConfig."""

from __future__ import annotations

import argparse
import os

from code_unlearn_bench.errors import CubError
from code_unlearn_bench.unlearn.planner import STRATEGIES
from code_unlearn_bench.config import OPTIMIZERS, PRECISIONS, SCHEDULES, TrainConfig


def add_training_arguments(parser: argparse.ArgumentParser, *, epochs: int, lr: float, grad_accum: int,
                           save_epochs: str = "all") -> None:
    parser.add_argument("--model", required=True, help="HF model dir, PEFT adapter dir, .gguf file or smollm2-135m")
    parser.add_argument("--task", default="copyright", help="forget task whose data is (un)learnt (default: copyright)")
    parser.add_argument("--output-dir", required=True, help="checkpoints epoch-NN/ and run.json go here; "
                        "rerunning on an unfinished dir resumes after its last saved epoch")
    parser.add_argument("--data", default=None, help="the task's data source instead of its default")
    parser.add_argument("--task-option", action="append", metavar="KEY=VALUE", help="loader option (repeatable)")
    parser.add_argument("--limit", type=int, default=None, help="use the first N forget samples")
    parser.add_argument("--epochs", type=int, default=epochs, help=f"default {epochs}")
    parser.add_argument("--lr", type=float, default=lr, help=f"AdamW learning rate (default {lr:g})")
    parser.add_argument("--lr-schedule", choices=SCHEDULES, default="constant",
                        help="constant (default; the reference PROD loop) or linear decay to 0 (HF Trainer's default)")
    parser.add_argument("--grad-accum", type=int, default=grad_accum, help=f"micro-batches per step (default {grad_accum})")
    parser.add_argument("--batch-size", type=int, default=1, help="sequences per micro-batch (default 1)")
    parser.add_argument("--max-length", type=int, default=1024, help="tokens per sequence; longer ones are truncated")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--max-grad-norm", type=float, default=1.0, help="gradient clipping, 0 = off (default 1)")
    parser.add_argument("--lora", action="store_true", help="train a LoRA adapter; checkpoints are PEFT adapters")
    parser.add_argument("--merge", action="store_true",
                        help="with --lora: also write merged/ (the last adapter folded into its base model)")
    parser.add_argument("--lora-r", type=int, default=8)
    parser.add_argument("--lora-alpha", type=int, default=16)
    parser.add_argument("--gradient-checkpointing", action="store_true", help="trade compute for activation memory")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="auto: bf16 on a bf16-capable GPU, fp32 elsewhere; bf16/fp16 = autocast over fp32 "
                             "master weights (full fine-tune) or a half-precision frozen base (--lora)")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    parser.add_argument("--optimizer", choices=OPTIMIZERS, default="adamw",
                        help="adamw (default) or adamw8bit (needs bitsandbytes)")
    parser.add_argument("--save-epochs", default=save_epochs,
                        help=f"checkpoints to keep: all, last or N,M (the last epoch is always kept; default {save_epochs})")
    parser.add_argument("--max-shard-size", default="5GB", help="split checkpoint safetensors above this (default 5GB)")
    scale = parser.add_argument_group("scale (docs/scaling.md)")
    scale.add_argument("--plan", action="store_true", help="print the per-GPU memory plan and disk need, then stop")
    scale.add_argument("--gpus", type=int, default=None, help="plan for N GPUs (default: the visible ones)")
    scale.add_argument("--gpu-memory", type=float, default=None, metavar="GIB",
                       help="memory per GPU for the plan's verdict (default: what the visible GPU has)")
    scale.add_argument("--strategy", choices=STRATEGIES, default=None,
                       help="--plan only: distribution to plan for (a launched run uses accelerate's)")
    scale.add_argument("--num-processes", type=int, default=None,
                       help="run under `accelerate launch` with N processes (DDP unless --accelerate-config says)")
    scale.add_argument("--accelerate-config", default=None, metavar="YAML",
                       help="accelerate config for --num-processes (configs/accelerate/*.yaml)")
    scale.add_argument("--measure-memory", action="store_true",
                       help="record the peak of live tensor bytes in run.json (slower)")


def config_from_args(args: argparse.Namespace, method: str) -> TrainConfig:
    from code_unlearn_bench.config import parse_key_values

    options = parse_key_values(args.task_option, [args.task], "--task-option").get(args.task, {})
    return TrainConfig(
        model=args.model, task=args.task, output_dir=args.output_dir, method=method, epochs=args.epochs,
        lr=args.lr, grad_accum=args.grad_accum, batch_size=args.batch_size, max_length=args.max_length,
        seed=args.seed, lora=args.lora, lora_r=args.lora_r, lora_alpha=args.lora_alpha,
        gradient_checkpointing=args.gradient_checkpointing, precision=args.precision,
        max_grad_norm=args.max_grad_norm, lr_schedule=args.lr_schedule, device=args.device, data=args.data, task_options=options,
        limit=args.limit, refusals=getattr(args, "refusals", None), optimizer=args.optimizer,
        save_epochs=args.save_epochs, max_shard_size=args.max_shard_size, gpu_memory=args.gpu_memory,
        strategy=args.strategy, measure_memory=args.measure_memory, merge=args.merge,
        retain_data=getattr(args, "retain_data", None))


def run_training(args: argparse.Namespace, method, command: str) -> int:
    """`cub learn` / `cub unlearn`: plan only, relaunch under accelerate, or train."""
    import dataclasses

    from code_unlearn_bench import tracking
    from code_unlearn_bench.unlearn.trainer import train

    launched = "LOCAL_RANK" in os.environ
    if (args.num_processes or 0) > 1 or (args.num_processes and args.accelerate_config):
        if not launched and not args.plan:
            return launch(args)
    elif args.accelerate_config and not launched and not args.plan:
        raise CubError("--accelerate-config takes effect with --num-processes N")
    cfg = config_from_args(args, method.name)
    if cfg.merge and not cfg.lora:
        raise CubError("--merge folds a LoRA adapter into its base: it needs --lora")
    if args.plan:
        from code_unlearn_bench.unlearn.budget import disk_line, plan_only

        if args.num_processes and not args.gpus:
            args.gpus = args.num_processes
        if args.accelerate_config and not args.strategy:
            from code_unlearn_bench.unlearn.distributed import strategy_from_config_file

            args.strategy = strategy_from_config_file(args.accelerate_config)
        cfg.validate()
        memory, disk = plan_only(cfg, method.name, args.gpus, args.strategy)
        print(memory.format())
        print(f"disk: {disk_line(disk, cfg.save_epochs)}")
        if memory.fits is False:
            raise CubError(memory.refusal())
        return 0
    main = os.environ.get("RANK", "0") == "0"  # under a launcher only the main process reports
    config = {**dataclasses.asdict(cfg), "hyperparameters": method.hyperparameters()}
    if not main:
        train(cfg, method)
        return 0
    with tracking.session(args, command, config) as tracker:
        result = train(cfg, method, on_epoch=tracker.log_epoch)
    print(summary(result))
    return 0


def launch(args: argparse.Namespace) -> int:
    """Run the same command under `accelerate launch` (one process per GPU, or CPU processes)."""
    import shutil
    import subprocess
    import sys

    argv = list(getattr(args, "argv", None) or [])
    if not argv:
        raise CubError("--num-processes needs the command line it was given (run it through `cub`)")
    argv = _drop_flags(argv, {"--num-processes": 1, "--accelerate-config": 1})
    from code_unlearn_bench.unlearn.spread import Spread, accelerate_command

    spread = Spread(args.num_processes, args.accelerate_config).check()
    cmd = accelerate_command(spread.num_processes, spread.accelerate_config) + ["-m", "code_unlearn_bench", *argv]
    if shutil.which(sys.executable) is None:
        raise CubError("cannot find the Python interpreter to launch")
    return subprocess.call(cmd)


def _drop_flags(argv: list[str], flags: dict[str, int]) -> list[str]:
    out, skip = [], 0
    for a in argv:
        if skip:
            skip -= 1
            continue
        name = a.split("=", 1)[0]
        if name in flags:
            skip = 0 if "=" in a else flags[name]
            continue
        out.append(a)
    return out


def summary(run: dict) -> str:
    last = run["epochs"][-1] if run.get("epochs") else None
    where = f", last checkpoint {last['checkpoint']}" if last else ""
    return f"{run['method']}: {len(run.get('epochs', []))} epochs, {run.get('time_s', 0):.1f}s{where}"
