"""What every attack shares: the attack's run directory, evaluating one attack setting through the
core's own generate + score path, and assembling results.json (``"kind": "attack"``).

An attack is a set of *settings* (``k=0``, ``k=8`` for prefix injection; ``unquantised``,
``int8``, ``int4`` for quantisation; ...), each an ordinary evaluation of the forget task(s) with
derived samples or a transformed model. Each setting is a core run store of its own, so its
generations are saved per sample as they are made and a killed attack resumes:

  D/manifest.json                     the attack's identity (attack, parameters, model, config)
  D/settings/<setting>/manifest.json  one core run store per setting
  D/settings/<setting>/generations/<task>.jsonl
  D/results.json                      all settings of all tasks, in the results schema
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from code_unlearn_bench.analysis import metric
from code_unlearn_bench.config import EvalConfig
from code_unlearn_bench.errors import CubError
from code_unlearn_bench.runner import (ModelHandle, PreparedTask, environment_info, generate_task, prepare_tasks,
                                       score_task, skipped_result, validate_results)
from code_unlearn_bench.store import RunStore

# Sub-folders an attack owns inside its output dir (removed by --overwrite of another attack).
OWNED_DIRS = ("settings", "relearn", "mia")


def _hash(obj: Any) -> str:
    return "sha256:" + hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class Outcome:
    """One task evaluated under one attack setting."""

    result: dict[str, Any]  # the core's task result (metrics, protocol, health, ...)
    scores: dict[str, dict[str, Any]]  # sample id -> the analyzer's per-sample scores


@dataclass
class AttackRun:
    name: str
    parameters: dict[str, Any]
    config: EvalConfig
    prepared: list[PreparedTask]
    resolved: Any  # models.loading.ResolvedModel
    info: Any  # models.base.ModelInfo
    eligibility: dict[str, Any]
    store: RunStore
    manifest: dict[str, Any] = field(default_factory=dict)
    ui: Any = None

    @property
    def root(self) -> Path:
        return self.store.root

    @property
    def identity(self) -> dict[str, Any]:
        return self.manifest["identity"]

    def begin(self) -> None:
        """Write the attack's manifest: called once the attack's own input checks passed, so a
        refused command leaves no run behind that would block the corrected one."""
        if not self.store.exists() or self.store.read_manifest() != self.manifest:
            self.store.write_manifest(self.manifest)

    def note(self, message: str) -> None:
        if self.ui is not None:
            self.ui.note(message)

    # -- settings ---------------------------------------------------------------------------
    def handle(self, config: EvalConfig | None = None) -> ModelHandle:
        config = config or self.config
        if config.model == self.config.model:
            return ModelHandle(config, self.info, self.resolved)
        from code_unlearn_bench.models.loading import model_info, resolve_model

        resolved = resolve_model(config.model)
        return ModelHandle(config, model_info(resolved), resolved)

    def evaluate_setting(self, setting: str, handle, prepared: list[PreparedTask],
                         config: EvalConfig | None = None) -> dict[str, Outcome]:
        """Generate (resumably) and score ``prepared`` under ``setting`` with the core runner.

        ``handle`` is anything with ``.backend`` (loaded only if generation is pending) and
        ``.tokenizer``: the attacks pass transformed models through it."""
        config = config or self.config
        self.begin()
        store = RunStore(self.root / "settings" / setting)
        # the attack's identity (checked in open_run) plus the setting: a resumed setting reuses
        # its saved generations; score_task refuses any whose prompt changed since
        manifest = store.open({**self.identity, "setting": setting}, overwrite=False)
        store.write_manifest(manifest)
        progress = self.ui.progress if self.ui is not None else None
        self.note(f"{self.name} attack: setting '{setting}'")
        out: dict[str, Outcome] = {}
        for pt in prepared:
            if pt.samples:
                generate_task(store, manifest, pt, handle, config, progress=progress)
            result = score_task(store, manifest, pt, lambda: handle.tokenizer, config)
            wanted = {s.id for s in pt.samples}
            scores = {r["id"]: r.get("scores", {}) for r in store.read_records(pt.task.name) if r["id"] in wanted}
            out[pt.task.name] = Outcome(result, scores)
        return out


def open_run(name: str, parameters: dict[str, Any], config: EvalConfig, eligibility_check: Callable[[str], dict],
             ui=None, modes: tuple[str, ...] = ("generate",)) -> AttackRun:
    """Validate input, check eligibility and open (or resume) the attack's output dir.

    Every input problem fails here, before a model is loaded."""
    from code_unlearn_bench.models.loading import model_info, resolve_model

    config.validate()
    if not config.model:
        raise CubError("--model is required (the checkpoint to attack)")
    if not config.output_dir:
        raise CubError("--output-dir is required")
    prepared = prepare_tasks(config)
    for pt in prepared:
        if pt.task.kind != "forget":
            raise CubError(f"task '{pt.task.name}' is a {pt.task.kind} task; attacks target forget tasks")
        if pt.task.mode not in modes:
            raise CubError(f"the {name} attack needs a {' or '.join(modes)}-mode task; "
                           f"'{pt.task.name}' is {pt.task.mode}-mode")
    resolved = resolve_model(config.model)
    info = model_info(resolved)
    eligibility = eligibility_check(info.fingerprint)
    store = RunStore(config.output_dir)
    store.check_writable()
    identity = {"attack": name, "parameters": _hash(parameters), "model_fingerprint": info.fingerprint,
                "config": _hash(config.identity())}
    old = store.read_manifest().get("identity") if store.exists() else None
    if config.overwrite and old != identity:  # also clears settings left without a manifest
        for sub in OWNED_DIRS:
            shutil.rmtree(store.root / sub, ignore_errors=True)
    manifest = store.open(identity, overwrite=config.overwrite)
    manifest.setdefault("created_at", _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat())
    manifest.update(model=info.to_json(), environment=environment_info(), config=config.to_json(),
                    attack={"name": name, "parameters": parameters})
    return AttackRun(name, parameters, config, prepared, resolved, info, eligibility, store, manifest, ui)


# -- combining settings -----------------------------------------------------------------------
def effect_metric(primary: str, higher_is_better: bool, base: Outcome, attacked: Outcome) -> dict[str, Any]:
    """The drop in the attacked metric (positive: the attack recovered forgotten content).

    Paired per sample when the analyzer scores the metric per sample (bootstrap CI over the
    samples present in both settings); otherwise the difference of the two aggregates, no CI."""
    sign = 1.0 if higher_is_better else -1.0
    ids = [i for i in base.scores if i in attacked.scores]
    per_sample = ids and all(isinstance(base.scores[i].get(primary), (int, float)) and
                             isinstance(attacked.scores[i].get(primary), (int, float)) for i in ids)
    if per_sample:
        return metric([sign * (base.scores[i][primary] - attacked.scores[i][primary]) for i in ids],
                      higher_is_better=False)
    b = base.result["metrics"].get(primary, {}).get("value")
    a = attacked.result["metrics"].get(primary, {}).get("value")
    value = None if a is None or b is None else round(sign * (b - a), 6)
    return {"value": value, "ci95": None, "n": len(ids), "higher_is_better": False}


def per_sample_drops(primary: str, higher_is_better: bool, base: Outcome, attacked: Outcome) -> dict[str, tuple]:
    """sample id -> (drop, before, after) for samples scored per sample in both settings."""
    sign = 1.0 if higher_is_better else -1.0
    out = {}
    for i, b in base.scores.items():
        a = attacked.scores.get(i, {}).get(primary)
        if isinstance(b.get(primary), (int, float)) and isinstance(a, (int, float)):
            out[i] = (round(sign * (b[primary] - a), 6), b[primary], a)
    return out


def combine(run: AttackRun, task: str, outcomes: dict[str, Outcome], baseline: str, headline: str,
            extra: dict[str, dict[str, Any]] | None = None,
            extra_metrics: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """One task result: every setting's metrics keyed ``<metric>@<setting>``, the effect of
    attack of each non-baseline setting, and the ``attack`` object with the per-setting detail."""
    base = outcomes[baseline].result
    primary = base["primary_metric"]
    hib = bool(base["metrics"].get(primary, {}).get("higher_is_better", True))
    metrics: dict[str, Any] = {}
    settings: dict[str, Any] = {}
    gen_s = 0.0
    for name, oc in outcomes.items():
        for m, entry in oc.result["metrics"].items():
            metrics[f"{m}@{name}"] = entry
        detail = {"n": oc.result["task"]["n"], "metrics": oc.result["metrics"]}
        if oc.result.get("health"):
            detail["health"] = oc.result["health"]
        if name != baseline:
            detail["effect_of_attack"] = metrics[f"effect_of_attack@{name}"] = effect_metric(
                primary, hib, outcomes[baseline], oc)
        detail.update((extra or {}).get(name, {}))
        settings[name] = detail
        gen_s += float(oc.result.get("timings", {}).get("generation_s") or 0.0)
    metrics.update(extra_metrics or {})
    result = {k: base[k] for k in ("status", "task", "mode", "protocol", "generation") if k in base}
    result.update(
        primary_metric=f"{primary}@{headline}",
        metrics=metrics,
        timings={"generation_s": round(gen_s, 3), "samples_per_s": None},
        attack={"name": run.name, "parameters": run.parameters, "attacked_metric": primary,
                "higher_is_better": hib, "baseline": baseline, "headline": headline, "settings": settings,
                "effect_of_attack": f"drop of {primary} from '{baseline}' to each setting "
                                    f"(positive = forgotten content came back)"})
    return result


def write_results(run: AttackRun, task_results: dict[str, Any]) -> dict[str, Any]:
    from code_unlearn_bench import RESULT_SCHEMA_VERSION, __version__

    config = {**run.config.to_json(), "attack": {"name": run.name, "parameters": run.parameters}}
    results = {
        "schema_version": RESULT_SCHEMA_VERSION,
        "cub_version": __version__,
        "kind": "attack",
        "created_at": run.manifest["created_at"],
        "model": run.info.to_json(),
        "config": config,
        "config_hash": _hash({**run.config.identity(), "attack": config["attack"]}),
        "environment": run.manifest["environment"],
        "seed": run.config.seed,
        "tasks": task_results,
        "attack": {"name": run.name, "parameters": run.parameters, "eligibility": run.eligibility},
    }
    validate_results(results)
    run.begin()
    run.store.write_results(results)
    return results


def write_skipped(run: AttackRun) -> dict[str, Any]:
    """An ineligible checkpoint: every task skipped with the eligibility reason (no model load)."""
    reason = run.eligibility["reason"]
    tasks = {pt.task.name: {**skipped_result(pt, reason),
                            "attack": {"name": run.name, "parameters": run.parameters, "skipped": True}}
             for pt in run.prepared}
    return write_results(run, tasks)


def derived(pt: PreparedTask, samples: list, **changes: Any) -> PreparedTask:
    """The same task and data identity with other samples (and, e.g., another mode)."""
    task = dataclasses.replace(pt.task, **changes) if changes else pt.task
    return PreparedTask(task, samples, pt.data_hash, pt.source, pt.identity)
