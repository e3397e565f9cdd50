"""`cub reproduce`: the paper's whole pipeline in one resumable command."""

from __future__ import annotations

import argparse

from code_unlearn_bench import tracking


def add_arguments(p: argparse.ArgumentParser) -> None:
    from code_unlearn_bench.reproduce import PRESETS

    p.add_argument("--preset", default="cpu-demo", choices=sorted(PRESETS),
                   help="; ".join(f"{k}: {v.description}" for k, v in PRESETS.items()))
    p.add_argument("--output-dir", required=True, help="work directory (rerun the same command to resume)")
    p.add_argument("--model", help="override the preset's model (required for --preset paper)")
    p.add_argument("--methods", help="comma-separated subset of the methods (default: all of the preset's)")
    p.add_argument("--data", help="forget-set source (e.g. the paper's forget_100.jsonl)")
    p.add_argument("--verbose", action="store_true", help="show the steps' own progress output")
    tracking.add_arguments(p)


def run(args: argparse.Namespace) -> int:
    from dataclasses import asdict, replace

    from code_unlearn_bench.errors import CubError
    from code_unlearn_bench.reproduce import PRESETS, Pipeline
    from code_unlearn_bench.unlearn.methods import get_method

    preset = PRESETS[args.preset]
    if args.model:
        preset = replace(preset, model=args.model)
    if not preset.model:
        raise CubError(f"--preset {preset.name} needs --model PATH (e.g. a local CodeLlama-7B directory)")
    if args.methods:
        methods = tuple(m.strip() for m in args.methods.split(",") if m.strip())
        for m in methods:
            get_method(m)  # unknown -> one-line error listing the registered methods
        preset = replace(preset, methods=methods)
    if args.data:
        preset = replace(preset, forget_data=args.data)
    with tracking.session(args, "reproduce", {"preset": asdict(preset), "output_dir": args.output_dir}) as tracker:
        result = Pipeline(preset, args.output_dir, quiet=not args.verbose, tracker=tracker).run()
    print(f"report: {result['report']}")
    return 0
