"""`cub rank`: PDR, Pareto front and trade-off plots over a set of evaluated models."""

from __future__ import annotations

import argparse
import sys

from code_unlearn_bench.errors import CubError

DESCRIPTION = """\
Rank evaluated models on forget quality vs utility. Each RUN is a run directory (with
results.json), a results.json file, or a folder searched recursively for them. Prints PDR per
model (every run one member of the pool) and PDR pooled per method (checkpoints grouped by
model.lineage.method, per-model PDR averaged over the method's epochs), the Pareto front, utility
at a fixed forget quality and gains relative to the original model. With --attacks, adds
robustness columns from `cub attack` runs of the same models (joined by model fingerprint)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = DESCRIPTION
    parser.add_argument("runs", nargs="+", metavar="RUN", help="run directories, results.json files or folders of runs")
    parser.add_argument("--task", action="append", dest="tasks", metavar="TASK",
                        help="forget task to rank on (repeatable; default: every forget task present)")
    parser.add_argument("--utility", metavar="TASK",
                        help="utility task (default: humaneval if present, else heldout)")
    parser.add_argument("--utility-results", metavar="PATH:TASK:METRIC",
                        help="utility from lm-evaluation-harness: its results JSON (or a folder of them) for each "
                             "model, e.g. lm-eval-out:mmlu:acc; joined to the runs by model path (or --utility-map) "
                             "and ranked as utility task lm_eval:TASK")
    parser.add_argument("--utility-map", metavar="FILE",
                        help="JSON/YAML object mapping lm-eval models (as recorded) or results files to cub runs")
    parser.add_argument("--group-by", choices=("method", "model"), default="method",
                        help="group checkpoints by lineage method (default) or treat every run alone")
    parser.add_argument("--original", metavar="NAME_OR_DIR",
                        help="the model unlearning started from (default: found from the checkpoints' lineage)")
    parser.add_argument("--exclude-original", action="store_true",
                        help="leave the original model out of the PDR pool (still used for gains and the plot)")
    parser.add_argument("--forget-fraction", type=float, default=0.9, metavar="F",
                        help="report utility at F x the best forget quality (default 0.9, as in the paper)")
    parser.add_argument("--format", choices=("table", "csv", "json"), default="table",
                        help="stdout format: rich tables, per-model CSV, or JSON with both tables")
    parser.add_argument("--out", metavar="DIR",
                        help="also write rank-models.csv, rank-methods.csv, rank.json and tradeoff-<task>.png")
    parser.add_argument("--no-plot", action="store_true", help="with --out: skip the PNG figures")
    parser.add_argument("--attacks", action="extend", nargs="+", metavar="DIR_OR_RUN",
                        help="`cub attack` runs (directories, results.json files or folders of them; repeatable): "
                             "add per-model forget quality under attack and effect of attack, joined by model "
                             "fingerprint, and the mean effect of attack per method")


def compute(args: argparse.Namespace):
    """The rankings the arguments ask for (one per forget task)."""
    from code_unlearn_bench.ranking.runs import load_attack_runs, load_runs
    from code_unlearn_bench.ranking.tradeoff import default_utility_task, forget_tasks, rank_pools

    runs = load_runs(args.runs)
    attack_runs = load_attack_runs(args.attacks) if getattr(args, "attacks", None) else []
    notes: list[str] = []
    if getattr(args, "utility_results", None):
        from code_unlearn_bench.ranking import lm_eval_utility

        if args.utility:
            raise CubError("give --utility or --utility-results, not both")
        spec = lm_eval_utility.parse_spec(args.utility_results)
        notes = lm_eval_utility.attach(runs, spec, lm_eval_utility.load_mapping(args.utility_map))
        args.utility = spec.task_name
    elif getattr(args, "utility_map", None):
        raise CubError("--utility-map needs --utility-results")
    utility = args.utility or default_utility_task(runs)
    tasks = args.tasks or forget_tasks(runs)
    if utility in tasks:
        raise CubError(f"'{utility}' cannot be both the forget task and the utility task")
    # runs made with different settings are ranked in separate pools, never in one
    rankings = [
        ranking for task in tasks
        for ranking in rank_pools(runs, task, utility, group_by=args.group_by, original=args.original,
                                  exclude_original=args.exclude_original, forget_fraction=args.forget_fraction)
    ]
    for ranking in rankings:
        ranking.notes[:0] = notes
    if attack_runs:
        from code_unlearn_bench.ranking.robustness import attach_all

        rankings = attach_all(rankings, runs, attack_runs)
    return rankings


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from code_unlearn_bench.ranking import report

    rankings = compute(args)
    if args.format == "table":
        report.print_rankings(rankings, Console())
    elif args.format == "csv":
        sys.stdout.write(report.models_frame(rankings).to_csv(index=False))
    else:
        sys.stdout.write(report.rankings_json(rankings) + "\n")
    if args.out:
        # status lines go to stderr so `--format csv/json > file` stays machine-readable
        for path in report.write_outputs(rankings, args.out, plots=not args.no_plot):
            print(f"wrote {path}", file=sys.stderr)
    return 0
