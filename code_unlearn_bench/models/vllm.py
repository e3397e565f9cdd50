"""vLLM backend (GPU). ``vllm`` is imported only when this backend is chosen.

Written against vLLM's public offline API: ``vllm.LLM``, ``vllm.SamplingParams``,
``LLM.generate(prompts, sampling_params, lora_request=...)``, ``RequestOutput.outputs[0].text``
and ``RequestOutput.prompt_logprobs`` (a list, one ``{token_id: Logprob}`` dict per prompt
position, ``None`` for the first). The engine factory is injectable so that the adapter logic is
unit-tested with a fake engine on machines without a GPU.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from code_unlearn_bench.errors import ModelError
from code_unlearn_bench.models.base import Backend, GenerationSettings, ModelInfo, cut_at_stop
from code_unlearn_bench.models.loading import ResolvedModel, as_resolved, load_tokenizer, model_info


def _import_vllm():
    try:
        import vllm  # noqa: F401
    except ImportError:
        raise ModelError("backend 'vllm' needs the vllm extra: pip install 'code-unlearn-bench[vllm]'") from None
    return vllm


class VLLMBackend(Backend):
    name = "vllm"

    def __init__(self, model: str | ResolvedModel, dtype: str = "auto", tensor_parallel_size: int = 1,
                 seed: int = 1234, gpu_memory_utilization: float = 0.85,
                 engine_factory: Callable[..., Any] | None = None, info: ModelInfo | None = None,
                 **_: object):
        resolved = as_resolved(model)
        tokenizer = load_tokenizer(resolved)
        super().__init__(info or model_info(resolved), tokenizer)
        self._lora = None
        engine_kwargs: dict[str, Any] = dict(
            tensor_parallel_size=tensor_parallel_size, dtype=dtype if dtype != "float32" else "float32",
            seed=seed, gpu_memory_utilization=gpu_memory_utilization, trust_remote_code=False,
        )
        if resolved.format == "peft":
            model_path = str(resolved.base_path)
            engine_kwargs["enable_lora"] = True
            self._lora = str(resolved.path)
        elif resolved.format == "gguf":
            model_path = str(resolved.path)
            engine_kwargs["tokenizer"] = str(resolved.path.parent)
        else:
            model_path = str(resolved.path)
        if engine_factory is None:
            vllm = _import_vllm()
            engine_factory = vllm.LLM
        self.engine = engine_factory(model=model_path, **engine_kwargs)

    def _lora_request(self):
        if self._lora is None:
            return None
        from vllm.lora.request import LoRARequest

        return LoRARequest("cub-adapter", 1, self._lora)

    def _sampling_params(self, **kwargs):
        from vllm import SamplingParams

        return SamplingParams(**kwargs)

    def generate(self, prompts: Sequence[str], settings: GenerationSettings, batch_size: int = 8) -> list[str]:
        # vLLM schedules its own continuous batches: batch_size is irrelevant here.
        params = self._sampling_params(
            temperature=max(settings.temperature, 0.0), top_p=settings.top_p if settings.temperature > 0 else 1.0,
            max_tokens=settings.max_new_tokens, stop=list(settings.stop) or None, seed=settings.seed,
        )
        outputs = self.engine.generate(list(prompts), params, lora_request=self._lora_request(), use_tqdm=False)
        return [cut_at_stop(o.outputs[0].text, settings.stop) for o in outputs]

    def loglikelihood(self, requests: Sequence[tuple[str, str]], batch_size: int = 8) -> list[list[float]]:
        tok = self.tokenizer
        prompts, spans = [], []
        for context, continuation in requests:
            ctx = tok(context, add_special_tokens=False)["input_ids"] if context else []
            whole = tok(context + continuation, add_special_tokens=False)["input_ids"]
            cont = whole[len(ctx):] if whole[:len(ctx)] == ctx else tok(continuation, add_special_tokens=False)["input_ids"]
            start = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
            ids = [start] + ctx + cont
            prompts.append({"prompt_token_ids": ids})
            spans.append((len(ids) - len(cont), ids))
        # prompt_logprobs=1 returns, at every position, the prompt token's own log-prob (plus top-1).
        params = self._sampling_params(temperature=0.0, max_tokens=1, prompt_logprobs=1)
        outputs = self.engine.generate(prompts, params, lora_request=self._lora_request(), use_tqdm=False)
        results = []
        for out, (first, ids) in zip(outputs, spans):
            plp = out.prompt_logprobs
            row = []
            for pos in range(first, len(ids)):
                entry = plp[pos][ids[pos]]
                row.append(float(getattr(entry, "logprob", entry)))
            results.append(row)
        return results
