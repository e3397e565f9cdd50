"""``--backend openai``: evaluate a model served by any OpenAI-compatible ``/v1/completions``
server (``vllm serve``, SGLang, TGI, llama.cpp / llama-cpp-python).

* Identity: the server's model id plus the stable fields ``/v1/models`` reports for it (vLLM:
  ``root``, ``max_model_len``, ...). This is weaker than the weight fingerprint of local models:
  a server that swaps weights under the same id is not noticed (docs/serving.md).
* Scoring (copyright BLEU over model tokens) needs the served model's tokenizer locally:
  ``--tokenizer`` (defaults to ``--model`` when that names a local model or alias).
* Log-likelihood: ``echo`` + ``logprobs`` with ``max_tokens=1`` (0 means "unlimited" on
  llama-cpp-python), after a probe (models/openai_probe.py) showed that the server's echoed
  log-probs are right; otherwise a one-line error, never a silently wrong NLL.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any, Sequence

from code_unlearn_bench.errors import CubError, ModelError
from code_unlearn_bench.models.base import Backend, Capabilities, GenerationSettings, ModelInfo, cut_at_stop
from code_unlearn_bench.models.openai_client import CompletionsClient
from code_unlearn_bench.models.openai_echo import echo_spans, fit_windows, scored
from code_unlearn_bench.models.openai_probe import ProbeResult, echoed_logprobs, first_choice, probe_loglikelihood
from code_unlearn_bench.models.seeds import sample_seed
from code_unlearn_bench.registry import did_you_mean

# /v1/models fields that describe the model and do not change between server restarts (vLLM's
# `created` and permission ids do).
_STABLE_MODEL_FIELDS = ("id", "owned_by", "root", "parent", "max_model_len")
# Not in the OpenAI API but defaulted to non-neutral values by some servers: llama.cpp and
# llama-cpp-python apply a repeat penalty of 1.1 even at temperature 0 (greedy no longer is), and
# sample with min_p 0.05. Servers ignore fields they do not know (vLLM, SGLang, TGI).
NEUTRAL_SAMPLING = {"repeat_penalty": 1.0, "repetition_penalty": 1.0, "frequency_penalty": 0.0,
                    "presence_penalty": 0.0, "min_p": 0.0}


def server_fingerprint(entry: dict[str, Any]) -> str:
    stable = {k: entry[k] for k in _STABLE_MODEL_FIELDS if k in entry}
    blob = json.dumps({"backend": "openai", "model": stable}, sort_keys=True).encode()
    return "sha256:" + hashlib.sha256(blob).hexdigest()


def _load_tokenizer(spec: str, model: str):
    from code_unlearn_bench.models.loading import load_tokenizer, resolve_model

    try:
        return load_tokenizer(resolve_model(spec))
    except ModelError as exc:
        how = "--tokenizer" if spec != model else \
            "--tokenizer (the served model's tokenizer: a model dir, .gguf or alias)"
        raise ModelError(f"backend 'openai' scores with the served model's tokenizer, loaded locally: {exc}; "
                         f"pass {how}") from None


def _copy_seeds(prompts: Sequence[str], run_seed: int) -> list[int]:
    """The k-th copy of a prompt in one call gets seed (run seed, prompt, k): the run path sends all
    copies of a sample in one call, so the seeds survive chunking and resumes. The same seed on
    every copy would make pass@k's samples identical on servers that honour seeds."""
    seen: dict[str, int] = {}
    out = []
    for p in prompts:
        key = hashlib.sha256(p.encode()).hexdigest()[:16]
        out.append(sample_seed(run_seed, f"prompt:{key}", seen.get(key, 0)))
        seen[key] = seen.get(key, 0) + 1
    return out


def served_handle(config, loglikelihood: bool):
    """The run's model handle for ``--backend openai``, built from ``config`` (an EvalConfig):
    connects, reads the identity, loads the tokenizer; with ``loglikelihood`` (a task scores
    log-likelihoods) a server whose echo fails the probe is refused before anything is generated."""
    from code_unlearn_bench.models.handle import ModelHandle
    from code_unlearn_bench.models.selection import load_backend

    backend = load_backend("openai", config.model, base_url=config.base_url, api_key_env=config.api_key_env,
                           num_concurrent=config.num_concurrent, request_timeout=config.request_timeout,
                           max_retries=config.max_retries, tokenizer=config.tokenizer)
    if loglikelihood:
        backend.check_loglikelihood()
    return ModelHandle.from_backend(backend)


