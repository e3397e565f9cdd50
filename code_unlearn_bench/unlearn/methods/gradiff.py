"""GradDiff (gradient difference): gradient ascent on the forget set, descent on a retain set.

Liu, Liu & Stone 2022, "Continual Learning and Private Unlearning" (CoLLAs), as the TOFU
baseline "Gradient Difference" (Maini et al. 2024, arXiv:2401.06121, Sec. 5.1):

    L_diff = -L(S_F, w) + L(S_R, w)

with L the mean token cross-entropy (the NLL of y given x) on the forget set S_F and the retain
set S_R. As in open-unlearning's GradDiff, the two terms are weighted:
L = -gamma * NLL_forget + alpha * NLL_retain (gamma = alpha = 1 is the paper's loss). The retain
set is the task's (unlearn.retain); each forget example is paired with one retain example.
"""

from __future__ import annotations

import torch

from code_unlearn_bench.errors import CubError
from code_unlearn_bench.unlearn.method import Method, check_positive
from code_unlearn_bench.unlearn.tokens import forward_logits, mean_nll


def graddiff_loss(forget_nll: torch.Tensor, retain_nll: torch.Tensor, gamma: float, alpha: float) -> torch.Tensor:
    return -gamma * forget_nll + alpha * retain_nll


class GradDiff(Method):
    name = "gradiff"
    sequences = ("forget", "retain")
    defaults = {"gamma": 1.0, "alpha": 1.0}

    def validate(self):
        check_positive("gamma", self.hp["gamma"])
        if self.hp["alpha"] < 0:
            raise CubError(f"--alpha must be >= 0 (got {self.hp['alpha']})")

    def loss(self, model, seqs, state):
        f, r = seqs["forget"], seqs["retain"]
        return graddiff_loss(mean_nll(forward_logits(model, f), f), mean_nll(forward_logits(model, r), r),
                             self.hp["gamma"], self.hp["alpha"])


METHOD = GradDiff
