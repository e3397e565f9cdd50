"""Terminal output: rich progress bars per task and the final results table."""

from __future__ import annotations

import sys
from typing import Any


class TaskProgress:
    """One rich progress bar per task, with samples/s and ETA; silent when quiet."""

    def __init__(self, console, quiet: bool):
        self.console = console
        self.quiet = quiet
        self._progress = None
        self._ids: dict[str, Any] = {}

    def _ensure(self):
        if self._progress is None:
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                       TimeRemainingColumn)

            self._progress = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                console=self.console, transient=False)
            self._progress.start()
        return self._progress

    def start(self, name: str, total: int, completed: int = 0) -> None:
        if self.quiet:
            return
        p = self._ensure()
        self._ids[name] = p.add_task(name, total=total, completed=completed, rate="")

    def advance(self, name: str, n: int) -> None:
        if self.quiet or name not in self._ids:
            return
        p = self._progress
        p.advance(self._ids[name], n)
        task = p.tasks[self._ids[name]]
        speed = task.speed
        p.update(self._ids[name], rate=f"{speed:.2f} samples/s" if speed else "")

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


class UI:
    def __init__(self, quiet: bool = False):
        from rich.console import Console

        self.quiet = quiet
        self.console = Console(stderr=True)
        self.out = Console()
        self.progress = TaskProgress(self.console, quiet)

    def note(self, message: str) -> None:
        if not self.quiet:
            self.console.print(f"[yellow]note:[/yellow] {message}", highlight=False)

    def close(self) -> None:
        self.progress.stop()


def _fmt(m: dict[str, Any] | None) -> tuple[str, str]:
    if not m or m.get("value") is None:
        return "-", ""
    ci = m.get("ci95")
    return f"{m['value']:.4f}", (f"[{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")


_HEALTH = (("empty", "empty", True), ("repetitive", "repetitive", True), ("distinct_2", "distinct-2", False),
           ("non_parsing_python", "unparsable", True))


def health_summary(health: dict[str, Any]) -> str:
    """The generation-health figures that expose a model emitting garbage, in one short cell."""
    parts = []
    for key, label, pct in _HEALTH:
        v = health.get(key)
        v = v.get("value") if isinstance(v, dict) else v
        if v is not None:
            parts.append(f"{label} {100 * v:.0f}%" if pct else f"{label} {v:.2f}")
    return " · ".join(parts)


def results_table(results: dict[str, Any]):
    """Rich table: one row per task (headline metric with CI, n, other metrics, health)."""
    from rich.table import Table

    table = Table(title=f"cub evaluate: {results['model']['name']}", show_lines=False)
    for col in ("task", "n", "headline", "value", "95% CI", "other metrics", "generation health", "samples/s"):
        table.add_column(col, overflow="fold")
    for name, tr in results["tasks"].items():
        if tr.get("status") != "completed":
            table.add_row(name, str(tr["task"]["n"]), "skipped", "", "", tr.get("reason", ""), "", "")
            continue
        primary = tr["primary_metric"]
        metrics = tr["metrics"]
        others = ", ".join(f"{k} {v['value']:.4f}" for k, v in metrics.items()
                           if k != primary and v.get("value") is not None)
        rate = tr.get("timings", {}).get("samples_per_s")
        table.add_row(name, str(tr["task"]["n"]), primary, *_fmt(metrics.get(primary)), others,
                      health_summary(tr.get("health") or {}), f"{rate:.2f}" if rate else "-")
    return table


def print_results(results: dict[str, Any], path: str) -> None:
    from rich.console import Console

    # Not a terminal (CI logs, pipes): rich would fall back to 80 columns and fold every cell.
    console = Console(file=sys.stdout, width=None if sys.stdout.isatty() else 160)
    console.print(results_table(results))
    console.print(f"results: {path}", highlight=False)
