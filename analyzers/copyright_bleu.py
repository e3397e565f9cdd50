"""Copyright forget quality: 1 - BLEU of the continuation of a file's first half vs its second half."""

from __future__ import annotations

from typing import Any, Sequence

from code_unlearn_bench.analyzer_base import AnalysisContext, Analyzer, GenerationRecord, metric
from code_unlearn_bench.bleu import PROTOCOLS, text_bleu, token_bleu
from code_unlearn_bench.errors import CubError
from code_unlearn_bench.samples import Sample


class CopyrightBleu(Analyzer):
    name = "copyright_bleu"
    primary_metric = "forget_quality"

    def __init__(self, protocol: str = "reference", truncate_reference: bool = True, **options: Any):
        if protocol not in PROTOCOLS:
            raise CubError(f"unknown BLEU protocol '{protocol}' (known: {', '.join(PROTOCOLS)})")
        super().__init__(protocol=protocol, truncate_reference=truncate_reference, **options)
        self.bleu_protocol = protocol
        self.truncate_reference = truncate_reference
        self.tokenizer = None
        self.budget = None

    def protocol(self) -> dict[str, Any]:
        desc = {
            "reference": "unsmoothed 4-gram sentence BLEU over model token ids (sacrebleu, tokenize=none), "
                         "mean over files",
            "cyberseceval": "per-sample sacrebleu BLEU, 13a tokenizer, exp smoothing, mean over samples",
        }[self.bleu_protocol]
        return {"analyzer": self.name, "bleu": self.bleu_protocol, "bleu_description": desc,
                "split": "file split on single spaces, first floor(n/2) pieces are the prompt",
                "reference_truncated_to_generation_budget": self.truncate_reference,
                "generation_budget_tokens": self.budget,
                "forget_quality": "1 - BLEU"}

    def prepare(self, context: AnalysisContext) -> None:
        self.tokenizer = context.tokenizer
        self.budget = context.generation.max_new_tokens if context.generation is not None else None
        if self.tokenizer is None and (self.bleu_protocol == "reference" or self.truncate_reference):
            raise CubError("copyright scoring needs the model's tokenizer")

    def _ids(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def score(self, samples: Sequence[Sample], records: Sequence[GenerationRecord]) -> list[dict[str, Any]]:
        out = []
        for sample, record in zip(samples, records):
            completion = record["completion"]
            ref_ids = self._ids(sample.reference) if self.tokenizer is not None else None
            reference = sample.reference
            # The model only had max_new_tokens to continue the file: comparing against the whole
            # second half would let BLEU's brevity penalty report forgetting that did not happen.
            if self.truncate_reference and self.budget and ref_ids is not None and len(ref_ids) > self.budget:
                ref_ids = ref_ids[:self.budget]
                reference = self.tokenizer.decode(ref_ids)
            if self.bleu_protocol == "reference":
                bleu = token_bleu(self._ids(completion), ref_ids)
            else:
                bleu = text_bleu(completion, reference)
            bleu = min(1.0, max(0.0, bleu))  # float noise can put a perfect match at 1 + 1e-16
            out.append({"bleu": round(bleu, 6), "forget_quality": round(1.0 - bleu, 6) + 0.0})
        return out

    def aggregate(self, samples: Sequence[Sample], scores: Sequence[dict[str, Any]]) -> dict[str, Any]:
        return {"metrics": {
            "forget_quality": metric([s["forget_quality"] for s in scores]),
            "bleu": metric([s["bleu"] for s in scores], higher_is_better=False),
        }}


ANALYZER = CopyrightBleu
