"""Task specs: one YAML spec per task in the top-level ``tasks/`` folder (this package), or in a
package a user's installed package names under the ``cub.tasks`` entry point.

A spec names a loader (``code_unlearn_bench.loaders.<name>:load``) and an analyzer
(``code_unlearn_bench.analyzers.<name>:ANALYZER``); both are imported only when used, so adding a
task is adding a spec file plus, if needed, a loader and an analyzer module: the core is untouched.
"""

from __future__ import annotations

import functools
import importlib.resources
from dataclasses import dataclass, field
from typing import Any

from code_unlearn_bench.comparability import generation_key, generation_record
from code_unlearn_bench.errors import SAMPLING_HINT, CubError, DataError
from code_unlearn_bench.models.base import GenerationSettings
from code_unlearn_bench.plugins import ANALYZERS, LOADERS, TASK_SPEC_PACKAGES, TASKS_GROUP
from code_unlearn_bench.registry import did_you_mean, entry_point_targets
from code_unlearn_bench.samples import Sample, data_hash

_REQUIRED = {"name", "version", "kind", "loader", "analyzer"}
_ALLOWED = _REQUIRED | {"description", "loader_options", "default_source", "mode", "generation",
                        "analyzer_options", "paper_section", "execution_options", "canonical",
                        "retain"}
_CANONICAL_PARTS = ("generation", "options")


