"""Prepared tasks: every task of a run resolved, its data loaded and its settings computed once,
before any model is loaded (bad input fails fast).

A :class:`PreparedTask` is what the run path consumes: the samples (after ``--limit``), the hash
of the full data, the generation settings and sample count (``None``/1 in loglikelihood mode),
the analyzer instance, and the identity that a resumed run must match.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from code_unlearn_bench.analyzers.base import Analyzer
from code_unlearn_bench.comparability import generation_record
from code_unlearn_bench.config import EvalConfig
from code_unlearn_bench.models.base import GenerationSettings
from code_unlearn_bench.models.chat import prompt_format_json
from code_unlearn_bench.samples import Sample, data_hash
from code_unlearn_bench.tasks.spec import Task, get_task


@dataclass
class PreparedTask:
    task: Task
    samples: list[Sample]  # after --limit
    data_hash: str  # of the full (un-limited) data
    source: str | None
    analyzer: Analyzer
    generation: GenerationSettings | None = None  # None in loglikelihood mode
    num_samples: int = 1  # completions per prompt
    identity: dict[str, Any] = field(default_factory=dict)
    max_total_tokens: int | None = None  # prompt-inclusive budget of the protocol (the run path applies it)
    record: dict[str, Any] | None = None  # the generation block results.json records (None: loglikelihood)
    options: dict[str, Any] = field(default_factory=dict)  # task options as used (Task.recorded_options)

    @property
    def generates(self) -> bool:
        return self.task.mode == "generate"

    def derived(self, samples: list[Sample], **task_changes: Any) -> "PreparedTask":
        """The same task and data identity with other samples (and, e.g., another mode): what
        attacks evaluate. The analyzer is shared; the run path prepares it before each scoring."""
        task = dataclasses.replace(self.task, **task_changes) if task_changes else self.task
        generates = task.mode == "generate"
        return dataclasses.replace(self, task=task, samples=samples,
                                   generation=self.generation if generates else None,
                                   num_samples=self.num_samples if generates else 1,
                                   max_total_tokens=self.max_total_tokens if generates else None,
                                   record=self.record if generates else None)


def prepare_task(task: Task, config: EvalConfig) -> PreparedTask:
    source = config.data.get(task.name)
    options = config.options_for(task.name)
    analyzer = task.make_analyzer(options)  # unknown option -> error now, not after generation
    samples = task.load_samples(source, options)
    dh = data_hash(samples)
    limit = config.limit_for(task.name)
    generation = num_samples = total = record = None
    if task.mode == "generate":
        protocol = analyzer.generation_defaults()  # e.g. copyright `reference`: 1,024 tokens in total
        generation = task.generation_settings(max_new_tokens=config.max_new_tokens, temperature=config.temperature,
                                              top_p=config.top_p, seed=config.seed, protocol=protocol,
                                              apply_chat_template=config.apply_chat_template,
                                              system_prompt=config.system_prompt)
        num_samples = task.num_samples(config.num_samples)
        total = task.max_total_tokens(protocol)
        record = generation_record(generation, num_samples, total)
    identity = {"version": task.version, "data_hash": dh, "mode": task.mode, "generation": record}
    if not generation and config.apply_chat_template:  # generate tasks record it in "generation"
        identity["prompt_format"] = prompt_format_json(True, config.system_prompt)
    return PreparedTask(task, samples[:limit] if limit else samples, dh, source, analyzer, generation,
                        num_samples or 1, identity, total, record, task.recorded_options(options))


def prepare_tasks(config: EvalConfig) -> list[PreparedTask]:
    """Resolve every task of ``config`` and load its data (all tasks resolved before any loads)."""
    tasks = [get_task(name) for name in config.tasks]
    return [prepare_task(task, config) for task in tasks]


# -- the task part of results.json (the results format itself knows nothing of prepared tasks)
def task_header(pt: PreparedTask, n: int | None = None) -> dict[str, Any]:
    """The ``task`` object of a task result: what was run, on which data."""
    task = pt.task
    return {"name": task.name, "version": task.version, "kind": task.kind,
            "source": pt.source or task.default_source, "data_hash": pt.data_hash,
            "n": len(pt.samples) if n is None else n}


def skipped_result(pt: PreparedTask, reason: str) -> dict[str, Any]:
    return {"status": "skipped", "reason": reason, "task": task_header(pt)}
