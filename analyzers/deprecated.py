"""Deprecated-API forget quality: exact match of the API name after the code before the call.

Exact match (documented in docs/deprecated-apis.md): the completion, with leading whitespace
removed, must start with the answer and the next character must not continue an identifier
(``[A-Za-z0-9_]``). So ``float)`` and ``float64`` differ for the answer ``float``; ``append(x)``
matches ``append``. Generation stops at the first newline (task spec), so only the rest of the
call's line is generated.

Samples carry ``meta["split"]``: ``forget`` (deprecated API uses) or ``retain`` (current APIs).
forget_quality = 1 - exact-match rate on the forget split; the retained split's exact-match rate is
reported alongside (a model that forgets every API is no good unlearner), with a per-package
breakdown of both.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Sequence

from code_unlearn_bench.analyzers.base import Analyzer, GenerationRecord, metric
from code_unlearn_bench.samples import Sample


def exact_match(completion: str, answer: str) -> bool:
    text = completion.lstrip()
    if not answer or not text.startswith(answer):
        return False
    rest = text[len(answer):]
    return not rest or not (rest[0].isalnum() or rest[0] == "_")


def _rate(values: list[bool]) -> float | None:
    return round(sum(values) / len(values), 6) if values else None


class DeprecatedApi(Analyzer):
    name = "deprecated_api"
    primary_metric = "forget_quality"

    def protocol(self) -> dict[str, Any]:
        return {"analyzer": self.name,
                "exact_match": "completion.lstrip() starts with the API name, not followed by [A-Za-z0-9_]",
                "forget_quality": "1 - exact-match rate on the forget (deprecated) split",
                "retain": "exact-match rate on the retain (current API) split, higher is better"}

    def score(self, samples: Sequence[Sample], records: Sequence[GenerationRecord]) -> list[dict[str, Any]]:
        out = []
        for sample, record in zip(samples, records):
            hit = exact_match(record.get("completion", ""), sample.reference)
            out.append({"split": sample.meta.get("split", "forget"), "exact_match": hit})
        return out

    def aggregate(self, samples: Sequence[Sample], scores: Sequence[dict[str, Any]]) -> dict[str, Any]:
        forget = [float(s["exact_match"]) for s in scores if s["split"] == "forget"]
        retain = [float(s["exact_match"]) for s in scores if s["split"] == "retain"]
        metrics = {
            "forget_quality": metric([1.0 - v for v in forget]),
            "forget_exact_match": metric(forget, higher_is_better=False),
            "retain_exact_match": metric(retain),
        }
        per_package: dict[str, dict[str, list[bool]]] = defaultdict(lambda: {"forget": [], "retain": []})
        for sample, score in zip(samples, scores):
            per_package[str(sample.meta.get("package", "unknown"))][score["split"]].append(score["exact_match"])
        breakdown = {"package": {
            pkg: {"forget_n": len(g["forget"]), "forget_exact_match": _rate(g["forget"]),
                  "forget_quality": None if not g["forget"] else round(1.0 - _rate(g["forget"]), 6),
                  "retain_n": len(g["retain"]), "retain_exact_match": _rate(g["retain"])}
            for pkg, g in sorted(per_package.items())}}
        return {"metrics": metrics, "breakdown": breakdown}


ANALYZER = DeprecatedApi
