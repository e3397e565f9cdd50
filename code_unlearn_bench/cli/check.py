"""`cub check`: CI gate. Exit 0 when the candidate holds up, 1 with a readable diff when not."""

from __future__ import annotations

import argparse
import json

from code_unlearn_bench.errors import CubError

DESCRIPTION = """\
Compare a candidate run with a baseline task by task (primary metric, with 95% CIs) and/or check
that the candidate keeps a minimum PDR within a stored set of models. Exits 1 on a regression,
a task missing from the candidate, or a task made differently (comparability keys differ: data,
version, n, generation settings, task options; see docs/trust.md); 0 otherwise."""


def _task_threshold(text: str) -> tuple[str, float]:
    task, sep, value = text.partition("=")
    try:
        if not sep or not task:
            raise ValueError
        return task, float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected TASK=NUMBER, got '{text}'") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = DESCRIPTION
    parser.add_argument("--candidate", required=True, metavar="RUN", help="run directory (or results.json) to check")
    parser.add_argument("--baseline", metavar="RUN", help="run directory (or results.json) to compare against")
    parser.add_argument("--max-forget-drop", type=float, default=0.02, metavar="X",
                        help="allowed drop of a forget task's primary metric (default 0.02)")
    parser.add_argument("--max-utility-drop", type=float, default=0.02, metavar="X",
                        help="allowed drop of a utility task's primary metric (default 0.02)")
    parser.add_argument("--max-drop", type=_task_threshold, action="append", default=[], metavar="TASK=X",
                        help="per-task allowed drop, overriding the two above (repeatable)")
    parser.add_argument("--require-significant", action="store_true",
                        help="fail a drop beyond the threshold only when the 95%% CIs do not overlap")
    parser.add_argument("--pdr-min", type=float, metavar="X",
                        help="minimum PDR (fraction, per-model reading) of the candidate within --model-set")
    parser.add_argument("--model-set", nargs="+", metavar="RUN",
                        help="stored models for --pdr-min (run dirs, results.json files or folders of runs)")
    parser.add_argument("--task", action="append", dest="tasks", metavar="TASK",
                        help="forget task(s) for --pdr-min (default: the candidate's forget tasks)")
    parser.add_argument("--utility", metavar="TASK", help="utility task for --pdr-min (default: humaneval, else heldout)")
    parser.add_argument("--format", choices=("table", "json"), default="table")


def _score_text(score) -> str:
    if score is None:
        return "-"
    ci = f" [{score.ci95[0]:.3f}, {score.ci95[1]:.3f}]" if score.ci95 else ""
    return f"{score.value:.4f}{ci}"


def _check_json(check) -> dict:
    def score(s):
        return None if s is None else {"value": s.value, "ci95": list(s.ci95) if s.ci95 else None, "n": s.n,
                                       "higher_is_better": s.higher_is_better}
    return {"task": check.task, "kind": check.kind, "metric": check.metric, "baseline": score(check.baseline),
            "candidate": score(check.candidate), "change": check.change, "threshold": check.threshold,
            "status": check.status, "failed": check.failed, "detail": check.detail}


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from code_unlearn_bench.ranking.check import compare_runs, pdr_gate
    from code_unlearn_bench.ranking.runs import load_run, load_runs

    if args.baseline is None and args.pdr_min is None:
        raise CubError("nothing to check: pass --baseline RUN and/or --pdr-min X --model-set RUN...")
    if args.pdr_min is not None and not args.model_set:
        raise CubError("--pdr-min needs --model-set RUN... (the stored models to rank against)")
    candidate = load_run(args.candidate)
    comparisons, pdr_checks = [], []
    if args.baseline is not None:
        comparisons = compare_runs(load_run(args.baseline), candidate, args.max_forget_drop, args.max_utility_drop,
                                   dict(args.max_drop), args.require_significant)
    if args.pdr_min is not None:
        pdr_checks = pdr_gate(candidate, load_runs(args.model_set), args.pdr_min, args.tasks, args.utility)
    failures = [c for c in [*comparisons, *pdr_checks] if c.failed]

    if args.format == "json":
        print(json.dumps({"passed": not failures, "comparisons": [_check_json(c) for c in comparisons],
                          "pdr": [vars(c) for c in pdr_checks]}, indent=2))
        return 1 if failures else 0

    console = Console()
    if comparisons:
        table = Table(title=f"cub check: {args.candidate} vs baseline {args.baseline}", title_justify="left")
        for col in ("task", "metric", "baseline [95% CI]", "candidate [95% CI]", "change", "allowed drop", "status",
                    "detail"):
            table.add_column(col, overflow="fold")
        for c in comparisons:
            style = "bold red" if c.failed else ("green" if c.status == "improved" else "")
            table.add_row(*(Text(str(v)) for v in (
                c.task, c.metric + ("" if c.baseline is None or c.baseline.higher_is_better else " (lower is better)"),
                _score_text(c.baseline), _score_text(c.candidate),
                "-" if c.change is None else f"{c.change:+.4f}", "-" if c.threshold is None else f"{c.threshold:g}",
            )), Text(c.status.upper() if c.failed else c.status, style=style), Text(c.detail))
        console.print(table)
    if pdr_checks:
        table = Table(title=f"cub check: PDR (per model) of {args.candidate} within the model set", title_justify="left")
        for col in ("task", "utility", "PDR", "minimum", "pool", "status", "detail"):
            table.add_column(col, overflow="fold")
        for c in pdr_checks:
            table.add_row(*(Text(str(v)) for v in (
                c.task, c.utility_task, "-" if c.pdr is None else f"{100 * c.pdr:.1f}%", f"{100 * c.minimum:.1f}%",
                c.pool_size)), Text(c.status.upper() if c.failed else c.status, style="bold red" if c.failed else ""),
                Text(c.detail))
        console.print(table)
    # Plain lines last: CI logs are often read from the bottom.
    for c in failures:
        console.print(Text(f"FAIL {c.task}: {c.status}: {c.detail}"))
    total = len(comparisons) + len(pdr_checks)
    summary = (f"cub check: FAILED ({len(failures)} of {total} checks failed)" if failures
               else f"cub check: passed ({total} checks)")
    console.print(Text(summary))
    return 1 if failures else 0
