"""`cub learn`: fine-tune a model on a forget task's data so that it memorises it (the paper's
first step; unlearning is then measured against this model)."""

from __future__ import annotations

import argparse

from code_unlearn_bench import tracking


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from code_unlearn_bench.cli.training_args import add_training_arguments

    # SmolLM2-135M memorises 10 files in ~10 epochs at 5e-5 with one file per step (measured)
    # only the learned model is needed downstream: keep the last epoch unless asked
    add_training_arguments(parser, epochs=10, lr=5e-5, grad_accum=1, save_epochs="last")
    tracking.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from code_unlearn_bench.cli.training_args import run_training
    from code_unlearn_bench.unlearn.finetune import FineTune

    return run_training(args, FineTune(), "learn")
