"""`cub reproduce --tasks A,B --seeds N`: one pipeline per (forget task, seed), then one table.

Each (task, seed) is an ordinary resumable reproduce run in ``<out>/<task>/seed-<s>/``; the
summary (SUMMARY.md, summary.json) has one PDR row per task like the paper's Table 1, each
method's PDR as mean and spread over the seeds, and whether the methods' order by PDR is the
same in every seed (the paper reports one seed; this says how stable its conclusion is).
"""

from __future__ import annotations

import json
import statistics
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

from code_unlearn_bench.reproduce import METHODS, Pipeline, Preset
from code_unlearn_bench.store import atomic_write_text, dump_json


def variants(preset: Preset, tasks: tuple[str, ...], seeds: int) -> list[tuple[str, int, Preset]]:
    """(task, seed, preset) for every run: other tasks use their default data and options."""
    out = []
    for task in tasks:
        base = preset if task == preset.forget_task else replace(
            preset, forget_task=task, forget_data=None, forget_options={})
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
            keep_learned: bool = False) -> Path:
    rows: dict[str, dict[int, dict[str, float]]] = {}
    for task, seed, p in variants(preset, tasks, seeds):
        log(f"[reproduce] === task {task}, seed {seed} ===")
        result = Pipeline(p, root / task / f"seed-{seed}", log=log, quiet=quiet, gpus=gpus, keep_learned=keep_learned).run()
        ranking = json.loads((root / task / f"seed-{seed}" / "state.json").read_text())["done"]["rank"]
        rows.setdefault(task, {})[seed] = {m["group"]: m["pdr_pooled"] for m in ranking["methods"]
                                           if not m.get("original")}
        log(f"[reproduce] report: {result['report']}")
        write_summary(root, preset, rows)  # after each run: a long run shows what it has so far
    return write_summary(root, preset, rows)


def summarise(rows: dict[str, dict[int, dict[str, float]]]) -> dict[str, Any]:
    out = {}
    for task, by_seed in rows.items():
        methods = [m for m in METHODS if all(m in r for r in by_seed.values())]
        stats = {m: {"mean": statistics.fmean(r[m] for r in by_seed.values()),
                     "spread": (statistics.pstdev([r[m] for r in by_seed.values()]) if len(by_seed) > 1 else 0.0),
                     "per_seed": {s: r[m] for s, r in by_seed.items()}} for m in methods}
        orders = {tuple(sorted(methods, key=lambda m, r=r: -r[m])) for r in by_seed.values()}
        best = {max(methods, key=lambda m, r=r: r[m]) for r in by_seed.values()}
        out[task] = {"methods": stats, "seeds": sorted(by_seed), "order_holds": len(orders) == 1,
                     "best_holds": len(best) == 1, "best": sorted(best)}
    return out


def write_summary(root: Path, preset: Preset, rows: dict[str, dict[int, dict[str, float]]]) -> Path:
    summary = summarise(rows)
    atomic_write_text(root / "summary.json", dump_json(summary))
    cols = [m for m in METHODS if any(m in s["methods"] for s in summary.values())]
    lines = [f"# cub reproduce --preset {preset.name}: PDR (%) per forget task", "",
             "Pooled reading (every per-epoch checkpoint of every method); mean ± spread (population sd) "
             "over seeds. 'order holds': the methods' order by PDR is the same in every seed.", "",
             "| task | seeds | " + " | ".join(c.upper() for c in cols) + " | order holds | best in every seed |",
             "|---|---|" + "---|" * len(cols) + "---|---|"]
    for task, s in summary.items():
        cells = [(f"{100 * s['methods'][c]['mean']:.1f} ± {100 * s['methods'][c]['spread']:.1f}"
                  if c in s["methods"] else "-") for c in cols]
        lines.append(f"| {task} | {len(s['seeds'])} | " + " | ".join(cells) +
                     f" | {'yes' if s['order_holds'] else 'no'} | {', '.join(s['best']) if s['best_holds'] else 'no'} |")
    lines += ["", "Per-run reports: `<task>/seed-<s>/REPORT.md`."]
    out = root / "SUMMARY.md"
    atomic_write_text(out, "\n".join(lines) + "\n")
    return out
