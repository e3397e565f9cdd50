"""REPORT.md of a `cub reproduce` run: the PDR table in the shape of the paper's Table 1."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

PAPER_TABLE1 = {  # CodeLlama-7B, PDR in % (paper, Table 1)
    "copyright": {"ga": 15.3, "dpo": 3.6, "npo": 0.6, "flat": 0.0, "prod": 41.8},
    "insecure": {"ga": 13.3, "dpo": 0.0, "npo": 24.5, "flat": 6.1, "prod": 70.4},
    "deprecated": {"ga": 31.5, "dpo": 20.6, "npo": 51.6, "flat": 0.0, "prod": 58.0},
}
# task -> why its default data is not the paper's (a run on it is not comparable with Table 1)
_NOT_THE_PAPERS_DATA = {
    "copyright": "the default stdlib files, not the paper's 100 files (--data forget_100.jsonl)",
    "deprecated": "the curated 198-change set, not the paper's VersiCode set (--task-data deprecated=PATH)",
}


def not_comparable(task: str, data: str | None) -> str | None:
    """Why a run of ``task`` on ``data`` cannot be read against Table 1's row (None: it can, data-wise)."""
    return None if data else _NOT_THE_PAPERS_DATA.get(task)


ORDER = ("ga", "dpo", "npo", "flat", "gradiff", "simnpo", "rmu", "prod")  # the paper's four, ours, PROD
DISPLAY = {"gradiff": "GradDiff", "simnpo": "SimNPO"}  # the rest print upper-case (GA, RMU, PROD)


def _pct(v: Any) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * float(v):.1f}"


def _num(v: Any) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{float(v):.4f}"


def _score(run_dir: Path, task: str) -> tuple[str, Any]:
    try:
        tr = json.loads((run_dir / "results.json").read_text())["tasks"][task]
        return tr["primary_metric"], tr["metrics"][tr["primary_metric"]]["value"]
    except (OSError, KeyError, json.JSONDecodeError):
        return "?", None


def write_report(root: Path, preset, ranking: dict[str, Any], state: dict[str, Any]) -> Path:
    task, utility = ranking["forget_task"], ranking["utility_task"]
    methods = {row["group"]: row for row in ranking["methods"]}
    cols = [m for m in ORDER if m in methods] + [m for m in methods if m not in ORDER and not methods[m]["original"]]
    lines = [f"# cub reproduce: preset `{preset.name}`", "",
             f"{preset.description}. Model: `{preset.model}`; forget task `{task}`; utility `{utility}` "
             f"(`{ranking['utility_metric']}`, {'higher' if ranking['utility_higher_is_better'] else 'lower'} is better).",
             "", "## PDR (%) in the shape of the paper's Table 1", "",
             "Pooled reading: every per-epoch checkpoint of every method (and the learned model) in one pool; "
             "per-model PDR averaged per method.", "",
             "| task | " + " | ".join(DISPLAY.get(c, c.upper()) for c in cols) + " |", "|---|" + "---|" * len(cols),
             f"| {task} (this run, pooled) | " + " | ".join(_pct(methods[c]["pdr_pooled"]) for c in cols) + " |",
             f"| {task} (this run, last epoch per method) | "
             + " | ".join(_pct(methods[c]["pdr_last_epoch"]) for c in cols) + " |"]
    boot = ranking.get("bootstrap") or {}
    if boot.get("methods"):
        cells = [boot["methods"].get(c) for c in cols]
        lines += [f"| {task} (this run, pooled: 95% paired-bootstrap interval) | "
                  + " | ".join(f"{_pct(b['ci95'][0])}-{_pct(b['ci95'][1])}" if b else "-" for b in cells) + " |",
                  f"| {task} (this run: P(highest pooled PDR) over {boot['resamples']} draws) | "
                  + " | ".join(f"{b['p_first']:.2f}" if b and b.get("p_first") is not None else "-" for b in cells) + " |"]
    if task in PAPER_TABLE1:
        why = not_comparable(task, preset.forget_data)
        lines.append(f"| {task} (paper, CodeLlama-7B{'; NOT comparable: ' + why if why else ''}) | "
                     + " | ".join(f"{PAPER_TABLE1[task].get(c, '-')}" for c in cols) + " |")
    lines += ["", "## Every checkpoint", "",
              f"| model | forget quality | {ranking['utility_metric']} | PDR per model (%) | on Pareto front |",
              "|---|---|---|---|---|"]
    for row in ranking["models"]:
        lines.append(f"| {row.get('label', row.get('model'))} | {_num(row.get('forget'))} | {_num(row.get('utility'))} | "
                     f"{_pct(row.get('pdr'))} | {'yes' if row.get('pareto') else ''} |")
    base_dir = root / "eval-base" / "original"
    fm, fv = _score(base_dir, task)
    um, uv = _score(base_dir, utility)
    lines += ["", f"Model before `cub learn`: {task} {fm} = {_num(fv)}, {utility} {um} = {_num(uv)}."]
    attack = state.get("done", {}).get("attack")
    if isinstance(attack, dict) and attack:
        lines += ["", "## Attacks: prefix injection; MIA PrivLeak against the model before `cub learn`", "", "```",
                  json.dumps(attack, indent=1)[:4000], "```"]
    if boot.get("error"):
        lines += ["", f"No bootstrap interval: {boot['error']}"]
    if ranking.get("notes"):
        lines += ["", "Notes: " + "; ".join(ranking["notes"])]
    lines += ["", f"Trade-off plot: `rank/tradeoff-{task}.png`; leaderboard site: `site/index.html`.", "",
              "Step timings (s): " + ", ".join(f"{k} {v}" for k, v in state.get("timings", {}).items())]
    out = root / "REPORT.md"
    out.write_text("\n".join(lines) + "\n")
    return out
