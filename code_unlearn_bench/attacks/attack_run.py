"""What every attack shares: the :class:`Attack` plugin contract, the attack's run directory,
evaluating one attack setting through the core run path, and assembling results.json
(``"kind": "attack"``). :func:`run_attack` is the library entry point.

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

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from code_unlearn_bench.analyzers.base import metric
from code_unlearn_bench.config import EvalConfig
from code_unlearn_bench.errors import CubError
from code_unlearn_bench.models.handle import BackendOptions, ModelHandle
from code_unlearn_bench.evaluation.prepare import PreparedTask, prepare_tasks
from code_unlearn_bench.results import environment_info, envelope, now_iso
from code_unlearn_bench.evaluation.prepare import skipped_result
from code_unlearn_bench.jsonio import hash_json
from code_unlearn_bench.evaluation.runner import run_tasks
from code_unlearn_bench.store import RunStore

# Sub-folders an attack owns inside its output dir (removed by --overwrite of another attack).
OWNED_DIRS = ("settings", "relearn", "mia")


class Attack:
    """An attack plugin: one module in this package exposing ``ATTACK = <subclass>`` and one line
    in :data:`code_unlearn_bench.plugins.ATTACKS`.

    ``Settings`` is a dataclass with ``checked(config) -> Settings`` (one-line CubError on a bad
    value, normalised values) and ``parameters() -> dict`` (recorded in results.json and hashed
    into the run identity)."""

    name = ""
    help = ""
    modes: tuple[str, ...] = ("generate",)  # task modes the attack can target
    Settings: type = object

    @classmethod
    def add_arguments(cls, parser) -> None:
        """The attack's own CLI flags (the common ones are added by `cub attack`)."""

    @classmethod
    def settings_from_args(cls, args) -> Any:
        raise NotImplementedError

    @classmethod
    def run(cls, run: "AttackRun", settings: Any) -> dict[str, Any]:
        """Evaluate every setting (``run.evaluate_setting``) and write results (``write_results``)."""
        raise NotImplementedError


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
    handles: list[ModelHandle] = field(default_factory=list)  # closed when the attack ends

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
        """The attacked model (resolved once, in open_run), or ``config.model`` when it differs."""
        config = config or self.config
        options = BackendOptions.from_config(config)
        if config.model == self.config.model:
            handle = ModelHandle.of(self.resolved, self.info, options)
        else:
            handle = ModelHandle.open(config.model, options)
        self.handles.append(handle)
        return handle

    def close(self) -> None:
        """Tear down every backend the attack loaded (a vLLM engine holds its GPU until then)."""
        for handle in self.handles:
            handle.close()
        self.handles.clear()

    def evaluate_setting(self, setting: str, handle, prepared: list[PreparedTask],
                         config: EvalConfig | None = None) -> dict[str, Outcome]:
        """Generate (resumably) and score ``prepared`` under ``setting`` through the run path.

        ``handle`` is anything with ``.backend`` (loaded only if generation is pending) and
        ``.tokenizer`` (see evaluation.runner.Model): the attacks pass transformed models through it."""
        config = config or self.config
        self.begin()
        store = RunStore(self.root / "settings" / setting)
        # the attack's identity (checked in open_run) plus the setting: a resumed setting reuses
        # its saved generations; score_task refuses any whose prompt changed since
        manifest = store.open({**self.identity, "setting": setting}, overwrite=False)
        store.write_manifest(manifest)
        self.note(f"{self.name} attack: setting '{setting}'")
        scores: dict[str, dict[str, dict[str, Any]]] = {}
        results = run_tasks(store, manifest, prepared, handle, config, self.ui, sample_scores=scores)
        return {pt.task.name: Outcome(results[pt.task.name], scores[pt.task.name]) for pt in prepared}


def open_run(name: str, parameters: dict[str, Any], config: EvalConfig, eligibility_check: Callable[[str], dict],
             ui=None, modes: tuple[str, ...] = ("generate",)) -> AttackRun:
    """Validate input, check eligibility and open (or resume) the attack's output dir.

    Every input problem fails here, before a model is loaded."""
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
    model = ModelHandle.open(config.model, BackendOptions.from_config(config))
    resolved, info = model.resolved, model.info
    eligibility = eligibility_check(info.fingerprint)
    store = RunStore(config.output_dir)
    store.check_writable()
    identity = {"attack": name, "parameters": hash_json(parameters), "model_fingerprint": info.fingerprint,
                "config": hash_json(config.identity())}
    old = store.read_manifest().get("identity") if store.exists() else None
    if config.overwrite and old != identity:  # also clears settings left without a manifest
        for sub in OWNED_DIRS:
            shutil.rmtree(store.root / sub, ignore_errors=True)
    manifest = store.open(identity, overwrite=config.overwrite)
    manifest.setdefault("created_at", now_iso())
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
    attack = {"name": run.name, "parameters": run.parameters}
    results = envelope("attack", manifest=run.manifest, model=run.info.to_json(),
                       config={**run.config.to_json(), "attack": attack},
                       config_hash=hash_json({**run.config.identity(), "attack": attack}), seed=run.config.seed,
                       tasks=task_results, attack={**attack, "eligibility": run.eligibility})
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


def run_attack(attack: type[Attack] | str, settings: Any, config: EvalConfig, eligibility=None,
               ui=None) -> dict[str, Any]:
    """The library call behind `cub attack NAME`: check the settings, open (or resume) the attack's
    run dir, check eligibility (``eligibility``: an :class:`~code_unlearn_bench.attacks.eligibility.
    EligibilityInputs`, None = not checked), run the attack or record the skip; returns results."""
    from code_unlearn_bench.attacks.eligibility import EligibilityInputs
    from code_unlearn_bench.plugins import ATTACKS

    attack = ATTACKS.load(attack) if isinstance(attack, str) else attack
    settings = settings.checked(config)
    eligibility = eligibility or EligibilityInputs()
    run = open_run(attack.name, settings.parameters(), config, eligibility.check, ui=ui, modes=attack.modes)
    if run.eligibility["eligible"] is False:  # None: not judged (no utility runs given), attacked
        return write_skipped(run)
    try:
        return attack.run(run, settings)
    finally:
        run.close()
