"""FLAT (loss adjustment with only forget data, f-divergence form).

With P_e = mean per-token probability of the template (refusal) answer and P_f = that of the
forget answer: L = -g(P_e) + f*(g(P_f)). Variants (g, f*):
  kl       g(v) = v,           f*(u) = exp(u - 1)     (the paper's baseline, default)
  pearson  g(v) = v,           f*(u) = u^2 / 4 + u
  tv       g(v) = tanh(v) / 2, f*(u) = u
"""

from __future__ import annotations

import torch

from code_unlearn_bench.errors import CubError
from code_unlearn_bench.unlearn.method import Method
from code_unlearn_bench.unlearn.tokens import forward_logits, mean_token_prob

VARIANTS = {
    "kl": (lambda v: v, lambda u: torch.exp(u - 1)),
    "pearson": (lambda v: v, lambda u: u * u / 4 + u),
    "tv": (lambda v: torch.tanh(v) / 2, lambda u: u),
}


def flat_loss(p_e: torch.Tensor, p_f: torch.Tensor, variant: str = "kl") -> torch.Tensor:
    g, f_star = VARIANTS[variant]
    return (-g(p_e) + f_star(g(p_f))).mean()


class FLAT(Method):
    name = "flat"
    sequences = ("forget", "refusal")
    defaults = {"variant": "kl"}

    def validate(self):
        if self.hp["variant"] not in VARIANTS:
            raise CubError(f"unknown FLAT variant '{self.hp['variant']}' (known: {', '.join(VARIANTS)})")

    def loss(self, model, seqs, state):
        e, f = seqs["refusal"], seqs["forget"]
        p_e = mean_token_prob(forward_logits(model, e), e)
        p_f = mean_token_prob(forward_logits(model, f), f)
        return flat_loss(p_e, p_f, self.hp["variant"])


METHOD = FLAT
