"""The unit every task produces: a prompt, the text the model should (or should not) produce."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Iterable


@dataclass(frozen=True)
class Sample:
    """One evaluation item.

    id:        stable, unique within the task (resume and re-scoring key on it)
    prompt:    exactly the text given to the model
    reference: the ground-truth continuation (the part to forget for forget tasks; may be "")
    meta:      task-specific fields (language, cwe, package, tests, entry_point, ...); JSON-able
    """

    id: str
    prompt: str
    reference: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def prompt_hash(self) -> str:
        return sha256_text(self.prompt)[:16]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "prompt": self.prompt, "reference": self.reference, "meta": self.meta}


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def data_hash(samples: Iterable[Sample]) -> str:
    """Hash of the normalised samples (independent of the file format they came from)."""
    h = hashlib.sha256()
    for s in samples:
        h.update(json.dumps(s.to_json(), sort_keys=True, ensure_ascii=False).encode("utf-8"))
        h.update(b"\n")
    return "sha256:" + h.hexdigest()
