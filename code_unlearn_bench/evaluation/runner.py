"""The one run path: generate (resumably) and score prepared tasks with a given model.

`cub evaluate`, `cub score` and every attack go through here:

    results = run_tasks(store, manifest, prepared, model, config, ui)   # {task: task result}

``model`` is anything with ``.backend`` (built only if generation is pending) and ``.tokenizer``
(:class:`code_unlearn_bench.models.handle.ModelHandle`, or one wrapping a backend the caller
built). Generation and scoring are separate steps: records are saved per sample as they are
made, and scoring only reads them, so a run is re-scored without the model and reproduces
results.json bit-for-bit (nothing time-dependent is computed at scoring time).
"""

from __future__ import annotations

import time
from typing import Any, Callable, Protocol

from code_unlearn_bench import comparability
from code_unlearn_bench.evaluation import token_budget
from code_unlearn_bench.analyzers.base import AnalysisContext, GenerationRecord
from code_unlearn_bench.config import EvalConfig
from code_unlearn_bench.errors import CubError
from code_unlearn_bench.models.seeds import sample_seed
from code_unlearn_bench.evaluation.prepare import PreparedTask
from code_unlearn_bench.evaluation.prepare import skipped_result, task_header
from code_unlearn_bench.store import RunStore


class Model(Protocol):
    @property
    def backend(self): ...

    @property
    def tokenizer(self): ...


def records_by_id(store: RunStore, task: str) -> dict[str, GenerationRecord]:
    out: dict[str, GenerationRecord] = {}
    for r in store.read_records(task):
        out.setdefault(r["id"], r)  # a duplicate can only be a re-append; keep the first
    return out


SampleScores = dict[str, dict[str, dict[str, Any]]]  # task -> sample id -> the analyzer's scores


def _generate_chunk(backend, pt: PreparedTask, chunk, config: EvalConfig) -> list[GenerationRecord]:
    if not pt.generates:
        lps = backend.loglikelihood([(s.prompt, s.reference) for s in chunk], batch_size=config.batch_size)
        return [{"id": s.id, "prompt_hash": s.prompt_hash(),
                 "loglikelihood": {"sum": sum(lp), "n_tokens": len(lp), "token_logprobs": lp}}
                for s, lp in zip(chunk, lps)]
    n = pt.num_samples
    # Seeds from (run seed, sample id, copy): independent of chunking, order and resumes.
    seeds = [sample_seed(config.seed, s.id, j) for s in chunk for j in range(n)]
    outs = token_budget.generate(backend, [s.prompt for s in chunk for _ in range(n)], pt.generation, config.batch_size,
                           pt.max_total_tokens, seeds=seeds)
    records: list[GenerationRecord] = [{"id": s.id, "prompt_hash": s.prompt_hash(), "completion": outs[i * n]}
                                       for i, s in enumerate(chunk)]
    if n > 1:
        for i, r in enumerate(records):
            r["completions"] = outs[i * n:(i + 1) * n]
    return records


