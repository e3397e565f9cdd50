"""vLLM backend (GPU). ``vllm`` is imported only when this backend is chosen.

Written against vLLM's public offline API: ``vllm.LLM(model, dtype, seed, tensor_parallel_size,
gpu_memory_utilization, max_model_len, enable_lora, max_loras, max_lora_rank, ...)``,
``vllm.SamplingParams(n, temperature, top_p, max_tokens, stop, seed, prompt_logprobs)``,
``LLM.generate(prompts, sampling_params, lora_request=..., use_tqdm=...)`` (one SamplingParams per
prompt allowed), ``vllm.lora.request.LoRARequest(name, int_id, path)``, ``RequestOutput.outputs[0]
.text`` and ``RequestOutput.prompt_logprobs`` (one ``{token_id: Logprob}`` dict per prompt position,
``None`` for the first). The engine factory is injectable and every call goes through ``vllm``'s
module attributes, so the adapter is unit-tested against a fake module on machines without a GPU.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Sequence

from code_unlearn_bench.errors import ModelError
from code_unlearn_bench.models.base import Backend, Capabilities, GenerationSettings, ModelInfo, cut_at_stop
from code_unlearn_bench.models.chat import chat_format
from code_unlearn_bench.models.loading import ResolvedModel, as_resolved, load_tokenizer, model_info, tokenizer_source
from code_unlearn_bench.models.seeds import sample_seed

_LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)  # vLLM's accepted max_lora_rank values


def _import_vllm():
    try:
        import vllm  # noqa: F401
    except ImportError:
        raise ModelError("backend 'vllm' needs the vllm extra: pip install 'code-unlearn-bench[vllm]'") from None
    return vllm


def vllm_dtype(dtype: str) -> str:
    """'auto' -> bfloat16 (float16 on GPUs without bf16); vLLM's own 'auto' would keep float32
    checkpoints (the embedded model) in float32."""
    from code_unlearn_bench.models.loading import resolve_dtype

    if dtype != "auto":
        return resolve_dtype(dtype)
    import torch

    return "float16" if torch.cuda.is_available() and not torch.cuda.is_bf16_supported() else "bfloat16"


def lora_rank(adapter_dir) -> int:
    try:
        r = int(json.loads((adapter_dir / "adapter_config.json").read_text()).get("r", 8))
    except (OSError, ValueError):
        r = 8
    return next((k for k in _LORA_RANKS if k >= r), _LORA_RANKS[-1])


class _Engine:
    """One loaded vLLM engine and the LoRA adapters registered on it (ids are per engine)."""

    def __init__(self, llm, base: str, lora: bool):
        self.llm, self.base, self.lora = llm, base, lora
        self.adapter_ids: dict[str, int] = {}

    def lora_id(self, path: str) -> int:
        return self.adapter_ids.setdefault(path, len(self.adapter_ids) + 1)


class VLLMBackend(Backend):
    name = "vllm"
    # engines in child processes: vLLM frees its device memory reliably only when its process ends
    capabilities = Capabilities(lora_adapters=True, child_process=True, needs_gpu=True)
    chunk_size = 256  # samples per LLM.generate call: vLLM batches them; resume granularity

    def __init__(self, model: str | ResolvedModel, dtype: str = "auto", tensor_parallel_size: int = 1,
                 seed: int = 1234, gpu_memory_utilization: float = 0.9, max_model_len: int | None = None,
                 revision: str | None = None, model_args: dict | None = None, apply_chat_template: bool = False,
                 system_prompt: str | None = None, share_engine_with: "VLLMBackend | None" = None,
                 engine_factory: Callable[..., Any] | None = None, info: ModelInfo | None = None, **_: object):
        resolved = as_resolved(model, revision)
        spec = resolved.spec
        tokenizer = load_tokenizer(resolved, model_args)
        super().__init__(info or model_info(resolved), tokenizer,
                         chat_format(tokenizer, spec, apply_chat_template, system_prompt))
        self._adapter = str(resolved.path) if resolved.format == "peft" else None
        base = str(resolved.base_path if resolved.format == "peft" else resolved.path)
        self.dtype = vllm_dtype(dtype)
        self.max_length = max_model_len or self._config_max_length(resolved.base_path or resolved.path)
        self._owner = share_engine_with is None
        if share_engine_with is not None:  # another adapter of the same base: one engine, many LoRAs
            self._engine = share_engine_with._engine
            if self._engine is None:
                raise ModelError("cannot share a vLLM engine that was already closed")
            if self._engine.base != base or (self._adapter and not self._engine.lora):
                raise ModelError(f"'{spec}' cannot share the engine of '{share_engine_with.info.spec}': "
                                 f"it needs base '{base}' with LoRA enabled")
            return
        kwargs: dict[str, Any] = dict(
            tokenizer=str(tokenizer_source(resolved)), dtype=self.dtype, seed=seed,
            tensor_parallel_size=tensor_parallel_size, gpu_memory_utilization=gpu_memory_utilization,
            trust_remote_code=False,
        )
        if max_model_len:
            kwargs["max_model_len"] = max_model_len
        if self._adapter:
            kwargs.update(enable_lora=True, max_loras=4, max_lora_rank=lora_rank(resolved.path))
        kwargs.update(model_args or {})  # the user's --model-args win (max_loras=8, enforce_eager=true...)
        if engine_factory is None:
            engine_factory = _import_vllm().LLM
        self._engine = _Engine(engine_factory(model=base, **kwargs), base, bool(kwargs.get("enable_lora")))

    @staticmethod
    def _config_max_length(path) -> int:
        try:
            cfg = json.loads((path / "config.json").read_text())
            return int(cfg.get("max_position_embeddings") or 2048)
        except (OSError, ValueError, TypeError):
            return 2048

    @property
    def engine(self):
        return self._engine.llm if self._engine else None

    def _lora_request(self):
        if self._adapter is None:
            return None
        from vllm.lora.request import LoRARequest

        int_id = self._engine.lora_id(self._adapter)
        return LoRARequest(f"adapter-{int_id}", int_id, self._adapter)

    def _generate(self, prompts: list, params):
        if self._engine is None or self._engine.llm is None:
            raise ModelError("the vLLM engine was closed")
        return self._engine.llm.generate(prompts, params, lora_request=self._lora_request(), use_tqdm=False)

    def _token_prompts(self, prompts: Sequence[str], max_new_tokens: int) -> list[dict[str, list[int]]]:
        """Token-id prompts, tokenised exactly as the hf backend does, over-long ones cut from the left."""
        budget = max(1, self.max_length - max_new_tokens)
        ids = self.tokenizer(self.render(prompts), add_special_tokens=self.chat is None)["input_ids"]
        return [{"prompt_token_ids": list(x[-budget:])} for x in ids]

    def generate(self, prompts: Sequence[str], settings: GenerationSettings, batch_size: int = 8,
                 seeds: Sequence[int] | None = None) -> list[str]:
        # vLLM schedules its own continuous batches: batch_size is irrelevant here.
        from vllm import SamplingParams

        greedy = settings.temperature <= 0
        common = dict(n=1, temperature=0.0 if greedy else settings.temperature,
                      top_p=1.0 if greedy else settings.top_p, max_tokens=settings.max_new_tokens,
                      stop=list(settings.stop) or None)
        if greedy:
            params: Any = SamplingParams(**common)
        else:  # one request per copy, each with its own seed: copies differ, reruns reproduce
            seeds = seeds if seeds is not None else [sample_seed(settings.seed, "", i) for i in range(len(prompts))]
            params = [SamplingParams(**common, seed=int(s)) for s in seeds]
        outputs = self._generate(self._token_prompts(prompts, settings.max_new_tokens), params)
        return [cut_at_stop(o.outputs[0].text, settings.stop) for o in outputs]

    def loglikelihood(self, requests: Sequence[tuple[str, str]], batch_size: int = 8) -> list[list[float]]:
        from vllm import SamplingParams

        from code_unlearn_bench.models.scoring import encode_pair, windows

        owners, prompts, scored = [], [], []
        for r, (context, continuation) in enumerate(requests):
            ctx, cont = encode_pair(self.tokenizer, context, continuation, self.chat)
            for ids, n in windows(ctx, cont, self.max_length):
                owners.append(r)
                prompts.append({"prompt_token_ids": ids})
                scored.append(n)
        # prompt_logprobs=1 returns, at every position, the prompt token's own log-prob (plus top-1).
        params = SamplingParams(temperature=0.0, max_tokens=1, prompt_logprobs=1)
        outputs = self._generate(prompts, params)
        results: list[list[float]] = [[] for _ in requests]
        for r, prompt, n, out in zip(owners, prompts, scored, outputs):
            ids, plp = prompt["prompt_token_ids"], out.prompt_logprobs
            for pos in range(len(ids) - n, len(ids)):
                entry = plp[pos][ids[pos]]
                results[r].append(float(getattr(entry, "logprob", entry)))
        return results

    def close(self) -> None:
        """Free the GPU: the next model of a `cub reproduce` loads into an empty device."""
        engine, self._engine = self._engine, None
        if engine is not None and self._owner:
            teardown(engine)


def teardown(holder) -> None:
    """vLLM's documented cleanup: stop the engine core, destroy the parallel groups, free memory.
    ``holder.llm`` is dropped here, so that gc.collect() can free the last reference."""
    import gc

    llm, holder.llm = holder.llm, None
    core = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
    if core is not None and hasattr(core, "shutdown"):
        core.shutdown()
    try:
        from vllm.distributed.parallel_state import destroy_distributed_environment, destroy_model_parallel
    except ImportError:
        destroy_model_parallel = destroy_distributed_environment = None
    if destroy_model_parallel is not None:
        destroy_model_parallel()
        destroy_distributed_environment()
    del llm
    gc.collect()
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
