"""The one place that chooses a model backend (the registry itself is ``plugins.BACKENDS``).

A backend is a :class:`code_unlearn_bench.models.base.Backend` subclass constructed as
``cls(resolved_model, info=ModelInfo, dtype=..., device=..., **options)``; its module is imported
only when chosen (vLLM is heavy).
"""

from __future__ import annotations

import importlib.util

from code_unlearn_bench.plugins import BACKENDS


def choose_backend(name: str) -> str:
    """'auto' = vLLM when a CUDA GPU and the vllm package are present, else transformers."""
    if name != "auto":
        BACKENDS.target(name)  # validates with a did-you-mean
        return name
    if importlib.util.find_spec("vllm") is not None:
        import torch

        if torch.cuda.is_available():
            return "vllm"
    return "hf"


def load_backend(name: str, model, **kwargs):
    """Build backend ``name`` for ``model`` (a ResolvedModel, or a spec string resolved here)."""
    cls = BACKENDS.load(choose_backend(name))
    return cls(model, **kwargs)
