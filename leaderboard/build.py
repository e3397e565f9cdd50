"""Rendering the static leaderboard site from normalised submissions.

The site is self-contained (no CDN, no inline script: the Content-Security-Policy in the pages
only allows the local stylesheet, script and images) and every value coming from a submission goes
through Jinja's autoescaping, so a model named ``<script>alert(1)</script>`` renders as text.
"""

from __future__ import annotations

import json
import shutil
from importlib import resources
from pathlib import Path

import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from code_unlearn_bench import comparability
from code_unlearn_bench.errors import CubError
from code_unlearn_bench.ranking import report, robustness
from code_unlearn_bench.ranking.runs import Run, load_attack_run, load_run
from code_unlearn_bench.ranking.tradeoff import READINGS, Ranking, default_utility_task, rank_runs

STATIC_FILES = ("style.css", "sort.js", "favicon.svg")


def load_submissions(folder: str | Path, require_verified: bool = True) -> list[Run]:
    folder = Path(folder)
    if not folder.is_dir():
        raise CubError(f"no submissions folder {folder}")
    runs = [load_run(path) for path in sorted(folder.glob("*.json"))]
    if not runs:
        raise CubError(f"no submissions (*.json) in {folder}; add some with `cub leaderboard submit`")
    for run in runs:  # the site shows verified numbers only
        if require_verified and not (run.data.get("submission") or {}).get("verified"):
            raise CubError(f"{run.source} is not a verified submission; add runs with `cub leaderboard submit`, "
                           f"which re-scores their generations")
    _check_alike(runs)
    return runs


def _check_alike(runs: list[Run]) -> None:
    """Refuse submissions made differently on a task (comparability keys differ): they would share a table."""
    first: dict[str, Run] = {}
    for run in runs:
        for name in run.task_names():
            other = first.setdefault(name, run)
            diff = comparability.mismatch(other.task(name), run.task(name))
            if diff:
                raise CubError(f"submissions {run_id(other)} and {run_id(run)} were made differently on task "
                               f"'{name}' and cannot be compared: {diff}")


def load_attack_submissions(folder: str | Path) -> list[Run]:
    """The attack submissions (``cub leaderboard submit-attack``) in ``folder/attacks``; none is fine."""
    from code_unlearn_bench.leaderboard.submit import ATTACKS_DIR

    return [load_attack_run(path) for path in sorted((Path(folder) / ATTACKS_DIR).glob("*.json"))]


def run_id(run: Run) -> str:
    sub = run.data.get("submission") or {}
    if sub.get("id"):
        return str(sub["id"])
    from code_unlearn_bench.leaderboard.submit import submission_id

    return submission_id(run.data)


def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("code_unlearn_bench.leaderboard", "templates"),
        autoescape=select_autoescape(["html"], default_for_string=True, default=True),
        undefined=StrictUndefined,  # a typo in a template fails the build instead of rendering blank
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _num(value) -> str:
    """A sort key for the table's data-sort attribute ("" for missing: sorted last by sort.js)."""
    return "" if value is None or pd.isna(value) else repr(float(value))


def _task_rows(ranking: Ranking, ids: dict[str, str], unregenerated: set[str] = frozenset()) -> list[dict]:
    rows = []
    for _, r in ranking.models.iterrows():
        rows.append({
            "rank": "" if pd.isna(r["rank"]) else int(r["rank"]),
            "id": ids[r["run"]],
            "model": r["model"],
            "method": "" if pd.isna(r["epoch"]) else r["group"],
            "epoch": "" if pd.isna(r["epoch"]) else int(r["epoch"]),
            "original": bool(r["original"]),
            "not_regenerated": r["run"] in unregenerated,
            "forget": report.fmt_score(r["forget"], r["forget_ci_low"], r["forget_ci_high"]),
            "forget_key": _num(r["forget"]),
            "utility": report.fmt_score(r["utility"], r["utility_ci_low"], r["utility_ci_high"]),
            "utility_key": _num(r["utility"]),
            "pdr": report.fmt_pct(r["pdr"]),
            "pdr_key": _num(r["pdr"]),
            "pareto": bool(r["pareto"]),
            "gain": report.fmt_delta(r["forget_gain"]),
            "gain_key": _num(r["forget_gain"]),
            "missing": r["missing"],
            "attacks": [_attack_cell(r, name) for name in ranking.attacks],
        })
    return rows


