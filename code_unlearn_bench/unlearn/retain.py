"""Retain sets: what retain-based unlearning methods (GradDiff, RMU) must keep while forgetting.

Each forget task declares its retain set in its spec (``retain:`` in ``tasks/<task>.yaml``) by a
builder named here, so the choice is visible next to the task and the same for every method:

  copyright   ``stdlib``          held-out code: standard-library files not in the forget set
  insecure    ``secure_context``  the code before each insecure line, split into context and its
                                  last ``lines`` lines (CyberSecEval has no secure completions of
                                  the same prompts; the code leading up to the flagged line is the
                                  secure code of the same files)
  deprecated  ``split``           the same loader with ``options`` (``split: retain``): the
                                  still-valid APIs

``cub unlearn --retain-data PATH`` replaces the declared set by a source in the task's own format.
A retain set never shares a text with the forget set (checked), and the trainer prints which one
was used in one line and records it in run.json.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Callable

from code_unlearn_bench.errors import CubError, DataError
from code_unlearn_bench.unlearn.data import ForgetPair, ForgetSet, to_pair


@dataclass
class RetainSet:
    description: str
    pairs: list[ForgetPair]
    source: str  # builder name or the --retain-data path

    @property
    def hash(self) -> str:
        text = json.dumps([[p.id, p.prompt, p.answer] for p in self.pairs])
        return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()

    def summary(self) -> str:
        return f"retain set: {self.description} ({len(self.pairs)} samples, {self.source})"

    def record(self) -> dict[str, Any]:
        return {"description": self.description, "source": self.source, "n": len(self.pairs), "hash": self.hash}


def _texts(pairs) -> set[str]:
    return {(p.prompt + p.answer).strip() for p in pairs}


def _stdlib(task, forget: ForgetSet, spec: dict) -> list[ForgetPair]:
    """The shipped disjoint stdlib files taken from the END (at most half of them): the MIA's
    default holdout takes them from the front, and a file a method trained on must not be
    "never seen" there (disjoint while the forget set has at most half as many files)."""
    from code_unlearn_bench.loaders.copyright import packaged_jsonl

    forget_texts = [t for t in _texts(forget.pairs) if t]
    shipped = packaged_jsonl("disjoint.jsonl")
    # files that contain (or are contained in) a forget text are not held out from it
    kept = [r for r in reversed(shipped) if not any(f in r["content"] or r["content"].strip() in f for f in forget_texts)]
    return [ForgetPair(r["task_id"], "", r["content"]) for r in kept[:min(len(forget.pairs), len(shipped) // 2)]]


def _secure_context(task, forget: ForgetSet, spec: dict) -> list[ForgetPair]:
    n_lines = int(spec.get("lines", 4))
    out = []
    for pair in forget.pairs:
        lines = pair.prompt.splitlines(keepends=True)
        if len(lines) < 2:
            continue
        cut = max(1, len(lines) - n_lines)
        answer = "".join(lines[cut:])
        if answer.strip():
            out.append(ForgetPair(f"retain/{pair.id}", "".join(lines[:cut]), answer))
    return out


def _split(task, forget: ForgetSet, spec: dict) -> list[ForgetPair]:
    options = {**forget.options, **spec.get("options", {})}
    samples = task.load_samples(forget.source, options)
    forget_ids = {p.id for p in forget.pairs}
    return [to_pair(task.name, s) for s in samples if s.id not in forget_ids]


BUILDERS: dict[str, Callable[[Any, ForgetSet, dict], list[ForgetPair]]] = {
    "stdlib": _stdlib, "secure_context": _secure_context, "split": _split}


def load_retain_set(forget: ForgetSet, source: str | None = None) -> RetainSet:
    from code_unlearn_bench.tasks.spec import get_task

    task = get_task(forget.task)
    if source:
        samples = task.load_samples(source, forget.options)
        pairs, description = [to_pair(task.name, s) for s in samples], f"--retain-data {source}"
    else:
        spec = task.retain
        if not spec:
            raise CubError(f"task '{task.name}' declares no retain set; give --retain-data (a source in its format)")
        builder = BUILDERS.get(spec.get("builder"))
        if builder is None:
            raise CubError(f"task '{task.name}': unknown retain builder {spec.get('builder')!r} "
                           f"(known: {', '.join(BUILDERS)})")
        pairs, description = builder(task, forget, spec), spec.get("description", spec["builder"])
        source = spec["builder"]
    pairs = [p for p in pairs if p.answer.strip()]
    shared = _texts(pairs) & _texts(forget.pairs)
    if shared:
        raise CubError(f"the retain set shares {len(shared)} text(s) with the forget set; "
                       f"a method cannot both forget and keep them")
    if not pairs:
        raise DataError(f"the retain set of task '{task.name}' is empty ({description})")
    return RetainSet(description, pairs, source)
