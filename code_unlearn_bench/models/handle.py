"""The model a run hands to the run path: resolved and fingerprinted once, its backend built on
first need (a fully generated run is re-scored without loading the weights).

Anything with ``.backend`` (a :class:`~code_unlearn_bench.models.base.Backend`) and
``.tokenizer`` can be handed to the run path; :meth:`ModelHandle.from_backend` wraps a backend
the caller built itself (the lm-eval pattern of handing in a built model).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from code_unlearn_bench.models.base import Backend, ModelInfo
from code_unlearn_bench.models.loading import ResolvedModel


@dataclass(frozen=True)
class BackendOptions:
    """How to build the backend: execution settings only (they never change a result)."""

    backend: str = "auto"
    dtype: str = "float32"
    device: str | None = None
    tensor_parallel_size: int = 1
    seed: int = 1234

    @classmethod
    def from_config(cls, config) -> "BackendOptions":
        return cls(config.backend, config.dtype, config.device, config.tensor_parallel_size, config.seed)

    def kwargs(self) -> dict[str, Any]:
        out: dict[str, Any] = {"dtype": self.dtype, "device": self.device}
        if self.backend in ("vllm", "auto"):
            out.update(tensor_parallel_size=self.tensor_parallel_size, seed=self.seed)
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

        resolved = resolve_model(spec)
        return cls.of(resolved, model_info(resolved), options)

    @classmethod
    def of(cls, resolved: ResolvedModel, info: ModelInfo, options: BackendOptions | None = None) -> "ModelHandle":
        return cls(lambda: resolved, info, options or BackendOptions(), resolved)

    @classmethod
    def lazy(cls, spec: str) -> "ModelHandle":
        """Resolved only if its tokenizer or backend is asked for (`cub score`)."""
        from code_unlearn_bench.models.loading import resolve_model

        return cls(lambda: resolve_model(spec))

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
            from code_unlearn_bench.models.registry import load_backend

            self._backend = load_backend(self.options.backend, self.resolved, info=self.info,
                                         **self.options.kwargs())
        return self._backend

    @property
    def tokenizer(self):
        if self._backend is not None:
            return self._backend.tokenizer
        if self._tokenizer is None:
            from code_unlearn_bench.models.loading import load_tokenizer

            self._tokenizer = load_tokenizer(self.resolved)
        return self._tokenizer
