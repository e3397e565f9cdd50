"""GGUF checkpoints as plain transformers models (used by the embedded model and by `--model x.gguf`)."""

from __future__ import annotations

from pathlib import Path

from code_unlearn_bench.errors import ModelError


def quiet_transformers() -> None:
    """transformers' own load/convert progress bars would interleave with cub's per-task bars."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def load_gguf_model(path: Path, torch_dtype):
    """Load a GGUF checkpoint dequantised into a plain (serialisable) transformers model.

    transformers refuses save_pretrained on a GGUF-loaded model, so the state dict is moved into a
    fresh model built from the same config with the gguf quantization_config dropped.
    """
    from transformers import AutoModelForCausalLM

    loaded = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch_dtype)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch_dtype)
    missing, unexpected = fresh.load_state_dict(loaded.state_dict(), strict=False)
    # tied embeddings may report lm_head as missing; anything else means a broken conversion
    if [k for k in missing if k != "lm_head.weight"] or unexpected:
        raise ModelError(f"GGUF conversion of '{path}' lost tensors: missing={missing[:3]} unexpected={unexpected[:3]}")
    fresh.tie_weights()
    return fresh