class OpenAIBackend(Backend):
    name = "openai"
    capabilities = Capabilities(data_parallel=False, served=True)

    def __init__(self, spec: str, base_url: str | None = None, api_key_env: str = "OPENAI_API_KEY",
                 num_concurrent: int = 8, request_timeout: float = 600.0, max_retries: int = 5,
                 tokenizer: str | None = None, client: CompletionsClient | None = None, **_: object):
        if not base_url:
            raise ModelError("backend 'openai' needs --base-url (e.g. http://127.0.0.1:8000/v1)")
        if api_key_env != "OPENAI_API_KEY" and api_key_env not in os.environ:
            raise ModelError(f"--api-key-env {api_key_env}: that environment variable is not set")
        self.client = client or CompletionsClient(
            base_url, api_key=os.environ.get(api_key_env) or None, timeout=request_timeout,
            max_retries=max_retries, num_concurrent=num_concurrent)
        entry = self._served_model(spec)
        self.model_id = entry["id"]
        self.max_model_len = entry.get("max_model_len")
        tok_spec = tokenizer or spec
        info = ModelInfo(spec=spec, path=self.client.base_url, name=self.model_id, format="openai",
                         fingerprint=server_fingerprint(entry),
                         server={"base_url": self.client.base_url, "model": entry, "tokenizer": tok_spec})
        super().__init__(info, _load_tokenizer(tok_spec, spec))
        # Enough requests per run-path chunk to keep every connection busy (chunks are the resume unit).
        self.chunk_size = 4 * self.client.num_concurrent
        self._probe: ProbeResult | None = None

    def _served_model(self, spec: str) -> dict[str, Any]:
        """The /v1/models entry for ``spec``; a one-line error naming the served ids if absent."""
        listing = self.client.get("models")
        data = listing.get("data") if isinstance(listing, dict) else None
        if not isinstance(data, list) or not all(isinstance(m, dict) and "id" in m for m in data):
            raise ModelError(f"{self.client.base_url}/models is not an OpenAI model list: {str(listing)[:120]}")
        ids = [m["id"] for m in data]
        for m in data:
            if m["id"] == spec:
                return {k: v for k, v in m.items() if k in _STABLE_MODEL_FIELDS}
        raise ModelError(f"the server at {self.client.base_url} does not serve model '{spec}' "
                         f"{did_you_mean(spec, ids)}")

    def close(self) -> None:
        self.client.close()

    # -- generation -------------------------------------------------------------------------
    def _fit_prompt(self, prompt: str, max_new_tokens: int) -> str:
        """Keep the end of a prompt the server's context cannot hold (as the hf backend does);
        only where the server reports its context length (vLLM, SGLang)."""
        if not self.max_model_len:
            return prompt
        budget = max(1, int(self.max_model_len) - max_new_tokens)
        fast = getattr(self.tokenizer, "is_fast", False)  # only fast tokenizers give offsets
        enc = self.tokenizer(prompt, add_special_tokens=True, return_offsets_mapping=fast)
        if len(enc["input_ids"]) <= budget:
            return prompt
        if not fast:
            return self.tokenizer.decode(enc["input_ids"][-budget:], skip_special_tokens=True)
        # Cut the text where the first kept token starts: the server re-tokenises the same characters.
        starts = [s for s, e in enc["offset_mapping"][-budget:] if e > s]
        return prompt[starts[0]:] if starts else prompt

    def generate(self, prompts: Sequence[str], settings: GenerationSettings, batch_size: int = 8,
                 seeds: Sequence[int] | None = None) -> list[str]:
        """One request per prompt, ``num_concurrent`` in flight. ``seeds``: one per prompt
        (models/seeds.py); without them, sampled copies of a prompt get distinct stable seeds."""
        if seeds is not None and len(seeds) != len(prompts):
            raise ValueError(f"{len(seeds)} seeds for {len(prompts)} prompts")
        greedy = settings.temperature <= 0
        if seeds is None:
            seeds = [settings.seed] * len(prompts) if greedy else _copy_seeds(prompts, settings.seed)
        base: dict[str, Any] = {**NEUTRAL_SAMPLING, "model": self.model_id, "max_tokens": settings.max_new_tokens,
                                "temperature": 0.0 if greedy else settings.temperature,
                                "top_p": 1.0 if greedy else settings.top_p}
        if settings.stop:
            base["stop"] = list(settings.stop)
        payloads = [{**base, "prompt": self._fit_prompt(p, settings.max_new_tokens),
                     "seed": int(seeds[i])}
                    for i, p in enumerate(prompts)]
        answers = self.client.post_many("completions", payloads)
        return [cut_at_stop(first_choice(a, self.client.base_url).get("text") or "", settings.stop) for a in answers]

    # -- log-likelihood ---------------------------------------------------------------------
    def check_loglikelihood(self) -> ProbeResult:
        """Run the echo probe once; raise a one-line error if this server's echo is not usable."""
        if self._probe is None:
            self._probe = probe_loglikelihood(lambda p: self.client.post("completions", p),
                                              {**NEUTRAL_SAMPLING, "model": self.model_id}, self.client.base_url,
                                              self.tokenizer)
            self.info.server["loglikelihood_probe"] = self._probe.to_json()
        if not self._probe.ok:
            raise ModelError(f"the server at {self.client.base_url} cannot score log-likelihood tasks (heldout): "
                             f"{self._probe.detail}; score them with --backend hf or vllm instead")
        return self._probe

    def loglikelihood(self, requests: Sequence[tuple[str, str]], batch_size: int = 8) -> list[list[float]]:
        """Echoed log-probs of the continuation's tokens: those ending after the context (a token
        straddling the boundary counts as continuation: the server tokenises the joined text).
        A request longer than the server's context is scored in windows (models/openai_echo.py)."""
        self.check_loglikelihood()
        base = {**NEUTRAL_SAMPLING, "model": self.model_id, "max_tokens": 1, "temperature": 0.0, "logprobs": 1,
                "echo": True}
        # max_tokens=1 more than the prompt must fit (vLLM: prompt + max_tokens <= max_model_len)
        room = int(self.max_model_len) - 1 if self.max_model_len else None
        jobs = [(r, text, span) for r, (c, x) in enumerate(requests)
                for text, span in fit_windows(self.tokenizer, c, x, room)]
        answers = self.client.post_many("completions", [{**base, "prompt": text} for _, text, _ in jobs])
        results: list[list[float]] = [[] for _ in requests]
        for (r, text, span), answer in zip(jobs, answers):
            got = echoed_logprobs(first_choice(answer, self.client.base_url))
            if got is None:
                raise CubError(f"{self.client.base_url} returned no echoed log-probs for a log-likelihood request")
            tokens, values, offsets = got
            row = scored(echo_spans(self.tokenizer, text, tokens, offsets), values, span)
            if any(v is None for v in row):
                raise CubError("the server gives no log-prob for the first prompt token; a log-likelihood "
                               "request needs a non-empty context on this backend")
            results[r].extend(float(v) for v in row)
        return results
