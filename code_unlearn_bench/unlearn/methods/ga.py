"""GA (gradient ascent): minimise -NLL(y_f | x_f), the mean token cross-entropy negated."""

from __future__ import annotations

import torch

from code_unlearn_bench.unlearn.method import Method
from code_unlearn_bench.unlearn.tokens import forward_logits, mean_nll


def ga_loss(nll: torch.Tensor) -> torch.Tensor:
    return -nll


class GradientAscent(Method):
    name = "ga"

    def loss(self, model, seqs, state):
        seq = seqs["forget"]
        return ga_loss(mean_nll(forward_logits(model, seq), seq))


METHOD = GradientAscent
