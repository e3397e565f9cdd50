"""Learning-rate schedules of the training loop: the reference PROD and FLAT loops keep AdamW's
rate constant; the baselines of the reference code run under the HF Trainer / TRL, whose default
is a linear decay to 0 over the whole run with no warmup (transformers'
``get_linear_schedule_with_warmup``). The rate is a pure function of the global step, so a
resumed run continues the same curve without saving scheduler state."""

from __future__ import annotations



def lr_at(schedule: str, base_lr: float, step: int, total_steps: int) -> float:
    """The rate of optimizer step ``step`` (0-based) out of ``total_steps``."""
    if schedule == "constant":
        return base_lr
    # HF's linear lambda with 0 warmup: (T - s) / T; the first step uses the full rate
    return base_lr * max(0.0, (total_steps - step) / max(1, total_steps))


def set_lr(optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
