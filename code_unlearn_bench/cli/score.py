"""`cub score`: recompute scores and results.json from a run's saved generations."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--output-dir", required=True, help="a run directory written by `cub evaluate`")
    p.add_argument("--quiet", action="store_true", help="print only the results path")


def run(args: argparse.Namespace) -> int:
    from code_unlearn_bench.evaluation.run import rescore
    from code_unlearn_bench.store import RunStore
    from code_unlearn_bench.ui import print_results

    results = rescore(args.output_dir)
    path = str(RunStore(args.output_dir).results_path)
    if args.quiet:
        print(path)
    else:
        print_results(results, path)
    return 0
