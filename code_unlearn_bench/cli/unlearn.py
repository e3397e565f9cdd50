"""`cub unlearn --method prod|ga|npo|dpo|flat|gradiff|simnpo|rmu`: unlearn a forget task's data, one
checkpoint per epoch (formulas: docs/methods.md)."""

from __future__ import annotations

import argparse

from code_unlearn_bench import tracking


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from code_unlearn_bench.cli.training_args import add_training_arguments
    from code_unlearn_bench.unlearn.methods import method_names

    parser.add_argument("--method", required=True,
                        help=f"{', '.join(method_names())} (the files in code_unlearn_bench/unlearn/methods/, "
                             f"formulas in docs/methods.md; plus methods of installed packages' cub.methods "
                             f"entry points) or package.module:METHOD")
    parser.add_argument("--method-args", metavar="KEY=VALUE,...",
                        help="any method's hyper-parameters by name, e.g. a plug-in method's (YAML-typed values)")
    # the reference code's setting: AdamW 5e-6, 10 epochs, batch 1 x accumulation 32
    add_training_arguments(parser, epochs=10, lr=5e-6, grad_accum=32)
    parser.add_argument("--p", type=float, default=None, help="PROD nucleus threshold in (0, 1] (default 0.8)")
    parser.add_argument("--alpha", type=float, default=None,
                        help="PROD alpha-suppression, 0 = off (default 0); GradDiff / RMU retain-loss weight "
                             "(default 1 / 1200)")
    parser.add_argument("--beta", type=float, default=None,
                        help="NPO/DPO inverse temperature (default 0.1); SimNPO (default 2.5)")
    parser.add_argument("--gamma", type=float, default=None,
                        help="GradDiff forget-loss weight (default 1); SimNPO reward margin (default 0)")
    parser.add_argument("--steering-coeff", type=float, default=None,
                        help="RMU steering coefficient c: forget activations are pushed to c x a random unit "
                             "vector (default 6.5)")
    parser.add_argument("--rmu-layer", default=None,
                        help="RMU: the decoder layer steered (default auto = floor(layers x 7/32), the reference's "
                             "layer 7 of 32); it and the two layers before it train their MLP output projection")
    parser.add_argument("--flat-variant", default=None, help="FLAT f-divergence: kl (default), pearson, tv")
    parser.add_argument("--refusals", default=None, metavar="PATH",
                        help="refusal answers for DPO/FLAT (default: the built-in list)")
    parser.add_argument("--retain-data", default=None, metavar="PATH",
                        help="retain set of GradDiff/RMU in the task's format (default: the one the task "
                             "declares: copyright held-out stdlib code, insecure the secure code before each "
                             "insecure line, deprecated the still-valid split)")
    tracking.add_arguments(parser)


# CLI flag -> method hyper-parameter name
_HYPERPARAMETER_FLAGS = {"p": "p", "alpha": "alpha", "beta": "beta", "flat_variant": "variant", "gamma": "gamma",
                         "steering_coeff": "steering_coeff", "rmu_layer": "layer"}


def build_method(args: argparse.Namespace):
    from code_unlearn_bench.errors import CubError
    from code_unlearn_bench.unlearn.methods import get_method

    from code_unlearn_bench.config import parse_model_args

    cls = get_method(args.method)
    given = {hp: getattr(args, flag) for flag, hp in _HYPERPARAMETER_FLAGS.items() if getattr(args, flag) is not None}
    for name, value in parse_model_args(args.method_args, "--method-args").items():
        if name not in cls.defaults:
            raise CubError(f"method '{cls.name}' has no hyper-parameter '{name}' "
                           f"(it takes: {', '.join(cls.defaults) or 'none'})")
        given[name] = value
    unused = sorted(hp for hp in given if hp not in cls.defaults)
    if unused:
        flags = [f"--{f.replace('_', '-')}" for f, hp in _HYPERPARAMETER_FLAGS.items() if hp in unused]
        raise CubError(f"method '{cls.name}' does not use {', '.join(flags)}")
    if args.refusals and "refusal" not in cls.sequences:
        raise CubError(f"method '{cls.name}' does not use --refusals")
    if args.retain_data and "retain" not in cls.sequences:
        raise CubError(f"method '{cls.name}' does not use --retain-data (no retain set)")
    return cls(**given)


def run(args: argparse.Namespace) -> int:
    from code_unlearn_bench.cli.training_args import run_training

    return run_training(args, build_method(args), "unlearn")
