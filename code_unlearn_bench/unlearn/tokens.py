"""Token-level views of a causal LM's output that every loss is written in terms of.

Convention: ``logits[:, t]`` predicts ``input_ids[:, t + 1]``; ``target_mask[:, t]`` marks the
tokens that belong to the answer y (never the prompt x, never padding). A target at position 0
has no context and is never scored.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class SeqBatch:
    """Right-padded token ids of one kind of sequence (forget, refusal) for a micro-batch."""

    input_ids: torch.Tensor  # [B, T] long
    attention_mask: torch.Tensor  # [B, T] long
    target_mask: torch.Tensor  # [B, T] bool: token is part of y (the answer)

    def to(self, device) -> "SeqBatch":
        return SeqBatch(self.input_ids.to(device), self.attention_mask.to(device), self.target_mask.to(device))

    @property
    def predict_mask(self) -> torch.Tensor:
        """[B, T-1] bool: the positions whose next token is an answer token."""
        return self.target_mask[:, 1:]


def forward_logits(model, seq: SeqBatch) -> torch.Tensor:
    return model(input_ids=seq.input_ids, attention_mask=seq.attention_mask, use_cache=False).logits


def answer_logits(logits: torch.Tensor, seq: SeqBatch) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits that predict answer tokens, flattened in (batch, time) order -> ([N, V], ids [N])."""
    mask = seq.predict_mask
    return logits[:, :-1][mask], seq.input_ids[:, 1:][mask]


def token_logprobs(logits: torch.Tensor, seq: SeqBatch) -> torch.Tensor:
    """[B, T-1] log-probability of each next token (0 where not an answer token), in float32."""
    logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    picked = logp.gather(-1, seq.input_ids[:, 1:].unsqueeze(-1)).squeeze(-1)
    return picked * seq.predict_mask


def sequence_logprob(logits: torch.Tensor, seq: SeqBatch) -> torch.Tensor:
    """[B] summed log-probability of each answer (the log pi(y|x) of NPO and DPO)."""
    return token_logprobs(logits, seq).sum(-1)


def mean_token_prob(logits: torch.Tensor, seq: SeqBatch) -> torch.Tensor:
    """[B] mean per-token probability of each answer (FLAT's P_e / P_f)."""
    mask = seq.predict_mask
    probs = token_logprobs(logits, seq).exp() * mask
    return probs.sum(-1) / mask.sum(-1).clamp(min=1)


def mean_nll(logits: torch.Tensor, seq: SeqBatch) -> torch.Tensor:
    """Mean token cross-entropy of the answers over the whole micro-batch (fine-tune / GA)."""
    flat_logits, ids = answer_logits(logits, seq)
    return F.cross_entropy(flat_logits.float(), ids)
