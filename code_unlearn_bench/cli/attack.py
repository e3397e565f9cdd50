"""`cub attack NAME` (code_unlearn_bench.plugins.ATTACKS): how robust is an unlearned checkpoint's forgetting?

Each attack writes D/results.json in the results schema ("kind": "attack"); see docs/attacks.md.
"""

from __future__ import annotations

import argparse
from typing import Any


def _common(p: argparse.ArgumentParser) -> None:
    from code_unlearn_bench.attacks.eligibility import DEFAULT_SHARE
    from code_unlearn_bench.cli.evaluate import add_model_arguments

    add_model_arguments(p)
    p.add_argument("--task", default="copyright", help="forget task(s) to attack, comma-separated (default copyright)")
    p.add_argument("--output-dir", help="attack run directory (results.json, per-setting generations); resumable")
    p.add_argument("--data", action="append", metavar="[TASK=]PATH", help="the forget task's data source")
    p.add_argument("--task-option", action="append", metavar="[TASK:]KEY=VALUE",
                   help="task option (see `cub tasks --verbose`)")
    p.add_argument("--limit", type=int, help="attack only the first N samples of each task")
    p.add_argument("--max-new-tokens", type=int, help="override the task's generation budget")
    p.add_argument("--overwrite", action="store_true", default=None,
                   help="replace an output dir that holds another attack's or model's run")
    p.add_argument("--quiet", action="store_true", default=None, help="no progress bars or notes")
    g = p.add_argument_group("eligibility (the paper attacks only checkpoints that keep enough utility)")
    g.add_argument("--utility-results", metavar="RUN",
                   help="the ORIGINAL model's `cub evaluate` run (dir or results.json)")
    g.add_argument("--candidate-results", metavar="RUN",
                   help="THIS checkpoint's `cub evaluate` run with the same utility task")
    g.add_argument("--utility-task", help="compare only this utility task (default: every one both runs have)")
    g.add_argument("--min-utility-share", type=float, default=DEFAULT_SHARE,
                   help=f"skip checkpoints keeping less of the original utility (default {DEFAULT_SHARE})")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from code_unlearn_bench.plugins import ATTACKS

    sub = parser.add_subparsers(dest="attack", metavar="ATTACK", required=True)
    for name in ATTACKS.names():
        attack = ATTACKS.load(name)
        p = sub.add_parser(name, help=attack.help, description=attack.help)
        _common(p)
        attack.add_arguments(p)


def _config(args: argparse.Namespace):
    from code_unlearn_bench.cli.evaluate import config_from_args

    # the attack flags map onto evaluate's config (same model, data and generation settings)
    args.tasks = args.task
    args.config_file = None
    return config_from_args(args)


def run(args: argparse.Namespace) -> int:
    from code_unlearn_bench.attacks.attack_run import run_attack
    from code_unlearn_bench.attacks.eligibility import EligibilityInputs
    from code_unlearn_bench.plugins import ATTACKS
    from code_unlearn_bench.store import RunStore
    from code_unlearn_bench.ui import UI

    attack = ATTACKS.load(args.attack)
    config = _config(args)
    settings = attack.settings_from_args(args)
    eligibility = EligibilityInputs(args.utility_results, args.candidate_results, args.min_utility_share,
                                    args.utility_task)
    ui = UI(quiet=bool(config.quiet))
    try:
        results = run_attack(attack, settings, config, eligibility, ui=ui)
    finally:
        ui.close()
    _print(results, str(RunStore(config.output_dir).results_path))
    return 0


def _print(results: dict[str, Any], path: str) -> None:
    eligibility = results["attack"]["eligibility"]
    print(f"cub attack {results['attack']['name']}: {results['model']['name']} ({eligibility['reason']})")
    for name, tr in results["tasks"].items():
        if tr["status"] != "completed":
            print(f"  {name}: skipped: {tr.get('reason', '')}")
            continue
        settings = tr["attack"].get("settings", {})
        attacked = tr["attack"].get("attacked_metric")
        for setting, detail in settings.items():
            if attacked and "metrics" in detail:
                value = detail["metrics"].get(attacked, {}).get("value")
                effect = detail.get("effect_of_attack", {}).get("value")
                shown = "-" if value is None else f"{value:.4f}"
                drop = "" if effect is None else f"   effect of attack {effect:+.4f}"
                print(f"  {name} {setting:>12}: {attacked} {shown}{drop}")
        if not attacked:  # membership inference
            for metric_name, m in tr["metrics"].items():
                print(f"  {name} {metric_name}: {m['value']:.4f}")
    print(f"results: {path}")
