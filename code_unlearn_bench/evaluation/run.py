"""`cub evaluate` and `cub score` as library calls: open the run directory, check that a resumed
run still means the same thing, hand the prepared tasks and the model to the run path, write
results.json.

    from code_unlearn_bench.evaluation.run import evaluate
    results = evaluate(EvalConfig(model="smollm2-135m", tasks=["copyright"], output_dir="runs/x"))
"""

from __future__ import annotations

from typing import Any

from code_unlearn_bench.evaluation import sessions, threads
from code_unlearn_bench.config import EvalConfig
from code_unlearn_bench.errors import CubError
from code_unlearn_bench.evaluation.prepare import PreparedTask, prepare_tasks
from code_unlearn_bench.results import environment_info, envelope, now_iso
from code_unlearn_bench.jsonio import hash_json
from code_unlearn_bench.evaluation.runner import run_tasks, score_tasks, skip_reason
from code_unlearn_bench.store import RunStore


def evaluate_results(manifest: dict[str, Any], config: EvalConfig, task_results: dict[str, Any]) -> dict[str, Any]:
    return envelope("evaluate", manifest=manifest, model=manifest["model"], config=config.to_json(),
                    config_hash=config.identity_hash(), seed=config.seed, tasks=task_results,
                    sessions=manifest.get("sessions", []))


def _open_run(store: RunStore, config: EvalConfig, prepared: list[PreparedTask], info) -> dict[str, Any]:
    """The run's manifest: a new one, or the saved one when identity and tasks still match."""
    run_identity = {"model_fingerprint": info.fingerprint, "config": hash_json(
        {k: v for k, v in config.identity().items() if k not in ("tasks", "data", "task_options")})}
    manifest = store.open(run_identity, overwrite=config.overwrite)
    for pt in prepared:  # a task generated earlier must still mean the same prompts
        old = manifest["tasks"].get(pt.task.name, {}).get("identity")
        if old is not None and old != pt.identity:
            if not config.overwrite:
                raise CubError(f"'{config.output_dir}' holds generations of task '{pt.task.name}' made with "
                               f"other data or settings; use another --output-dir or --overwrite")
            store.gen_path(pt.task.name).unlink(missing_ok=True)
            manifest["tasks"].pop(pt.task.name, None)
    manifest.setdefault("created_at", now_iso())
    manifest["model"] = info.to_json()
    manifest["environment"] = environment_info()
    manifest["config"] = config.to_json()
    for pt in prepared:
        manifest["tasks"].setdefault(pt.task.name, {"generation_s": 0.0, "n_generated": 0})["identity"] = pt.identity
    store.write_manifest(manifest)
    return manifest


def use_replicas(config: EvalConfig, caps) -> bool:
    """Child-process engines: for data parallelism, and always for a backend whose device memory is
    only reliably freed when its process ends (vLLM; `cub reproduce` evaluates dozens of checkpoints)."""
    return config.data_parallel_size > 1 or caps.child_process


def evaluate(config: EvalConfig, ui=None, model=None) -> dict[str, Any]:
    """Run (or resume) an evaluation; returns the results dict also written to results.json.

    ``model``: a handle already built by the caller (default: one opened from ``config.model``)."""
    from code_unlearn_bench.models.handle import BackendOptions, ModelHandle
    from code_unlearn_bench.models.selection import capabilities, check_backend_options

    config.validate()
    backend = check_backend_options(config)  # the one place the backend is chosen
    caps = capabilities(backend)
    if not config.output_dir:
        raise CubError("--output-dir is required")
    store = RunStore(config.output_dir)
    store.check_writable()
    prepared = prepare_tasks(config)
    n_threads = threads.apply(config.threads)  # before any model is built
    own = model is None
    if model is None and caps.served:  # identity from the server: connect now
        from code_unlearn_bench.models.openai import served_handle

        model = served_handle(config, loglikelihood=any(not pt.generates for pt in prepared))
    model = model or ModelHandle.open(config.model, BackendOptions.from_config(config))
    manifest = _open_run(store, config, prepared, model.info)
    session, before = sessions.start(manifest, config, n_threads), sessions.generated(manifest)
    store.write_manifest(manifest)
    try:
        if own and use_replicas(config, caps):  # vLLM and --data-parallel-size N: engines in child processes
            from code_unlearn_bench.evaluation.replicas import generate_in_replicas

            generate_in_replicas(store, manifest, [pt for pt in prepared if not skip_reason(pt, config)], config,
                                 backend, ui)
        task_results = run_tasks(store, manifest, prepared, model, config, ui)  # (after replicas: scoring only)
        sessions.end(session, model, sessions.generated(manifest) - before)  # before close: the backend it ran on
        store.write_manifest(manifest)
    finally:
        if own:
            model.close()
    results = evaluate_results(manifest, config, task_results)
    store.write_results(results)
    return results


def rescore(output_dir: str, ui=None) -> dict[str, Any]:
    """`cub score`: recompute every task's scores and results.json from saved generations."""
    from code_unlearn_bench.models.handle import ModelHandle

    store = RunStore(output_dir)
    manifest = store.read_manifest()
    if "config" not in manifest or "model" not in manifest:
        raise CubError(f"'{output_dir}' manifest is incomplete; the run never started generating")
    config = EvalConfig.from_dict(manifest["config"], origin="manifest")
    prepared = prepare_tasks(config)
    for pt in prepared:
        saved = manifest["tasks"].get(pt.task.name, {}).get("identity")
        if saved is not None and saved != pt.identity:
            raise CubError(f"task '{pt.task.name}' data or settings changed since generation "
                           f"(data hash {saved.get('data_hash')} -> {pt.identity['data_hash']})")
    from code_unlearn_bench.models.handle import BackendOptions

    # Only the tokenizer, only if a task needs it; a served model (--backend openai) records its own.
    tok_spec = (manifest["model"].get("server") or {}).get("tokenizer") or manifest["model"]["path"]
    model = ModelHandle.lazy(tok_spec, BackendOptions.from_config(config))
    results = evaluate_results(manifest, config, score_tasks(store, manifest, prepared, model, config, ui))
    store.write_results(results)
    return results
