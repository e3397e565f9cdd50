"""`cub reproduce --tasks A,B --seeds N`: one pipeline per (forget task, seed), then one table.

Each (task, seed) is an ordinary resumable reproduce run in ``<out>/<task>/seed-<s>/``; the
summary (SUMMARY.md, summary.json) has one PDR row per task like the paper's Table 1, each
method's PDR as mean, sd and min-max over the seeds, which method is first in every seed, and
within each seed a paired-bootstrap interval and P(first) (the paper reports one seed without
an interval; this says how stable its conclusion is).
"""

from __future__ import annotations

import json
import statistics
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

from code_unlearn_bench.reproduce.presets import METHODS, Preset
from code_unlearn_bench.reproduce.pipeline import Pipeline
from code_unlearn_bench.jsonio import atomic_write_text, dump_json


def variants(preset: Preset, tasks: tuple[str, ...], seeds: int,
             task_data: dict[str, str] | None = None) -> list[tuple[str, int, Preset]]:
    """(task, seed, preset) for every run: other tasks use their default data and options, or
    their ``task_data`` (--task-data TASK=PATH)."""
    out = []
    task_data = task_data or {}
    for task in tasks:
        base = preset if task == preset.forget_task else replace(
            preset, forget_task=task, forget_data=None, forget_options={})
        if task in task_data:
            base = replace(base, forget_data=task_data[task])
        for i in range(seeds):
            seed = 42 + i
            if seeds == 1:
                out.append((task, seed, base))
                continue
            out.append((task, seed, replace(base, learn={**base.learn, "seed": seed},
                                            unlearn={**base.unlearn, "seed": seed})))
    return out


def run_all(preset: Preset, root: Path, tasks: tuple[str, ...], seeds: int, quiet: bool = True,
            log: Callable[[str], None] = print, gpus: tuple[str, ...] | None = None,
            keep_learned: bool = False, spread=None, task_data: dict[str, str] | None = None,
            holdout: str | None = None) -> Path:
    for task, seed, p in variants(preset, tasks, seeds, task_data):
        log(f"[reproduce] === task {task}, seed {seed} ===")
        result = Pipeline(p, root / task / f"seed-{seed}", log=log, quiet=quiet, gpus=gpus, keep_learned=keep_learned,
                          spread=spread, holdout=holdout).run()
        log(f"[reproduce] report: {result['report']}")
        summary_of_finished(preset, root, tasks, seeds, task_data)  # after each run: what it has so far
    return summary_of_finished(preset, root, tasks, seeds, task_data)


def seed_bootstrap(run_root: Path, preset: Preset) -> dict[str, Any]:
    """The paired bootstrap of one (task, seed) run's pooled PDRs, from its evaluation dirs."""
    from code_unlearn_bench.errors import CubError
    from code_unlearn_bench.ranking.runs import load_runs
    from code_unlearn_bench.ranking.tradeoff import rank_runs
    from code_unlearn_bench.ranking.uncertainty import bootstrap_pdr

    runs = load_runs([run_root / "eval"])
    ranking = rank_runs(runs, preset.forget_task, preset.utility_tasks[0], original=str(run_root / "eval" / "learned"))
    try:
        return bootstrap_pdr(ranking.to_dict(), runs)
    except CubError as e:
        return {"error": str(e)}


def summary_of_finished(preset: Preset, root: Path, tasks: tuple[str, ...], seeds: int,
                        task_data: dict[str, str] | None = None) -> Path:
    """SUMMARY.md / summary.json over the (task, seed) runs whose ranking is done (the others are
    listed as not finished): `cub reproduce ... --summary-only` prints it without running anything."""
    rows: dict[str, dict[int, dict[str, float]]] = {}
    boots: dict[str, dict[int, dict[str, Any]]] = {}
    seconds: dict[str, dict[int, float]] = {}
    missing, data = [], {}
    for task, seed, p in variants(preset, tasks, seeds, task_data):
        data[task] = p.forget_data
        run_root = root / task / f"seed-{seed}"
        state = json.loads((run_root / "state.json").read_text()) if (run_root / "state.json").is_file() else {}
        ranking = state.get("done", {}).get("rank")
        if not ranking:
            missing.append(f"{task}/seed-{seed}")
            continue
        rows.setdefault(task, {})[seed] = {m["group"]: m["pdr_pooled"] for m in ranking["methods"]
                                           if not m.get("original")}
        boots.setdefault(task, {})[seed] = seed_bootstrap(run_root, p)
        # the steps' own durations (a step interrupted and resumed counts its last attempt only)
        seconds.setdefault(task, {})[seed] = round(sum(state.get("timings", {}).values()), 1)
    return write_summary(root, preset, rows, boots, missing, data, seconds)