def _attack_cell(r: pd.Series, attack: str) -> dict:
    """The robustness cell: the largest effect of attack (sort key) with its setting; the forget
    quality under attack in the tooltip; ``skipped: <why>`` / ``not attacked`` / ``missing`` otherwise."""
    missing = r[f"{attack}_missing"]
    under = report.fmt_under_attack(r, attack)
    if pd.isna(r[f"{attack}_effect"]):
        if missing.startswith(f"missing: no {attack} attack run"):
            text = "not attacked"
        elif missing:
            text = missing if missing.startswith("skipped") else "missing"
        else:
            text = "-"
        return {"text": text, "key": "", "title": missing or f"{r[f'{attack}_headline_metric']}: {under}"}
    return {"text": report.fmt_effect(r, attack), "key": _num(r[f"{attack}_effect"]),
            "title": f"{r[f'{attack}_headline_metric']} under attack: {under}"}


def _method_rows(ranking: Ranking) -> list[dict]:
    return [{
        "rank": "" if pd.isna(r["rank"]) else int(r["rank"]),
        "group": r["group"],
        "checkpoints": f"{r['scored']}/{r['checkpoints']}",
        "pdr_pooled": report.fmt_pct(r["pdr_pooled"]), "pdr_pooled_key": _num(r["pdr_pooled"]),
        "pdr_last": report.fmt_pct(r["pdr_last_epoch"]), "pdr_last_key": _num(r["pdr_last_epoch"]),
        "utility_at": report.fmt_score(r["utility_at_target"]), "utility_at_key": _num(r["utility_at_target"]),
        "attacks": [{"text": report.fmt_mean_effect(r, a), "key": _num(r[f"{a}_mean_effect"])}
                    for a in ranking.attacks],
    } for _, r in ranking.methods.iterrows()]


def _attack_details(attack: Run) -> dict:
    """One attack submission on a model page: eligibility, and per task the headline, the largest
    effect of attack and every ``<metric>@<setting>`` score."""
    tasks = []
    for name, res in sorted(attack.data["tasks"].items()):
        fig = robustness.figures(attack, name)
        metrics = [{
            "name": metric, "primary": metric == res.get("primary_metric"),
            "value": report.fmt_score(m.get("value"), *(m.get("ci95") or (None, None))),
            "n": m.get("n"), "direction": "higher is better" if m.get("higher_is_better", True) else "lower is better",
        } for metric, m in sorted(res.get("metrics", {}).items())]
        tasks.append({
            "name": name, "status": res.get("status"), "reason": res.get("reason", ""), "missing": fig.missing,
            "headline_metric": fig.headline.metric if fig.headline else "",
            "headline": report.fmt_score(fig.headline.value, *(fig.headline.ci95 or (None, None)))
            if fig.headline else "-",
            "effect": report.fmt_delta(fig.effect.value) if fig.effect else "-",
            "effect_setting": fig.effect_setting or "", "metrics": metrics,
            "settings": ", ".join(robustness.setting_order(res)),
        })
    info = attack.data.get("attack") or {}
    eligibility = info.get("eligibility") or {}
    return {
        "id": run_id(attack), "name": robustness.attack_name(attack),
        "parameters": json.dumps(info.get("parameters") or {}, sort_keys=True),
        "eligibility": eligibility.get("reason") or ("eligibility not checked" if not eligibility.get("checked")
                                                     else ""),
        "submitted_at": (attack.data.get("submission") or {}).get("submitted_at", ""),
        "config_hash": attack.data["config_hash"], "cub_version": attack.data["cub_version"], "tasks": tasks,
    }


def _model_page(run: Run, attacks: list[Run] | None = None) -> dict:
    tasks = []
    for name, res in sorted(run.data["tasks"].items()):
        metrics = [{
            "name": metric, "primary": metric == res.get("primary_metric"),
            "value": report.fmt_score(m.get("value"), *(m.get("ci95") or (None, None))),
            "n": m.get("n"), "direction": "higher is better" if m.get("higher_is_better", True) else "lower is better",
        } for metric, m in sorted(res.get("metrics", {}).items())]
        tasks.append({"name": name, "status": res.get("status"), "reason": res.get("reason", ""),
                      "info": res["task"], "metrics": metrics,
                      "key_hash": comparability.key_hash(comparability.key(res)) if res.get("status") == "completed"
                      else "",
                      "protocol": json.dumps(res.get("protocol", {}), indent=2, sort_keys=True)})
    env = run.data["environment"]
    return {
        "id": run_id(run), "name": run.name, "model": run.model,
        "lineage": json.dumps(run.model.get("lineage") or {}, indent=2, sort_keys=True),
        "config": json.dumps(run.data["config"], indent=2, sort_keys=True),
        "config_hash": run.data["config_hash"], "cub_version": run.data["cub_version"],
        "schema_version": run.data["schema_version"], "created_at": run.data["created_at"],
        "submitted_at": (run.data.get("submission") or {}).get("submitted_at", ""),
        "verified": _verified_text(run), "regenerated": _regenerated_text(run), "seed": run.data["seed"], "python": env["python"], "platform": env.get("platform", ""),
        "packages": sorted((k, "" if v is None else v) for k, v in env["packages"].items()),
        "tasks": tasks,
        "attacks": [_attack_details(a) for a in attacks or [] if a.model["fingerprint"] == run.model["fingerprint"]],
    }


