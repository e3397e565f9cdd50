"""The one place that chooses a model backend (the registry itself is ``plugins.BACKENDS``).

A backend is a :class:`code_unlearn_bench.models.base.Backend` subclass constructed as
``cls(resolved_model, info=ModelInfo, dtype=..., device=..., **options)``; its module is imported
only when chosen (vLLM is heavy).
"""

from __future__ import annotations

import importlib.util

from code_unlearn_bench.errors import CubError
from code_unlearn_bench.models.base import Capabilities
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


def capabilities(name: str) -> Capabilities:
    """What backend ``name`` (after ``auto`` is chosen) can do; imports its module, not its engine."""
    return BACKENDS.load(choose_backend(name)).capabilities


def served_backends() -> list[str]:
    return [n for n in BACKENDS.names() if BACKENDS.load(n).capabilities.served]


def check_backend_options(config) -> str:
    """Refuse options the chosen backend cannot take (one line each); returns the chosen name."""
    chosen = choose_backend(config.backend)
    caps = capabilities(chosen)
    if caps.served and not config.base_url:
        raise CubError(f"--backend {chosen} needs --base-url (e.g. http://127.0.0.1:8000/v1)")
    if config.base_url and not caps.served:
        raise CubError(f"--base-url is for --backend {' or '.join(served_backends())} (a model served over HTTP)")
    if config.data_parallel_size > 1 and not caps.data_parallel:
        raise CubError("--data-parallel-size is for local engines; a served model scales on the server "
                       "(raise --num-concurrent instead)" if caps.served else
                       f"--backend {chosen} does not run data-parallel replicas")
    return chosen

