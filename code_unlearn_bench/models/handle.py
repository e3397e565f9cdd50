"""The model a run hands to the run path: resolved and fingerprinted once, its backend built on
first need (a fully generated run is re-scored without loading the weights).

Anything with ``.backend`` (a :class:`~code_unlearn_bench.models.base.Backend`) and
``.tokenizer`` can be handed to the run path; :meth:`ModelHandle.from_backend` wraps a backend
the caller built itself (the lm-eval pattern of handing in a built model).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Callable

from code_unlearn_bench.models.base import Backend, ModelInfo
from code_unlearn_bench.models.loading import ResolvedModel


@dataclass(frozen=True)
class BackendOptions:
    """How to find and build the backend (fed from EvalConfig; every backend takes all of these as
    keyword arguments and ignores what it has no use for)."""

    backend: str = "auto"
    dtype: str = "auto"  # bfloat16 on a CUDA GPU, float32 on CPU
    device: str | None = None
    tensor_parallel_size: int = 1
    seed: int = 1234
    revision: str | None = None  # hub models
    model_args: dict[str, Any] = field(default_factory=dict)  # -> from_pretrained / vllm.LLM
    apply_chat_template: bool = False
    system_prompt: str | None = None
    gpu_memory_utilization: float = 0.9  # vLLM
    max_model_len: int | None = None  # vLLM

    @classmethod
    def from_config(cls, config) -> "BackendOptions":
        return cls(config.backend, config.dtype, config.device, config.tensor_parallel_size, config.seed,
                   config.revision, dict(config.model_args), config.apply_chat_template, config.system_prompt,
                   config.gpu_memory_utilization, config.max_model_len)

    def kwargs(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("backend", "revision")}
        out["model_args"] = dict(self.model_args)
        return out


@dataclass
class ModelHandle:
    resolve: Callable[[], ResolvedModel]  # called at most once
    info: ModelInfo | None = None
    options: BackendOptions = field(default_factory=BackendOptions)
    _resolved: ResolvedModel | None = None
    _backend: Backend | None = None
    _tokenizer: Any = None

    @classmethod
    def open(cls, spec: str, options: BackendOptions | None = None) -> "ModelHandle":
        """Resolve and fingerprint ``spec`` now (errors before any work starts)."""
        from code_unlearn_bench.models.loading import model_info, resolve_model

        resolved = resolve_model(spec, options.revision if options else None)
        return cls.of(resolved, model_info(resolved), options)

    @classmethod
    def of(cls, resolved: ResolvedModel, info: ModelInfo, options: BackendOptions | None = None) -> "ModelHandle":
        return cls(lambda: resolved, info, options or BackendOptions(), resolved)

    @classmethod
    def lazy(cls, spec: str, options: BackendOptions | None = None) -> "ModelHandle":
        """Resolved only if its tokenizer or backend is asked for (`cub score`: ``spec`` is the
        saved local path, so no revision applies)."""
        from code_unlearn_bench.models.loading import resolve_model

        return cls(lambda: resolve_model(spec), options=options or BackendOptions())

    @classmethod
    def from_backend(cls, backend: Backend) -> "ModelHandle":
        def refuse() -> ResolvedModel:
            raise RuntimeError("a handle built from a backend has no model to resolve")

        return cls(refuse, backend.info, _backend=backend)

    @property
    def resolved(self) -> ResolvedModel:
        if self._resolved is None:
            self._resolved = self.resolve()
        return self._resolved

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            from code_unlearn_bench.models.selection import load_backend

            self._backend = load_backend(self.options.backend, self.resolved, info=self.info,
                                         **self.options.kwargs())
        return self._backend

    @property
    def loaded_backend(self) -> Backend | None:
        """The backend if it was built (never builds it): what a session actually ran on."""
        return self._backend

    @property
    def tokenizer(self):
        if self._backend is not None:
            return self._backend.tokenizer
        if self._tokenizer is None:
            from code_unlearn_bench.models.loading import load_tokenizer

            self._tokenizer = load_tokenizer(self.resolved, self.options.model_args)
        return self._tokenizer

    def close(self) -> None:
        """Tear the backend down (a vLLM engine holds its GPU memory until then)."""
        if self._backend is not None:
            self._backend.close()
            self._backend = None
