"""NPO (negative preference optimisation) against the frozen model before unlearning.

L = -(2/beta) * mean log sigmoid(beta * (NLL_theta(y|x) - NLL_ref(y|x))), NLL summed over the
answer. NLL_ref depends only on the initial model, so it is computed once per example before
training instead of keeping a second model in memory.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from code_unlearn_bench.unlearn.method import Method, check_positive
from code_unlearn_bench.unlearn.tokens import forward_logits, sequence_logprob


def npo_loss(nll: torch.Tensor, ref_nll: torch.Tensor, beta: float) -> torch.Tensor:
    return -(2.0 / beta) * F.logsigmoid(beta * (nll - ref_nll)).mean()


class NPO(Method):
    name = "npo"
    defaults = {"beta": 0.1}

    def validate(self):
        check_positive("beta", self.hp["beta"])

    def precompute(self, model, seqs):
        seq = seqs["forget"]
        return {"ref_nll": -sequence_logprob(forward_logits(model, seq), seq).float().cpu()}

    def loss(self, model, seqs, state):
        seq = seqs["forget"]
        nll = -sequence_logprob(forward_logits(model, seq), seq)
        return npo_loss(nll, state["ref_nll"].to(nll.device), self.hp["beta"])


METHOD = NPO
