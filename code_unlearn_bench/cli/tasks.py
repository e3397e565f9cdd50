"""`cub tasks`: the task registry (name, kind, metric, data source, size)."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--verbose", action="store_true", help="also show loader/analyzer options and data hashes")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    import json

    from rich.console import Console
    from rich.table import Table

    from code_unlearn_bench.errors import CubError
    from code_unlearn_bench.samples import data_hash
    from code_unlearn_bench.tasks.spec import list_tasks

    rows = []
    for task in list_tasks():
        try:
            samples = task.load_samples()
            size, dh = str(len(samples)), data_hash(samples)
        except CubError as exc:  # e.g. a default source that needs --data on this machine
            size, dh = f"needs --data ({exc})", None
        analyzer = task.make_analyzer()
        rows.append({"name": task.name, "version": task.version, "kind": task.kind, "mode": task.mode,
                     "metric": analyzer.primary_metric, "analyzer": task.analyzer,
                     "default_source": task.default_source, "size": size, "data_hash": dh,
                     "description": task.description, "options": {**task.loader_options, **task.analyzer_options},
                     "canonical": task.canonical_settings()})
    if args.json:  # "canonical": the settings a leaderboard submission must have (docs/trust.md)
        print(json.dumps(rows, indent=2))
        return 0
    table = Table(title="cub tasks")
    cols = ["name", "version", "kind", "metric", "default_source", "size"]
    if args.verbose:
        cols += ["analyzer", "options", "data_hash"]
    for c in cols:
        table.add_column(c, overflow="fold")
    for r in rows:
        table.add_row(*[str(r[c]) if not isinstance(r[c], dict) else
                        ", ".join(f"{k}={v}" for k, v in r[c].items()) for c in cols])
    import sys

    Console(width=None if sys.stdout.isatty() else 160).print(table)
    return 0
