"""SimNPO: reference-free, length-normalised NPO.

Fan et al. 2024, "Simplicity Prevails: Rethinking Negative Preference Optimization for LLM
Unlearning" (arXiv:2410.07163), the SimNPO objective (forget term):

    L_SimNPO = E_(x,y) in D_f [ -(2/beta) log sigmoid( -(beta/|y|) log pi_theta(y|x) - gamma ) ]

i.e. NPO's reward log pi_theta - log pi_ref is replaced by the length-normalised log-likelihood
(no reference model, nothing to precompute) and gamma >= 0 is a reward margin. With
NLL = -log pi_theta(y|x) summed over y's tokens: -(2/beta) log sigmoid(beta * NLL/|y| - gamma).
Defaults: beta = 2.5, gamma = 0 (the paper's TOFU setting). The paper adds an optional retain
NLL term (lambda); this method is the forget-only form, like this package's NPO.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from code_unlearn_bench.errors import CubError
from code_unlearn_bench.unlearn.method import Method, check_positive
from code_unlearn_bench.unlearn.tokens import forward_logits, sequence_logprob


def simnpo_loss(nll: torch.Tensor, lengths: torch.Tensor, beta: float, gamma: float) -> torch.Tensor:
    """nll [B] summed over each answer, lengths [B] its number of answer tokens."""
    return -(2.0 / beta) * F.logsigmoid(beta * nll / lengths - gamma).mean()


class SimNPO(Method):
    name = "simnpo"
    defaults = {"beta": 2.5, "gamma": 0.0}

    def validate(self):
        check_positive("beta", self.hp["beta"])
        if self.hp["gamma"] < 0:
            raise CubError(f"--gamma must be >= 0 for SimNPO (got {self.hp['gamma']})")

    def loss(self, model, seqs, state):
        seq = seqs["forget"]
        nll = -sequence_logprob(forward_logits(model, seq), seq)
        lengths = seq.predict_mask.sum(-1).clamp(min=1).to(nll.dtype)
        return simnpo_loss(nll, lengths, self.hp["beta"], self.hp["gamma"])


METHOD = SimNPO
