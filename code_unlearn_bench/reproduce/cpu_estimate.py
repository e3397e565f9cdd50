"""`cub reproduce --dry-run` on a CPU preset: wall time on 2 unloaded cores from measured rates.

The rates are measured for SmolLM2-135M on 2 cores (fp32): a full fine-tune costs ~3.0 s per
512 tokens (measurements-cpu.md) plus ~5 s per optimizer step (cpu-demo's learn epoch: 55 s
unloaded for 8 steps of ~290 tokens, NOTES.md), batched greedy generation runs at ~117 tokens/s
(batch 8). Ours (stated, not measured): a forward pass costs 1/3 of a training step (the usual
forward:backward FLOP split), code has ~3.5 characters per token, a step that loads a model pays
~5 s, a held-out NLL sample is ~200 tokens. Calibration: for cpu-demo it gives ~26 min where
the measured run bounds it at ~17.5 min unloaded (30 min loaded, 18 of them learn at ~3x): it
errs high, up to ~1.5x. A loaded machine takes several times longer. For ~135M models only.
"""

from __future__ import annotations

TRAIN_S_PER_TOKEN = 3.0 / 512
STEP_S = 5.0
GEN_TOKENS_S = 117.0
FORWARD_SHARE = 1 / 3
LOAD_S = 5.0
CHARS_PER_TOKEN = 3.5
NLL_TOKENS = 200
_TWO_SEQUENCES = {"dpo", "flat"}
_PRECOMPUTE = {"prod", "npo", "dpo"}


def estimate_s(p, n_train: int, n_eval: int, answer_chars: float) -> dict[str, float]:
    """Seconds per step kind of one (task, seed) pipeline of preset ``p``."""
    max_new = int(p.eval_flags.get("max-new-tokens", 128))

    def train(settings: dict, method: str) -> float:
        tokens = min(int(settings.get("max-length", 1024)), answer_chars / CHARS_PER_TOKEN)
        steps = -(-n_train // int(settings.get("grad_accum", 32)))
        per_epoch = n_train * tokens * TRAIN_S_PER_TOKEN * (2 if method in _TWO_SEQUENCES else 1) + steps * STEP_S
        extra = n_train * tokens * TRAIN_S_PER_TOKEN * FORWARD_SHARE if method in _PRECOMPUTE else 0.0
        return LOAD_S + int(settings.get("epochs", 10)) * per_epoch + extra

    generate = n_eval * max_new / GEN_TOKENS_S
    nll = (p.utility_limit or 164) * NLL_TOKENS * TRAIN_S_PER_TOKEN * FORWARD_SHARE
    n_ckpt = sum(int(p.unlearn_settings(m).get("epochs", 10)) for m in p.methods)
    attacked = len(p.methods) if p.attack_last_epoch_only else n_ckpt
    # MIA: the checkpoint and the retain model over the forget set and as many held-out samples
    mia = 2 * 2 * n_eval * (answer_chars / CHARS_PER_TOKEN) * TRAIN_S_PER_TOKEN * FORWARD_SHARE
    return {"learn": 0.0 if p.skip_learn else train(p.learn, "learn"),
            "unlearn": sum(train(p.unlearn_settings(m), m) for m in p.methods),
            "evaluate": (2 + n_ckpt) * (LOAD_S + generate + nll),
            "attack": attacked * (2 * LOAD_S + len(p.attack_k) * generate + mia)}


def cpu_line(p, n_train: int, n_eval: int, answer_chars: float) -> str:
    parts = estimate_s(p, n_train, n_eval, answer_chars)
    total = sum(parts.values())
    return (f"  CPU (2 unloaded cores, measured SmolLM2-135M rates, reproduce/cpu_estimate.py): ~{total / 60:.0f} min ("
            + ", ".join(f"{k} {v / 60:.1f}" for k, v in parts.items()) + " min)")
