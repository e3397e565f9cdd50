"""The trade-off figure: forget quality (x) vs utility (y), like the paper's Figure 3.

One curve per method through its epochs (starting at the original model, where unlearning
starts), the original model marked with a star, the Pareto front of the pool drawn as a
staircase. Axes of lower-is-better metrics are inverted so "up and to the right" is always better.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
from matplotlib.figure import Figure  # object API: no pyplot global state, no GUI backend needed

from code_unlearn_bench.errors import CubError
from code_unlearn_bench.ranking.tradeoff import Ranking


def _axis_label(task: str, metric: str, higher_is_better: bool) -> str:
    return f"{task} {metric}" + ("" if higher_is_better else " (lower is better)")


def _original_label(name: str) -> str:
    return "original model" + ("" if name.lower() == "original" else f" ({name})")


def tradeoff_figure(ranking: Ranking) -> Figure:
    # Model and method names come from result files: never let matplotlib read "$...$" in them as
    # mathtext (a stray "$" would otherwise raise a parse error or render as math).
    with matplotlib.rc_context({"text.parse_math": False, "text.usetex": False}):
        fig = Figure(figsize=(7, 5), dpi=110)
        ax = fig.add_subplot()
        m = ranking.models
        scored = m[m["missing"] == ""]
        orig = scored[scored["original"]]
        for group, members in scored[~scored["original"]].groupby("group", sort=True):
            members = members.sort_values("epoch", na_position="first", kind="stable")
            xs, ys = list(members["forget"]), list(members["utility"])
            if not orig.empty and members["epoch"].notna().any():
                xs, ys = [orig["forget"].iloc[0], *xs], [orig["utility"].iloc[0], *ys]
            line = ax.plot(xs, ys, marker="o", markersize=4, linewidth=1.5, label=str(group))[0]
            for _, row in members[members["epoch"].notna()].iterrows():  # epoch numbers on the curve
                ax.annotate(str(row["epoch"]), (row["forget"], row["utility"]), fontsize=7,
                            xytext=(3, 3), textcoords="offset points", color=line.get_color())
        if not orig.empty:
            ax.scatter(orig["forget"], orig["utility"], marker="*", s=220, color="black", zorder=5,
                       label=_original_label(orig["model"].iloc[0]))
        front = m[m["pareto"]].sort_values("forget", ascending=ranking.forget_higher_is_better)
        if len(front) > 0:
            ax.plot(front["forget"], front["utility"], drawstyle="steps-pre",  # the boundary of what the front attains
                    linestyle="--", color="grey", linewidth=1, zorder=1, label="Pareto front")
        if ranking.target_forget is not None:
            ax.axvline(ranking.target_forget, color="lightgrey", linestyle=":", linewidth=1,
                       label=f"{ranking.forget_fraction:.0%} of best forget quality")
        ax.set_xlabel(_axis_label(ranking.forget_task, ranking.forget_metric, ranking.forget_higher_is_better))
        ax.set_ylabel(_axis_label(ranking.utility_task, ranking.utility_metric, ranking.utility_higher_is_better))
        if not ranking.forget_higher_is_better:
            ax.invert_xaxis()
        if not ranking.utility_higher_is_better:
            ax.invert_yaxis()
        ax.set_title(f"Trade-off on {ranking.forget_task}")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, loc="best")
        fig.tight_layout()
    return fig


def save_tradeoff(ranking: Ranking, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = tradeoff_figure(ranking)
    try:
        with matplotlib.rc_context({"text.parse_math": False}):
            fig.savefig(path)
    except (OSError, ValueError) as exc:
        raise CubError(f"cannot write plot {path}: {exc}") from None
    return path
