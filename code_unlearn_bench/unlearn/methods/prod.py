"""PROD: probabilistic redistribution of the output distribution (the paper's method).

For every answer position t, from the model BEFORE unlearning (logits h_t, forget token y_t):
  1. forget elimination   h_t[y_t] = -inf
  2. noise elimination    keep the smallest most-probable set whose cumulative probability
                          reaches p (the token that crosses p is kept; at least one token);
                          elimination first, then the nucleus: the order matters
  3. renormalise          softmax over the survivors -> p_T
  4. alpha-suppression    p_T[y_t] = -alpha * p_o(y_t), p_o the ORIGINAL probability
  5. loss                 soft-label cross-entropy -sum_w p_T(w) log pi(w), mean over positions

Targets are frozen (paper, "training stability"). Our change to the reference implementation,
which keeps a second frozen model and recomputes p_T every step: p_T depends only on the
initial model, so it is computed once before training and stored sparsely -- the nucleus'
token ids and probabilities per position (a few to a few hundred entries instead of the
vocabulary) plus p_o(y_t) for alpha. Training then holds one model, and a step costs what a
gradient-ascent step costs. See docs/methods.md.
"""

from __future__ import annotations

import torch

from code_unlearn_bench.errors import CubError
from code_unlearn_bench.unlearn.method import Method
from code_unlearn_bench.unlearn.tokens import answer_logits, forward_logits

# Rows processed at once when building targets: bounds the [rows, vocab] sort buffers (about
# 25 bytes x vocab per row; 32 rows of a 49k vocabulary ~ 40 MB), which set the peak of this pass.
_CHUNK = 32


def prod_targets(logits: torch.Tensor, forget_ids: torch.Tensor, p: float) -> dict[str, torch.Tensor]:
    """Sparse PROD targets for N positions: logits [N, V], forget_ids [N].

    Returns CSR-style tensors: ``idx`` [nnz] token ids and ``prob`` [nnz] target probabilities,
    grouped by position (``count`` [N] entries each, most probable first), and ``p_orig`` [N],
    the original probability of each forget token (used by alpha-suppression).
    """
    parts = [_targets_chunk(logits[i:i + _CHUNK], forget_ids[i:i + _CHUNK], p)
             for i in range(0, logits.shape[0], _CHUNK)]
    return {k: torch.cat([part[k] for part in parts]) for k in ("idx", "prob", "count", "p_orig")}


def _targets_chunk(logits, forget_ids, p):
    logits = logits.detach().float()
    rows = torch.arange(logits.shape[0], device=logits.device)
    p_orig = torch.softmax(logits, -1)[rows, forget_ids]
    eliminated = logits.clone()
    eliminated[rows, forget_ids] = float("-inf")  # 1. forget elimination, before the nucleus
    sorted_p, sorted_idx = torch.softmax(eliminated, -1).sort(-1, descending=True)
    if p >= 1.0:  # no noise elimination; exclude only zero-probability tokens (the forget one)
        keep = sorted_p > 0
    else:  # 2. a token survives if the mass before it is still short of p (so the crosser stays)
        keep = (sorted_p.cumsum(-1) - sorted_p) < p
    keep[:, 0] = True
    # keep is a prefix of the sorted order, so each row's survivors are its first `count` entries
    count = keep.sum(-1)
    kept = sorted_p * keep
    target = kept / kept.sum(-1, keepdim=True)  # 3. renormalise == softmax over survivors' logits
    return {"idx": sorted_idx[keep].to(torch.int32).cpu(), "prob": target[keep].cpu(),
            "count": count.to(torch.int32).cpu(), "p_orig": p_orig.cpu()}


def prod_loss(logits: torch.Tensor, forget_ids: torch.Tensor, targets: dict[str, torch.Tensor],
              alpha: float) -> torch.Tensor:
    """Soft-label cross-entropy of logits [N, V] against sparse targets, mean over positions."""
    n = logits.shape[0]
    dev = logits.device
    logp = torch.log_softmax(logits.float(), -1)
    rows = torch.repeat_interleave(torch.arange(n, device=dev), targets["count"].to(dev).long())
    ce = -(targets["prob"].to(dev) * logp[rows, targets["idx"].to(dev).long()]).sum()
    if alpha:
        # 4. p_T[y_t] = -alpha * p_o(y_t): the CE term -p_T log pi becomes +alpha p_o log pi(y_t)
        logp_forget = logp[torch.arange(n, device=dev), forget_ids]
        ce = ce + alpha * (targets["p_orig"].to(dev) * logp_forget).sum()
    return ce / n


class PROD(Method):
    name = "prod"
    defaults = {"p": 0.8, "alpha": 0.0}

    def validate(self):
        if not 0 < self.hp["p"] <= 1:
            raise CubError(f"--p must be in (0, 1] (got {self.hp['p']})")

    def precompute(self, model, seqs):
        seq = seqs["forget"]
        logits, ids = answer_logits(forward_logits(model, seq), seq)
        return prod_targets(logits, ids, self.hp["p"])

    def loss(self, model, seqs, state):
        seq = seqs["forget"]
        logits, ids = answer_logits(forward_logits(model, seq), seq)
        return prod_loss(logits, ids, state, self.hp["alpha"])


METHOD = PROD