def generate_samples(store: RunStore, gen_name: str, pt: PreparedTask, pending: list, backend,
                     config: EvalConfig, on_chunk: Callable[[int, float], None] | None = None) -> None:
    """Generate ``pending`` samples of ``pt`` and append their records to the generation file
    ``gen_name`` chunk by chunk (the unit a crashed run resumes from)."""
    # Longest prompts first, so each batch pads little; the order is deterministic.
    pending = sorted(pending, key=lambda s: -len(s.prompt))
    # hf: one batch per call; vLLM: a few hundred samples per call (it batches them itself).
    step = max(1, (backend.chunk_size or config.batch_size * pt.num_samples) // pt.num_samples)
    for start in range(0, len(pending), step):
        chunk = pending[start:start + step]
        t0 = time.perf_counter()
        store.append_records(gen_name, _generate_chunk(backend, pt, chunk, config))
        if on_chunk:
            on_chunk(len(chunk), time.perf_counter() - t0)


def generate_task(store: RunStore, manifest: dict[str, Any], pt: PreparedTask, model: Model,
                  config: EvalConfig, progress=None) -> None:
    """Generate the samples of ``pt`` that have no saved record yet (appended, fsynced per chunk)."""
    name = pt.task.name
    done = records_by_id(store, name)
    pending = [s for s in pt.samples if s.id not in done]
    tstate = manifest["tasks"].setdefault(name, {"generation_s": 0.0, "n_generated": 0})
    if progress:
        progress.start(name, total=len(pt.samples), completed=len(pt.samples) - len(pending))
    if not pending:
        return

    def on_chunk(n: int, elapsed: float) -> None:
        tstate["generation_s"] = round(tstate["generation_s"] + elapsed, 3)
        tstate["n_generated"] += n
        store.write_manifest(manifest)
        if progress:
            progress.advance(name, n)

    generate_samples(store, name, pt, pending, model.backend, config, on_chunk)


def analysis_context(pt: PreparedTask, tokenizer, config: EvalConfig) -> AnalysisContext:
    from code_unlearn_bench.env import get_env

    return AnalysisContext(tokenizer=tokenizer, cache_dir=get_env().cache_dir, task=pt.task, generation=pt.generation,
                           allow_code_execution=config.allow_code_execution, sandbox=config.sandbox,
                           allow_unsafe_execution=config.allow_unsafe_execution, exec_workers=config.exec_workers,
                           quiet=config.quiet)


def _saved_records(pt: PreparedTask, all_records: list[GenerationRecord]) -> list[GenerationRecord]:
    """The records of ``pt.samples`` in sample order, checked complete and unchanged."""
    name = pt.task.name
    by_id: dict[str, GenerationRecord] = {}
    for r in all_records:
        by_id.setdefault(r["id"], r)  # a duplicate can only be a re-append; keep the first
    missing = [s.id for s in pt.samples if s.id not in by_id]
    if missing:
        raise CubError(f"task '{name}': {len(missing)} samples have no generation (first: {missing[0]}); "
                       f"run `cub evaluate` again to finish generating")
    records = [by_id[s.id] for s in pt.samples]
    for s, r in zip(pt.samples, records):
        if r.get("prompt_hash") != s.prompt_hash():
            raise CubError(f"task '{name}': sample '{s.id}' prompt changed since generation; re-run with --overwrite")
    return records


def score_task(store: RunStore, manifest: dict[str, Any], pt: PreparedTask, model: Model,
               config: EvalConfig, sample_scores: SampleScores | None = None) -> dict[str, Any]:
    """Score the saved records of ``pt``; per-sample scores are written beside them (and into
    ``sample_scores[task]`` when given: attacks compare settings per sample)."""
    from code_unlearn_bench.evaluation.health import diagnose

    name, analyzer = pt.task.name, pt.analyzer
    all_records = store.read_records(name)  # the one read of the generations file
    records = _saved_records(pt, all_records)
    analyzer.prepare(analysis_context(pt, model.tokenizer, config))
    scores = analyzer.score(pt.samples, records)
    if len(scores) != len(records):
        raise CubError(f"analyzer '{analyzer.name}' returned {len(scores)} scores for {len(records)} samples")
    aggregated = analyzer.aggregate(pt.samples, scores)
    # Store per-sample scores beside the generations (all records, including any beyond --limit).
    by_id = {s.id: sc for s, sc in zip(pt.samples, scores)}
    if sample_scores is not None:  # in file order: attacks' paired statistics depend on it
        sample_scores[name] = {r["id"]: by_id[r["id"]] for r in all_records if r["id"] in by_id}
    for r in all_records:
        if r["id"] in by_id:
            r["scores"] = by_id[r["id"]]
    store.rewrite_records(name, all_records)

    tstate = manifest["tasks"].get(name, {})
    gen_s = float(tstate.get("generation_s", 0.0))
    n_gen = int(tstate.get("n_generated", 0))
    result: dict[str, Any] = {
        "status": "completed",
        "task": task_header(pt),
        "mode": pt.task.mode,
        "protocol": analyzer.protocol(),
        "primary_metric": analyzer.primary_metric,
        "metrics": aggregated["metrics"],
        "timings": {"generation_s": round(gen_s, 3), "samples_per_s": round(n_gen / gen_s, 4) if gen_s > 0 else None},
    }
    if "prompt_format" in pt.identity:  # chat-templated log-likelihood scoring never compares with plain
        result["prompt_format"] = pt.identity["prompt_format"]
    if pt.generates:
        result["generation"] = pt.record
        result["health"] = diagnose([r.get("completion", "") for r in records],
                                    prompts=[s.prompt for s in pt.samples],
                                    languages=[s.meta.get("language") for s in pt.samples])
    for key in ("breakdown", "extra"):
        if aggregated.get(key):
            result[key] = aggregated[key]
    result["options"] = pt.options
    result["comparability"] = comparability.record(result)
    return result


def skip_reason(pt: PreparedTask, config: EvalConfig) -> str | None:
    if pt.analyzer.needs_code_execution and not config.allow_code_execution:
        return (f"task '{pt.task.name}' executes model-generated code; pass --allow-code-execution "
                f"to run it (in the sandbox)")
    return None


def generate_tasks(store: RunStore, manifest: dict[str, Any], prepared: list[PreparedTask], model: Model,
                   config: EvalConfig, ui=None) -> None:
    for pt in prepared:
        generate_task(store, manifest, pt, model, config, progress=ui.progress if ui else None)


def score_tasks(store: RunStore, manifest: dict[str, Any], prepared: list[PreparedTask], model: Model,
                config: EvalConfig, ui=None, sample_scores: SampleScores | None = None) -> dict[str, Any]:
    """Task results of ``prepared`` from saved records (skipped tasks say why)."""
    out: dict[str, Any] = {}
    for pt in prepared:
        reason = skip_reason(pt, config)
        out[pt.task.name] = skipped_result(pt, reason) if reason else \
            score_task(store, manifest, pt, model, config, sample_scores)
    return out


def run_tasks(store: RunStore, manifest: dict[str, Any], prepared: list[PreparedTask], model: Model,
              config: EvalConfig, ui=None, sample_scores: SampleScores | None = None) -> dict[str, Any]:
    """Generate what is missing, then score every task: ``{task name: task result}``."""
    runnable = []
    for pt in prepared:
        reason = skip_reason(pt, config)
        if reason and ui:
            ui.note(reason)
        if not reason:
            runnable.append(pt)
    generate_tasks(store, manifest, runnable, model, config, ui)
    return score_tasks(store, manifest, prepared, model, config, ui, sample_scores)