def build_site(submissions: str | Path, out: str | Path, utility: str | None = None,
               title: str = "Code unlearning leaderboard", require_verified: bool = True) -> Path:
    """Render the site into ``out``; returns the path of index.html. ``require_verified=False``
    only for a local site of runs this process made itself (`cub reproduce`)."""
    runs = load_submissions(submissions, require_verified)
    ids = {str(run.source): run_id(run) for run in runs}
    if len(set(ids.values())) != len(ids):
        raise CubError(f"two submissions in {submissions} share an id; remove the duplicate")
    utility = utility or default_utility_task(runs)
    unregenerated = {str(run.source) for run in runs if _regenerated_text(run) == NOT_REGENERATED}
    attack_runs = load_attack_submissions(submissions)
    out = Path(out)
    for sub in ("models", "static", "plots", "data"):
        (out / sub).mkdir(parents=True, exist_ok=True)

    from code_unlearn_bench.ranking.plot import save_tradeoff  # matplotlib only when building

    sections, rankings = [], []
    for task in sorted({t for run in runs for t in run.task_names(kind="forget", completed=False)}):
        # a submission that never ran the task is not listed; one that skipped it is, as missing
        task_runs = [run for run in runs if run.task(task) is not None]
        ranking = rank_runs(task_runs, task, utility, label_by_name=True)
        if attack_runs:
            ranking = robustness.attach(ranking, task_runs, attack_runs, describe=run_id)
        rankings.append(ranking)
        plot = save_tradeoff(ranking, out / "plots" / f"tradeoff-{task}.png")
        sections.append({"task": task, "ranking": ranking, "plot": f"plots/{plot.name}",
                         "rows": _task_rows(ranking, ids, unregenerated), "methods": _method_rows(ranking)})
    if not sections:
        raise CubError("no submission has a forget task; nothing to rank")

    env = _environment()
    utility_tasks = sorted({t for run in runs for t in run.task_names(kind="utility", completed=False)})
    utility_rows = [{"id": run_id(run), "name": run.name, "scores": [_utility_cell(run, t) for t in utility_tasks]}
                    for run in runs]
    common = {"title": title, "readings": READINGS, "utility_task": utility,
              "robustness_reading": robustness.READING if attack_runs else ""}
    _write(out / "index.html", env.get_template("index.html").render(
        **common, root="", sections=sections, utility_tasks=utility_tasks, utility_rows=utility_rows))
    for run in runs:
        page = _model_page(run, attack_runs)
        _write(out / "models" / f"{page['id']}.html",
               env.get_template("model.html").render(**common, root="../", page=page))
    for name in STATIC_FILES:
        src = resources.files("code_unlearn_bench.leaderboard").joinpath("static", name)
        with resources.as_file(src) as path:
            shutil.copyfile(path, out / "static" / name)
    # Downloads for re-analysis; the "run" column (a path on the builder's disk) is not published.
    report.models_frame(rankings).drop(columns=["run"]).to_csv(out / "data" / "leaderboard-models.csv", index=False)
    report.methods_frame(rankings).to_csv(out / "data" / "leaderboard-methods.csv", index=False)
    data = [r.to_dict() for r in rankings]
    for d in data:
        for row in d["models"]:
            row.pop("run", None)
    _write(out / "data" / "leaderboard.json", json.dumps({"rankings": data}, indent=2))
    return out / "index.html"


def _verified_text(run: Run) -> str:
    verified = (run.data.get("submission") or {}).get("verified")
    if not verified:
        return "not verified (local site)"
    return f"{verified.get('how', 're-scored')} by {verified.get('by', 'cub')}"


NOT_REGENERATED = "not re-generated"


def _regenerated_text(run: Run) -> str:
    """A verified submission made with --no-regenerate (or before re-generation existed) is marked."""
    sub = run.data.get("submission") or {}
    if not sub.get("verified"):
        return ""
    done = sub.get("regenerated")
    if not done:
        return NOT_REGENERATED
    counts = ", ".join(f"{task}: {len(ids)}" for task, ids in sorted(done.get("samples", {}).items()))
    return (f"greedy items re-generated from the weights ({done.get('backend')}, {done.get('dtype')}, seed "
            f"{done.get('seed')}) gave the submitted tokens" + (f" ({counts})" if counts else " (no greedy task)"))


def _utility_cell(run: Run, task: str) -> dict:
    score, why = run.score(task)
    if score is None:
        return {"text": "-", "key": "", "title": why or ""}
    return {"text": report.fmt_score(score.value, *(score.ci95 or (None, None))), "key": _num(score.value),
            "title": "higher is better" if score.higher_is_better else "lower is better"}


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise CubError(f"cannot write {path}: {exc}") from None
