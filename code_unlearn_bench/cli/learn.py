"""`cub learn`: fine-tune a model on a forget task's data so that it memorises it (the paper's
first step; unlearning is then measured against this model)."""

from __future__ import annotations

import argparse
import dataclasses

from code_unlearn_bench import tracking


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from code_unlearn_bench.cli.training_args import add_training_arguments

    # SmolLM2-135M memorises 10 files in ~10 epochs at 5e-5 with one file per step (measured)
    add_training_arguments(parser, epochs=10, lr=5e-5, grad_accum=1)
    tracking.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from code_unlearn_bench.cli.training_args import config_from_args, summary
    from code_unlearn_bench.unlearn.finetune import FineTune
    from code_unlearn_bench.unlearn.trainer import train

    method = FineTune()
    cfg = config_from_args(args, method.name)
    with tracking.session(args, "learn", dataclasses.asdict(cfg)) as tracker:
        result = train(cfg, method, on_epoch=tracker.log_epoch)
    print(summary(result))
    return 0
