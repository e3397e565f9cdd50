"""Held-out loss: mean token negative log-likelihood of held-out code (lower is better).

A continuous utility signal: pass@1 of a small model sits near zero and cannot move, while its
NLL on held-out code rises measurably when unlearning damages it (SmolLM2-135M: 1.10 nats/token
on HumanEval canonical solutions, 1.96 after memorising a forget set, 3.9 after collapse).

Per sample: NLL = -sum(log p) / n_tokens of the continuation (records' "loglikelihood").
Metrics: heldout_nll (mean of per-sample NLLs, with CI), heldout_nll_token_weighted (total
NLL / total tokens) and its perplexity exp(.) in breakdown.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from code_unlearn_bench.analyzers.base import Analyzer, GenerationRecord, metric
from code_unlearn_bench.errors import CubError
from code_unlearn_bench.samples import Sample


class HeldoutLoss(Analyzer):
    name = "heldout_loss"
    primary_metric = "heldout_nll"

    def protocol(self) -> dict[str, Any]:
        return {"analyzer": self.name, "metric": "mean over samples of the continuation's mean token NLL (nats)",
                "higher_is_better": False, **self.options}

    def score(self, samples: Sequence[Sample], records: Sequence[GenerationRecord]) -> list[dict[str, Any]]:
        out = []
        for sample, rec in zip(samples, records):
            ll = rec.get("loglikelihood")
            if not ll or "sum" not in ll or "n_tokens" not in ll:
                raise CubError(f"heldout_loss: record of '{sample.id}' has no loglikelihood "
                               f"(the task must use mode: loglikelihood)")
            n = int(ll["n_tokens"])
            if n <= 0:
                out.append({"nll": None, "n_tokens": 0})
                continue
            total = -float(ll["sum"])
            out.append({"nll": round(total / n, 6), "nll_sum": round(total, 6), "n_tokens": n})
        return out

    def aggregate(self, samples: Sequence[Sample], scores: Sequence[dict[str, Any]]) -> dict[str, Any]:
        scored = [s for s in scores if s["nll"] is not None]
        if not scored:
            raise CubError("heldout_loss: no sample has a scored token")
        tokens = sum(s["n_tokens"] for s in scored)
        weighted = sum(s["nll_sum"] for s in scored) / tokens
        return {
            "metrics": {"heldout_nll": metric([s["nll"] for s in scored], higher_is_better=False)},
            "breakdown": {"heldout_nll_token_weighted": round(weighted, 6),
                          "perplexity_token_weighted": round(math.exp(min(weighted, 700)), 6),
                          "n_tokens": tokens, "n_unscored": len(scores) - len(scored)},
        }


ANALYZER = HeldoutLoss
