"""Rendering a :class:`Ranking`: rich tables for the terminal, CSV/JSON files via pandas."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Sequence

import pandas as pd
from rich.console import Console
from rich.table import Table
from rich.text import Text

from code_unlearn_bench.errors import CubError
from code_unlearn_bench.ranking.tradeoff import READINGS, ROBUSTNESS_READING, Ranking


def fmt_score(value, low=math.nan, high=math.nan) -> str:
    if value is None or pd.isna(value):
        return "-"
    ci = "" if pd.isna(low) or pd.isna(high) else f" [{low:.3f}, {high:.3f}]"
    return f"{value:.3f}{ci}"


def fmt_pct(value) -> str:
    return "-" if value is None or pd.isna(value) else f"{100 * value:.1f}%"


def fmt_delta(value) -> str:
    return "-" if value is None or pd.isna(value) else f"{value:+.3f}"


def _cell(value) -> Text:
    # Text, not a str: a model called "[bold]x" must print literally, not as rich markup.
    return Text("-" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value))


def fmt_under_attack(row, attack: str) -> str:
    """``0.697 [0.61, 0.78] (k=32)``: the attack's headline score and its setting, or the reason it is missing."""
    value = row[f"{attack}_headline"]
    if pd.isna(value):
        return row[f"{attack}_missing"] or "-"
    metric = row[f"{attack}_headline_metric"]
    setting = f" ({metric.split('@', 1)[1]})" if "@" in metric else ""
    return fmt_score(value, row[f"{attack}_headline_ci_low"], row[f"{attack}_headline_ci_high"]) + setting


def fmt_effect(row, attack: str) -> str:
    """``+0.082 (k=16)``: the largest effect of attack and its setting (``-`` when missing: the
    reason is in the under-attack column, or the attack has no effect metric, e.g. mia)."""
    value = row[f"{attack}_effect"]
    if pd.isna(value):
        return "-"
    setting = row[f"{attack}_effect_setting"]
    return fmt_delta(value) + (f" ({setting})" if setting else "")


def fmt_mean_effect(row, attack: str) -> str:
    """``+0.050 (2 attacked, 1 skipped)`` per method."""
    counts = f"{row[f'{attack}_attacked']} attacked, {row[f'{attack}_skipped']} skipped"
    return f"{fmt_delta(row[f'{attack}_mean_effect'])} ({counts})"


def _title(r: Ranking) -> str:
    return f"{r.forget_task} vs {r.utility_task}" + (f" ({r.pool})" if r.pool else "")


def models_table(r: Ranking) -> Table:
    t = Table(title=f"{_title(r)}: per model  ({READINGS['pdr']})", title_justify="left")
    attack_cols = [c for a in r.attacks for c in (f"{a}: under attack", f"{a}: effect of attack (max)")]
    for col in ("#", "model", "method", "epoch", f"{r.forget_metric} [95% CI]", f"{r.utility_metric} [95% CI]",
                "PDR per model", "dominates", "dominated by", "ties", "front", "forget gain", "utility change",
                *attack_cols, "missing"):
        t.add_column(col, overflow="fold")
    for _, row in r.models.iterrows():
        attack_cells = [c for a in r.attacks for c in (fmt_under_attack(row, a), fmt_effect(row, a))]
        t.add_row(*map(_cell, (
            row["rank"], row["model"] + (" (original)" if row["original"] else ""), row["group"], row["epoch"],
            fmt_score(row["forget"], row["forget_ci_low"], row["forget_ci_high"]),
            fmt_score(row["utility"], row["utility_ci_low"], row["utility_ci_high"]),
            fmt_pct(row["pdr"]), row["dominates"], row["dominated_by"], row["ties"],
            "yes" if row["pareto"] else "", fmt_delta(row["forget_gain"]), fmt_delta(row["utility_change"]),
            *attack_cells, row["missing"] or "",
        )))
    return t


def methods_table(r: Ranking) -> Table:
    target = "-" if r.target_forget is None else f"{r.target_forget:.3f}"
    t = Table(title=f"{_title(r)}: per method  (PDR pooled = {READINGS['pdr_pooled']})",
              title_justify="left")
    for col in ("#", "method", "checkpoints", "PDR pooled", "PDR per model (last epoch)", "best forget",
                f"utility at forget={target} ({r.forget_fraction:.0%} of best)",
                *(f"{a}: mean effect of attack" for a in r.attacks), "missing"):
        t.add_column(col, overflow="fold")
    for _, row in r.methods.iterrows():
        t.add_row(*map(_cell, (
            row["rank"], row["group"] + (" (original)" if row["original"] else ""),
            f"{row['scored']}/{row['checkpoints']}", fmt_pct(row["pdr_pooled"]), fmt_pct(row["pdr_last_epoch"]),
            fmt_score(row["best_forget"]), fmt_score(row["utility_at_target"]),
            *(fmt_mean_effect(row, a) for a in r.attacks), row["missing"] or "",
        )))
    return t


def print_rankings(rankings: Sequence[Ranking], console: Console | None = None) -> None:
    console = console or Console()
    for r in rankings:
        console.print(models_table(r))
        console.print(methods_table(r))
        pool = "original model in the pool" if not r.excluded_original else "original model not in the pool"
        console.print(Text(f"original: {r.original or 'none identified'} ({pool})"))
        if r.attacks:
            console.print(Text(f"robustness: {ROBUSTNESS_READING}"))
        for note in r.notes:
            console.print(Text(f"note: {note}"))
        console.print()


def models_frame(rankings: Sequence[Ranking]) -> pd.DataFrame:
    return pd.concat([r.models.assign(task=r.forget_task, utility_task=r.utility_task, pool=r.pool)
                      for r in rankings], ignore_index=True)


def methods_frame(rankings: Sequence[Ranking]) -> pd.DataFrame:
    return pd.concat([r.methods.assign(task=r.forget_task, utility_task=r.utility_task, pool=r.pool)
                      for r in rankings], ignore_index=True)


def rankings_json(rankings: Sequence[Ranking]) -> str:
    return json.dumps({"rankings": [r.to_dict() for r in rankings]}, indent=2)


def write_outputs(rankings: Sequence[Ranking], out_dir: str | Path, plots: bool = True) -> list[Path]:
    """Write ``rank-models.csv``, ``rank-methods.csv``, ``rank.json`` and one
    ``tradeoff-<task>.png`` per forget task into ``out_dir``; returns the paths written."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        written = [out / "rank-models.csv", out / "rank-methods.csv", out / "rank.json"]
        models_frame(rankings).to_csv(written[0], index=False)
        methods_frame(rankings).to_csv(written[1], index=False)
        written[2].write_text(rankings_json(rankings), encoding="utf-8")
    except OSError as exc:
        raise CubError(f"cannot write to {out}: {exc}") from None
    if plots:
        from code_unlearn_bench.ranking.plot import save_tradeoff  # matplotlib only when plotting

        for r in rankings:
            suffix = "-pool" + r.pool.split()[1] if r.pool else ""
            written.append(save_tradeoff(r, out / f"tradeoff-{r.forget_task}{suffix}.png"))
    return written