def summarise(rows: dict[str, dict[int, dict[str, float]]]) -> dict[str, Any]:
    out = {}
    for task, by_seed in rows.items():
        methods = [m for m in METHODS if all(m in r for r in by_seed.values())]
        stats = {}
        for m in methods:
            vals = [r[m] for r in by_seed.values()]
            stats[m] = {"mean": statistics.fmean(vals), "sd": statistics.stdev(vals) if len(vals) > 1 else 0.0,
                        "min": min(vals), "max": max(vals), "per_seed": {s: r[m] for s, r in by_seed.items()}}
        orders = {tuple(sorted(methods, key=lambda m, r=r: -r[m])) for r in by_seed.values()}
        # the methods with the highest PDR in each seed (ties: all of them)
        firsts = [{m for m in methods if r[m] == max(r[x] for x in methods)} for r in by_seed.values()]
        best = set.intersection(*firsts) if firsts else set()
        out[task] = {"methods": stats, "seeds": sorted(by_seed), "order_holds": len(orders) == 1,
                     "first_in_every_seed": sorted(best), "best_holds": bool(best), "best": sorted(best),
                     "prod_first_in_every_seed": "prod" in best}
    return out


def _cell(s: dict[str, Any]) -> str:
    spread = f" ± {100 * s['sd']:.1f} ({100 * s['min']:.1f}-{100 * s['max']:.1f})" if len(s["per_seed"]) > 1 else ""
    return f"{100 * s['mean']:.1f}{spread}"


def _boot_cell(b: dict[str, Any] | None) -> str:
    if not b:
        return "-"
    lo, hi = b["ci95"]
    return f"{100 * b['pdr_pooled']:.1f} [{100 * lo:.1f}, {100 * hi:.1f}]" + (
        f" P1 {b['p_first']:.2f}" if b.get("p_first") is not None else "")


def write_summary(root: Path, preset: Preset, rows: dict[str, dict[int, dict[str, float]]],
                  boots: dict[str, dict[int, dict[str, Any]]] | None = None, missing: list[str] | None = None,
                  data: dict[str, str | None] | None = None,
                  seconds: dict[str, dict[int, float]] | None = None) -> Path:
    from code_unlearn_bench.reproduce.summary import PAPER_TABLE1, not_comparable

    summary = summarise(rows)
    for task, by_seed in (boots or {}).items():
        summary[task]["bootstrap"] = by_seed
    for task, by_seed in (seconds or {}).items():
        summary[task]["step_seconds"] = by_seed
    atomic_write_text(root / "summary.json", dump_json({"tasks": summary, "not_finished": missing or []}))
    cols = [m for m in METHODS if any(m in s["methods"] for s in summary.values())]
    head = " | ".join(c.upper() for c in cols)
    lines = [f"# cub reproduce --preset {preset.name}: PDR (%) per forget task", "",
             "Pooled reading (every per-epoch checkpoint of every method and the learned model in one pool, "
             "per-model PDR averaged per method). Over seeds: mean ± sample sd (min-max).", "",
             f"| task | seeds | {head} | first in every seed | order the same in every seed |",
             "|---|---|" + "---|" * len(cols) + "---|---|"]
    for task, s in summary.items():
        cells = [_cell(s["methods"][c]) if c in s["methods"] else "-" for c in cols]
        lines.append(f"| {task} | {len(s['seeds'])} | " + " | ".join(cells) +
                     f" | {', '.join(c.upper() for c in s['first_in_every_seed']) or 'none'} | "
                     f"{'yes' if s['order_holds'] else 'no'} |")
        if task in PAPER_TABLE1:
            why = not_comparable(task, (data or {}).get(task))
            lines.append(f"| {task}: paper, CodeLlama-7B{' (NOT comparable: ' + why + ')' if why else ''} | 1 | "
                         + " | ".join(f"{PAPER_TABLE1[task].get(c, '-')}" for c in cols) + " | | |")
    lines += ["", "Within each seed: pooled PDR [95% paired-bootstrap interval over the evaluation samples] and P1 "
              "= the share of bootstrap draws in which the method's pooled PDR is the highest (ties count for each).", "",
              f"| task | seed | {head} |", "|---|---|" + "---|" * len(cols)]
    for task, by_seed in (boots or {}).items():
        for seed, b in sorted(by_seed.items()):
            if "error" in b:
                lines.append(f"| {task} | {seed} | bootstrap not possible: {b['error']} |")
                continue
            lines.append(f"| {task} | {seed} | " + " | ".join(_boot_cell(b["methods"].get(c)) for c in cols) + " |")
    if seconds:
        lines += ["", "Time: the sum of each run's step durations (learn, unlearn, evaluate, attack, rank, ...; "
                  "`state.json` timings).", "", "| task | per seed (min) | total (min) |", "|---|---|---|"]
        for task, by_seed in seconds.items():
            lines.append(f"| {task} | " + ", ".join(f"{seed}: {t / 60:.1f}" for seed, t in sorted(by_seed.items()))
                         + f" | {sum(by_seed.values()) / 60:.1f} |")
    if missing:
        lines += ["", "Not finished (rerun the same command to continue): " + ", ".join(missing)]
    lines += ["", "Per-run reports: `<task>/seed-<s>/REPORT.md`."]
    out = root / "SUMMARY.md"
    atomic_write_text(out, "\n".join(lines) + "\n")
    return out
