"""Flags shared by `cub learn` and `cub unlearn`, and their translation into a TrainConfig."""

from __future__ import annotations

import argparse

from code_unlearn_bench.unlearn.trainer import PRECISIONS, TrainConfig


def add_training_arguments(parser: argparse.ArgumentParser, *, epochs: int, lr: float, grad_accum: int) -> None:
    parser.add_argument("--model", required=True, help="HF model dir, PEFT adapter dir, .gguf file or smollm2-135m")
    parser.add_argument("--task", default="copyright", help="forget task whose data is (un)learnt (default: copyright)")
    parser.add_argument("--output-dir", required=True, help="checkpoints epoch-NN/ and run.json go here; "
                        "rerunning on an unfinished dir resumes after its last saved epoch")
    parser.add_argument("--data", default=None, help="the task's data source instead of its default")
    parser.add_argument("--task-option", action="append", metavar="KEY=VALUE", help="loader option (repeatable)")
    parser.add_argument("--limit", type=int, default=None, help="use the first N forget samples")
    parser.add_argument("--epochs", type=int, default=epochs, help=f"default {epochs}")
    parser.add_argument("--lr", type=float, default=lr, help=f"AdamW learning rate, no scheduler (default {lr:g})")
    parser.add_argument("--grad-accum", type=int, default=grad_accum, help=f"micro-batches per step (default {grad_accum})")
    parser.add_argument("--batch-size", type=int, default=1, help="sequences per micro-batch (default 1)")
    parser.add_argument("--max-length", type=int, default=1024, help="tokens per sequence; longer ones are truncated")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--max-grad-norm", type=float, default=1.0, help="gradient clipping, 0 = off (default 1)")
    parser.add_argument("--lora", action="store_true", help="train a LoRA adapter; checkpoints are PEFT adapters")
    parser.add_argument("--lora-r", type=int, default=8)
    parser.add_argument("--lora-alpha", type=int, default=16)
    parser.add_argument("--gradient-checkpointing", action="store_true", help="trade compute for activation memory")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="auto: bf16 autocast on a bf16-capable GPU, fp32 elsewhere")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")


def config_from_args(args: argparse.Namespace, method: str) -> TrainConfig:
    from code_unlearn_bench.config import parse_key_values

    options = parse_key_values(args.task_option, [args.task], "--task-option").get(args.task, {})
    return TrainConfig(
        model=args.model, task=args.task, output_dir=args.output_dir, method=method, epochs=args.epochs,
        lr=args.lr, grad_accum=args.grad_accum, batch_size=args.batch_size, max_length=args.max_length,
        seed=args.seed, lora=args.lora, lora_r=args.lora_r, lora_alpha=args.lora_alpha,
        gradient_checkpointing=args.gradient_checkpointing, precision=args.precision,
        max_grad_norm=args.max_grad_norm, device=args.device, data=args.data, task_options=options,
        limit=args.limit, refusals=getattr(args, "refusals", None), retain_data=getattr(args, "retain_data", None))


def summary(run: dict) -> str:
    last = run["epochs"][-1] if run.get("epochs") else None
    where = f", last checkpoint {last['checkpoint']}" if last else ""
    return f"{run['method']}: {len(run.get('epochs', []))} epochs, {run.get('time_s', 0):.1f}s{where}"
