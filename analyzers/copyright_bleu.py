"""Copyright forget quality: 1 - BLEU of the continuation of a file's first half vs its second half.

Three protocols (``protocol`` option), each with the generation budget it prescribes:

* ``reference`` (default): PROD's reference code exactly. The model continues greedily up to
  1,024 tokens *in total* (prompt included: per sample ``max_new_tokens = 1024 - prompt tokens``,
  capped by ``--max-new-tokens``), and the continuation is scored against the *whole* second half
  with unsmoothed 4-gram sentence BLEU over the tokenizer's tokens, mean over files.
* ``reference-truncated``: the same BLEU, but 256 new tokens and the second half cut to those 256
  tokens first (what this project called ``reference`` up to task version 1.0): measures how much
  of the budget the model reproduces, without BLEU's brevity penalty for the rest of a long file.
* ``cyberseceval``: CyberSecEval's text BLEU (13a, exp smoothing), 256 new tokens, the second half
  cut to the budget.
"""

from __future__ import annotations

from typing import Any, Sequence

from code_unlearn_bench.analyzers.base import AnalysisContext, Analyzer, GenerationRecord, metric
from code_unlearn_bench.analyzers.bleu import PROTOCOLS, text_bleu, token_bleu
from code_unlearn_bench.errors import CubError
from code_unlearn_bench.registry import did_you_mean
from code_unlearn_bench.samples import Sample

# protocol -> the generation budget it prescribes (--max-new-tokens still caps it)
BUDGETS: dict[str, dict[str, int]] = {
    "reference": {"max_new_tokens": 1024, "max_total_tokens": 1024},
    "reference-truncated": {"max_new_tokens": 256},
    "cyberseceval": {"max_new_tokens": 256},
}
_DESCRIPTIONS = {
    "reference": "PROD reference code: greedy up to 1024 tokens in total (prompt included), unsmoothed 4-gram "
                 "sentence BLEU over tokenizer token ids (nltk sentence_bleu semantics, computed by sacrebleu "
                 "tokenize=none) against the whole second half, mean over files",
    "reference-truncated": "unsmoothed 4-gram sentence BLEU over tokenizer token ids against the second half cut "
                           "to the generation budget (max_new_tokens tokens), mean over files",
    "cyberseceval": "per-sample sacrebleu BLEU, 13a tokenizer, exp smoothing, against the second half cut to the "
                    "generation budget, mean over samples",
}


class CopyrightBleu(Analyzer):
    name = "copyright_bleu"
    primary_metric = "forget_quality"

    def __init__(self, protocol: str = "reference", **options: Any):
        if protocol not in PROTOCOLS:
            raise CubError(f"unknown BLEU protocol '{protocol}' {did_you_mean(str(protocol), PROTOCOLS)}")
        super().__init__(protocol=protocol, **options)
        self.bleu_protocol = protocol
        self.truncate_reference = protocol != "reference"
        self.tokenizer = None
        self.budget = None
        self.total_budget = BUDGETS[protocol].get("max_total_tokens")

    def generation_defaults(self) -> dict[str, Any]:
        return dict(BUDGETS[self.bleu_protocol])

    def protocol(self) -> dict[str, Any]:
        return {"analyzer": self.name, "bleu": self.bleu_protocol, "bleu_description": _DESCRIPTIONS[self.bleu_protocol],
                "split": "file split on single spaces, first floor(n/2) pieces are the prompt",
                "reference_truncated_to_generation_budget": self.truncate_reference,
                "generation_budget_tokens": self.budget,
                "generation_total_tokens": self.total_budget,
                "forget_quality": "1 - BLEU"}

    def prepare(self, context: AnalysisContext) -> None:
        self.tokenizer = context.tokenizer
        self.budget = context.generation.max_new_tokens if context.generation is not None else None
        if self.tokenizer is None:  # token BLEU, and cutting the reference to a token budget
            raise CubError("copyright scoring needs the model's tokenizer")

    def _ids(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def score(self, samples: Sequence[Sample], records: Sequence[GenerationRecord]) -> list[dict[str, Any]]:
        out = []
        for sample, record in zip(samples, records):
            completion = record["completion"]
            ref_ids = self._ids(sample.reference) if self.tokenizer is not None else None
            reference = sample.reference
            # With a short budget, comparing against the whole second half would let BLEU's brevity
            # penalty report forgetting that did not happen: the truncated protocols cut it.
            if self.truncate_reference and self.budget and ref_ids is not None and len(ref_ids) > self.budget:
                ref_ids = ref_ids[:self.budget]
                reference = self.tokenizer.decode(ref_ids)
            if self.bleu_protocol == "cyberseceval":
                bleu = text_bleu(completion, reference)
            else:
                bleu = token_bleu(self._ids(completion), ref_ids)
            bleu = min(1.0, max(0.0, bleu))  # float noise can put a perfect match at 1 + 1e-16
            out.append({"bleu": round(bleu, 6), "forget_quality": round(1.0 - bleu, 6) + 0.0})
        return out

    def aggregate(self, samples: Sequence[Sample], scores: Sequence[dict[str, Any]]) -> dict[str, Any]:
        return {"metrics": {
            "forget_quality": metric([s["forget_quality"] for s in scores]),
            "bleu": metric([s["bleu"] for s in scores], higher_is_better=False),
        }}


ANALYZER = CopyrightBleu
