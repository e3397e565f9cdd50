"""DPO as unlearning: prefer a refusal answer over the forget answer.

Preferred w = x_f + "\\n" + refusal + "\\n", rejected l = x_f + y_f;
L = -log sigmoid(beta * [(log pi(w) - log ref(w)) - (log pi(l) - log ref(l))]), beta = 0.1.
Each example's refusal is fixed when the data is built, so ref(w) and ref(l) are computed once
before training from the initial model (no second model in memory).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from code_unlearn_bench.unlearn.method import Method, check_positive
from code_unlearn_bench.unlearn.tokens import forward_logits, sequence_logprob


def dpo_loss(logp_w: torch.Tensor, logp_l: torch.Tensor, ref_w: torch.Tensor, ref_l: torch.Tensor,
             beta: float) -> torch.Tensor:
    margin = (logp_w - ref_w) - (logp_l - ref_l)
    return -F.logsigmoid(beta * margin).mean()


class DPO(Method):
    name = "dpo"
    sequences = ("forget", "refusal")
    defaults = {"beta": 0.1}

    def validate(self):
        check_positive("beta", self.hp["beta"])

    def precompute(self, model, seqs):
        out = {}
        for key, name in (("ref_w", "refusal"), ("ref_l", "forget")):
            seq = seqs[name]
            out[key] = sequence_logprob(forward_logits(model, seq), seq).float().cpu()
        return out

    def loss(self, model, seqs, state):
        w, l = seqs["refusal"], seqs["forget"]
        logp_w = sequence_logprob(forward_logits(model, w), w)
        logp_l = sequence_logprob(forward_logits(model, l), l)
        dev = logp_w.device
        return dpo_loss(logp_w, logp_l, state["ref_w"].to(dev), state["ref_l"].to(dev), self.hp["beta"])


METHOD = DPO
