"""The contract between the training loop and a learning/unlearning method.

A method is one small class: which sequences an example needs, an optional frozen precompute run
once on the model *before* training (reference log-probs, PROD targets), and a loss. The loop
does everything else (batching, accumulation, precision, checkpoints, resume).
"""

from __future__ import annotations

from typing import Any

import torch

from code_unlearn_bench.errors import CubError
from code_unlearn_bench.unlearn.tokens import SeqBatch


class Method:
    name = "base"
    # Sequences each example carries: "forget" = x_f + y_f; "refusal" = x_f + a refusal answer;
    # "retain" = a pair from the task's retain set (unlearn.retain), cycled over the examples.
    sequences: tuple[str, ...] = ("forget",)
    # Hyper-parameter name -> default. Only these are accepted, recorded and shown in run.json.
    defaults: dict[str, Any] = {}

    def __init__(self, **hyperparameters: Any):
        unknown = set(hyperparameters) - set(self.defaults)
        if unknown:
            raise CubError(f"method '{self.name}' does not take {', '.join(sorted(unknown))}")
        self.hp = {**self.defaults, **{k: v for k, v in hyperparameters.items() if v is not None}}
        self.validate()

    def validate(self) -> None:
        """Raise CubError on out-of-range hyper-parameters (called from __init__)."""

    def hyperparameters(self) -> dict[str, Any]:
        return dict(self.hp)

    def precompute(self, model, seqs: dict[str, SeqBatch]) -> dict[str, torch.Tensor] | None:
        """Frozen per-example state from the model before training (batch of one, no grad).

        Returned tensors are stored on CPU with the example and handed back to :meth:`loss`
        (concatenated across the micro-batch by :meth:`collate_state`).
        """
        return None

    def select_trainable(self, model) -> None:
        """Called once after the loop has made every weight (or every LoRA weight) trainable and
        before the optimizer is built: a method that updates only some parameters (RMU) turns
        ``requires_grad`` off for the others here."""

    def collate_state(self, states: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        """Default: per-example tensors are concatenated along dim 0."""
        if not states or states[0] is None:
            return {}
        return {k: torch.cat([s[k] for s in states]) for k in states[0]}

    def loss(self, model, seqs: dict[str, SeqBatch], state: dict[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError


def check_positive(name: str, value: float) -> None:
    if not value > 0:
        raise CubError(f"--{name} must be > 0 (got {value})")
