"""Backend interface: batched greedy generation and continuation log-likelihoods."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence


@dataclass(frozen=True)
class GenerationSettings:
    max_new_tokens: int = 256
    stop: tuple[str, ...] = ()
    temperature: float = 0.0  # 0 = greedy (the paper's setting everywhere)
    top_p: float = 1.0
    seed: int = 1234
    apply_chat_template: bool = False  # prompts rendered with the model's chat template
    system_prompt: str | None = None

    def to_json(self) -> dict[str, Any]:
        from code_unlearn_bench.models.chat import prompt_format_json

        return {"max_new_tokens": self.max_new_tokens, "stop": list(self.stop),
                "temperature": self.temperature, "top_p": self.top_p, "seed": self.seed,
                **prompt_format_json(self.apply_chat_template, self.system_prompt)}


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """Truncate at the earliest stop string (the stop string itself is dropped)."""
    cut = len(text)
    for s in stop:
        if s:
            i = text.find(s)
            if i != -1:
                cut = min(cut, i)
    return text[:cut]


@dataclass
class ModelInfo:
    spec: str  # what the user typed (path or alias)
    path: str  # resolved path of the weights
    name: str
    format: str  # "hf" | "peft" | "gguf" | "embedded" | "openai" (a served model)
    fingerprint: str
    base_model: str | None = None  # PEFT adapters: the base model
    lineage: dict[str, Any] | None = None  # cub_checkpoint.json written by `cub unlearn`/`cub learn`
    hub: dict[str, str] | None = None  # hub models: repo_id and the resolved commit (revision)
    server: dict[str, Any] | None = None  # --backend openai: base URL, /v1/models entry, tokenizer

    def to_json(self) -> dict[str, Any]:
        out = {"spec": self.spec, "path": self.path, "name": self.name, "format": self.format,
               "fingerprint": self.fingerprint}
        if self.base_model:
            out["base_model"] = self.base_model
        if self.lineage:
            out["lineage"] = self.lineage
        if self.hub:
            out["hub"] = self.hub
        if self.server:
            out["server"] = self.server
        return out


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do. The run path and the pipeline ask these, never a backend's name, so a
    plug-in backend is driven the same way as the built-in ones."""

    loglikelihood: bool = True  # continuation log-probs (held-out NLL, MIA)
    per_sample_seeds: bool = True  # one seed per sampled copy: reproducible pass@k
    lora_adapters: bool = False  # several LoRA adapters of one base served by one engine
    data_parallel: bool = True  # --data-parallel-size N: replicas in child processes
    child_process: bool = False  # always run in a child process (device memory is freed only when it ends)
    needs_gpu: bool = False  # its replicas are pinned to visible GPUs
    chat_template: bool = True  # --apply-chat-template
    served: bool = False  # a model already served over HTTP: needs --base-url; identity from the server
    weights_in_process: bool = False  # the torch module is reachable (attacks that edit weights)


class Backend:
    """A loaded model that can generate and score text. Implementations: hf, vllm, openai."""

    name = "base"
    capabilities = Capabilities()

    # Samples the run path hands over per call: one batch for hf; vLLM schedules its own batches
    # and takes a few hundred at once (the granularity at which a crashed run resumes).
    chunk_size: int | None = None

    def __init__(self, info: ModelInfo, tokenizer, chat=None):
        self.info = info
        self.tokenizer = tokenizer
        self.chat = chat  # models.chat.ChatFormat, or None for plain prompts

    def render(self, prompts: Sequence[str]) -> list[str]:
        """Prompts as the model sees them (chat-templated under --apply-chat-template)."""
        if self.chat is None:
            return list(prompts)
        return [self.chat.render(self.tokenizer, p) for p in prompts]

    def generate(self, prompts: Sequence[str], settings: GenerationSettings, batch_size: int = 8,
                 seeds: Sequence[int] | None = None) -> list[str]:
        """One completion per prompt (prompt not included), cut at the first stop string.
        ``seeds``: one per prompt copy (models.seeds.sample_seed), so that sampled copies of one
        prompt differ and a rerun reproduces them; ignored when greedy."""
        raise NotImplementedError

    def loglikelihood(self, requests: Sequence[tuple[str, str]], batch_size: int = 8) -> list[list[float]]:
        """For each (context, continuation): log-probs of the continuation's tokens given the context
        (teacher forcing). Tokenisation: context and context+continuation are tokenised jointly and the
        continuation tokens are those after the context's tokens."""
        raise NotImplementedError

    def close(self) -> None:
        pass
