"""`cub learn`: plain fine-tuning (NLL of y_f given x_f) that implants the forget set.

The paper's first step: the model must memorise the forget data before unlearning it can be
measured. Kept out of ``methods/`` so that `cub unlearn --method` only lists unlearning methods.
"""

from __future__ import annotations

from code_unlearn_bench.unlearn.method import Method
from code_unlearn_bench.unlearn.tokens import forward_logits, mean_nll


class FineTune(Method):
    name = "learn"

    def loss(self, model, seqs, state):
        seq = seqs["forget"]
        return mean_nll(forward_logits(model, seq), seq)