@dataclass(frozen=True)
class Task:
    name: str
    version: str
    kind: str
    loader: str
    analyzer: str
    description: str = ""
    default_source: str = ""
    mode: str = "generate"
    loader_options: dict[str, Any] = field(default_factory=dict)
    generation: dict[str, Any] = field(default_factory=dict)
    analyzer_options: dict[str, Any] = field(default_factory=dict)
    paper_section: str = ""
    # options that change how a run executes, never a score (left out of the comparability key)
    execution_options: tuple[str, ...] = ()
    # the leaderboard's protocol: {"generation": {...}, "options": {...}} over the spec's defaults
    canonical: dict[str, Any] = field(default_factory=dict)
    # forget tasks: how the retain set of retain-based unlearning methods is built (unlearn.retain)
    retain: dict[str, Any] = field(default_factory=dict)

    def load_samples(self, source: str | None = None, options: dict[str, Any] | None = None,
                     limit: int | None = None) -> list[Sample]:
        loader_opts, _ = self.split_options(options)
        samples = LOADERS.load(self.loader)(source, {**self.loader_options, **loader_opts})
        if not samples:
            where = source or self.default_source or "the default source"
            raise DataError(f"task '{self.name}': no samples in {where}")
        ids = [s.id for s in samples]
        if len(set(ids)) != len(ids):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise DataError(f"task '{self.name}': duplicate sample id '{dup}' in {source or self.default_source}")
        return samples[:limit] if limit else samples

    def data_hash(self, source: str | None = None, options: dict[str, Any] | None = None) -> str:
        return data_hash(self.load_samples(source, options))

    def make_analyzer(self, options: dict[str, Any] | None = None):
        cls = ANALYZERS.load(self.analyzer)
        _, analyzer_opts = self.split_options(options)
        return cls(**{**self.analyzer_options, **analyzer_opts})

    def recorded_options(self, options: dict[str, Any] | None = None) -> dict[str, Any]:
        """Every loader and analyzer option as used (spec defaults under ``options``), without the
        execution-only ones: what results.json records and the comparability key compares."""
        loader, analyzer = self.split_options(options)
        merged = {**self.loader_options, **self.analyzer_options, **loader, **analyzer}
        return {k: merged[k] for k in sorted(merged) if k not in self.execution_options}

    def canonical_settings(self) -> dict[str, Any]:
        """The settings a leaderboard submission must have been run with: the spec's defaults
        (what a plain ``cub evaluate`` records) overlaid with its ``canonical`` block."""
        declared = self.canonical or {}
        return {"generation": generation_key({**(self.generation_record() or {}), **(declared.get("generation") or {})})
                if self.mode == "generate" else None,
                "options": {**self.recorded_options(), **(declared.get("options") or {})}}

    def split_options(self, options: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
        """User task options -> (loader options, analyzer options). Every option a task accepts is
        declared with its default in the spec, so a typo is an error instead of being ignored."""
        loader, analyzer = {}, {}
        for key, value in (options or {}).items():
            if key in self.loader_options:
                loader[key] = value
            elif key in self.analyzer_options:
                analyzer[key] = value
            else:
                known = [*self.loader_options, *self.analyzer_options]
                raise CubError(f"task '{self.name}' has no option '{key}' {did_you_mean(key, known)}")
        return loader, analyzer

    def generation_settings(self, max_new_tokens: int | None = None, temperature: float | None = None,
                            seed: int = 1234, apply_chat_template: bool = False,
                            system_prompt: str | None = None, top_p: float | None = None,
                            protocol: dict[str, Any] | None = None) -> GenerationSettings:
        """The spec's generation settings under the analyzer protocol's (``protocol``: its
        ``generation_defaults()``, e.g. a token budget) with the run's overrides (None: not set)."""
        g = {**self.generation, **(protocol or {})}
        max_new = max_new_tokens or g.get("max_new_tokens", 256)
        if temperature is None:
            temperature = g.get("temperature", 0.0)
        if top_p is None:
            top_p = g.get("top_p", 1.0)
        return GenerationSettings(max_new_tokens=int(max_new), stop=tuple(g.get("stop", ()) or ()),
                                  temperature=float(temperature), top_p=float(top_p), seed=int(seed),
                                  apply_chat_template=apply_chat_template, system_prompt=system_prompt)

    def max_total_tokens(self, protocol: dict[str, Any] | None = None) -> int | None:
        """Budget of prompt + continuation tokens (the reference BLEU code's max_length), if any."""
        total = {**self.generation, **(protocol or {})}.get("max_total_tokens")
        return int(total) if total else None

    def num_samples(self, override: int | None = None) -> int:
        return int(override or self.generation.get("num_samples", 1))

    def generation_record(self, options: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """What a plain run with task ``options`` records as its generation settings (None in
        loglikelihood mode)."""
        if self.mode != "generate":
            return None
        protocol = self.make_analyzer(options).generation_defaults()
        return generation_record(self.generation_settings(protocol=protocol), self.num_samples(),
                                 self.max_total_tokens(protocol))


def _parse_spec(filename: str, text: str) -> Task:
    import yaml

    try:
        spec = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CubError(f"task spec {filename} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(spec, dict):
        raise CubError(f"task spec {filename} must be a mapping")
    missing = _REQUIRED - spec.keys()
    if missing:
        raise CubError(f"task spec {filename} lacks {', '.join(sorted(missing))}")
    unknown = spec.keys() - _ALLOWED
    if unknown:
        key = sorted(unknown)[0]
        raise CubError(f"task spec {filename}: unknown key '{key}' {did_you_mean(key, _ALLOWED)}")
    if spec["kind"] not in ("forget", "utility"):
        raise CubError(f"task spec {filename}: kind must be forget or utility")
    if spec.get("mode", "generate") not in ("generate", "loglikelihood"):
        raise CubError(f"task spec {filename}: mode must be generate or loglikelihood")
    spec["version"] = str(spec["version"])
    spec["execution_options"] = tuple(spec.get("execution_options") or ())
    canonical = spec.get("canonical") or {}
    if not isinstance(canonical, dict) or set(canonical) - set(_CANONICAL_PARTS):
        raise CubError(f"task spec {filename}: canonical must be a mapping with keys {', '.join(_CANONICAL_PARTS)}")
    options = {**(spec.get("loader_options") or {}), **(spec.get("analyzer_options") or {})}
    for name in [*(canonical.get("options") or {}), *spec["execution_options"]]:
        if name not in options:
            raise CubError(f"task spec {filename}: canonical/execution option '{name}' is not a declared option "
                           f"{did_you_mean(name, options)}")
    spec["canonical"] = canonical
    generation = spec.get("generation") or {}
    if int(generation.get("num_samples", 1) or 1) > 1 and not generation.get("temperature"):
        raise CubError(f"task spec {filename}: num_samples > 1 needs a temperature > 0 ({SAMPLING_HINT})")
    for key in ("loader_options", "generation", "analyzer_options", "retain"):
        spec[key] = spec.get(key) or {}
    return Task(**spec)


def _spec_packages() -> list[str]:
    """The built-in spec package, then those installed packages declare (``cub.tasks`` entry points)."""
    return [TASK_SPEC_PACKAGES, *entry_point_targets(TASKS_GROUP).values()]


@functools.lru_cache(maxsize=1)
def _all_tasks() -> dict[str, Task]:
    tasks: dict[str, Task] = {}
    for package in _spec_packages():
        try:
            root = importlib.resources.files(package)
        except ModuleNotFoundError as exc:
            raise CubError(f"task spec package '{package}' (entry point group {TASKS_GROUP}) "
                           f"cannot be imported ({exc})") from None
        for entry in sorted(root.iterdir(), key=lambda e: e.name):
            if entry.name.endswith((".yaml", ".yml")):
                task = _parse_spec(entry.name, entry.read_text(encoding="utf-8"))
                tasks.setdefault(task.name, task)  # a built-in task wins over a plug-in's of the same name
    return tasks


def list_tasks() -> list[Task]:
    return list(_all_tasks().values())


def get_task(name: str) -> Task:
    tasks = _all_tasks()
    if name not in tasks:
        raise CubError(f"unknown task '{name}' {did_you_mean(name, tasks)}")
    return tasks[name]
