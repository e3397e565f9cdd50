"""`cub attack prefix|quant|relearn|mia`: how robust is an unlearned checkpoint's forgetting?

Each attack writes D/results.json in the results schema ("kind": "attack"); see docs/attacks.md.
"""

from __future__ import annotations

import argparse
from typing import Any

ATTACKS = {
    "prefix": "prefix injection: the first k tokens of the forgotten text go into the prompt",
    "quant": "quantisation: weights round-tripped through int8/int4, forget quality re-scored",
    "relearn": "relearning: a few fine-tuning steps on related, disjoint data, then re-scored",
    "mia": "membership inference: Min-K-percent and zlib AUC of forget vs never-seen holdout samples",
}


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
    from code_unlearn_bench.attacks import quantize
    from code_unlearn_bench.attacks.quant import DEFAULT_THRESHOLD, METHODS

    sub = parser.add_subparsers(dest="attack", metavar="ATTACK", required=True)
    for name, help_text in ATTACKS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        _common(p)
        if name == "prefix":
            p.add_argument("--k", default="0,8,32", help="prefix lengths in tokens, comma-separated (default 0,8,32; "
                                                         "0 is always run: it is the baseline)")
        elif name == "quant":
            p.add_argument("--bits", default="8,4", help="bit widths, comma-separated (default 8,4)")
            p.add_argument("--quant-method", choices=METHODS, default="auto",
                           help="torch: fake-quantised weights (CPU/GPU); bnb: bitsandbytes (CUDA); "
                                "auto: bnb when available")
            p.add_argument("--int4-group-size", type=int, default=quantize.INT4_GROUP,
                           help=f"torch method: weights per scale at <= 4 bits "
                                f"(default {quantize.INT4_GROUP}, 0 = per row)")
            p.add_argument("--came-back-threshold", type=float, default=DEFAULT_THRESHOLD,
                           help=f"a sample's text 'came back' when its forget quality drops by this much "
                                f"against the unquantised checkpoint (default {DEFAULT_THRESHOLD})")
        elif name == "relearn":
            p.add_argument("--relearn-data", help="related data disjoint from the forget set, in the task's format "
                                                  "(copyright default: standard-library files not in the forget set)")
            p.add_argument("--relearn-files", type=int, default=8,
                           help="size of the default relearning set (default 8)")
            p.add_argument("--relearn-limit", type=int, help="use the first N relearning samples")
            p.add_argument("--relearn-epochs", type=int, default=1, help="passes over the relearning data (default 1)")
            p.add_argument("--relearn-lr", type=float, default=5e-5, help="AdamW learning rate (default 5e-5)")
            p.add_argument("--relearn-grad-accum", type=int, default=1, help="samples per step (default 1)")
            p.add_argument("--relearn-max-length", type=int, default=1024, help="tokens per sample (default 1024)")
        elif name == "mia":
            p.add_argument("--holdout-data", help="never-seen samples in the task's format (copyright default: "
                                                  "standard-library files not in the forget set)")
            p.add_argument("--min-k", type=float, default=0.2,
                           help="Min-K%% share of least likely tokens (default 0.2)")


def _config(args: argparse.Namespace):
    from code_unlearn_bench.cli.evaluate import config_from_args

    # the attack flags map onto evaluate's config (same model, data and generation settings)
    args.tasks = args.task
    args.config_file = None
    return config_from_args(args)


def _parameters(args: argparse.Namespace) -> dict[str, Any]:
    from code_unlearn_bench.attacks import mia, prefix, quant, relearn

    if args.attack == "prefix":
        return {"k": prefix.parse_ks(args.k)}
    if args.attack == "quant":
        quant.check_parameters(args.backend or "auto", args.int4_group_size, args.came_back_threshold)
        return {"bits": quant.parse_bits(args.bits), "method": quant.choose_method(args.quant_method),
                "int4_group_size": args.int4_group_size, "came_back_threshold": args.came_back_threshold}
    if args.attack == "relearn":
        for flag in ("relearn_files", "relearn_epochs", "relearn_grad_accum", "relearn_max_length"):
            if getattr(args, flag) < 1:
                raise _error(f"--{flag.replace('_', '-')} must be >= 1")
        if args.relearn_limit is not None and args.relearn_limit < 1:
            raise _error("--relearn-limit must be >= 1")
        if not args.relearn_lr > 0:
            raise _error("--relearn-lr must be > 0")
        return relearn.RelearnSettings(data=args.relearn_data, n_default=args.relearn_files, epochs=args.relearn_epochs,
                                       lr=args.relearn_lr, grad_accum=args.relearn_grad_accum,
                                       max_length=args.relearn_max_length, limit=args.relearn_limit).to_json()
    settings = mia.MiaSettings(holdout=args.holdout_data, k=args.min_k)
    settings.validate()
    return settings.to_json()


def _error(message: str):
    from code_unlearn_bench.errors import CubError

    return CubError(message)


def run(args: argparse.Namespace) -> int:
    from code_unlearn_bench.attacks import eligibility, engine, mia, prefix, quant, relearn
    from code_unlearn_bench.ui import UI

    config = _config(args)
    parameters = _parameters(args)
    modes = ("generate", "loglikelihood") if args.attack == "mia" else ("generate",)

    def check(fingerprint: str) -> dict[str, Any]:
        return eligibility.check(args.utility_results, args.candidate_results, fingerprint,
                                 args.min_utility_share, args.utility_task)

    ui = UI(quiet=bool(config.quiet))
    try:
        run_ = engine.open_run(args.attack, parameters, config, check, ui=ui, modes=modes)
        if not run_.eligibility["eligible"]:
            results = engine.write_skipped(run_)
        elif args.attack == "prefix":
            results = prefix.run(run_, parameters["k"])
        elif args.attack == "quant":
            results = quant.run(run_, parameters["bits"], parameters["method"], parameters["int4_group_size"],
                                parameters["came_back_threshold"])
        elif args.attack == "relearn":
            results = relearn.run(run_, relearn.RelearnSettings(**parameters))
        else:
            results = mia.run(run_, mia.MiaSettings(holdout=parameters["holdout"], k=parameters["min_k"]))
    finally:
        ui.close()
    _print(results, str(run_.store.results_path))
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
