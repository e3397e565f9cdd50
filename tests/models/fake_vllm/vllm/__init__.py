"""A stand-in for vLLM's offline API (signatures as documented) that records every call.

Importable in-process (tests put this folder on sys.path) and in child processes (PYTHONPATH);
with FAKE_VLLM_LOG set, every event is also appended to that JSONL file, so tests can see what
replica processes did.
"""

import json
import os

EVENTS = []


def record(event, **fields):
    entry = {"event": event, "pid": os.getpid(), "cuda_visible": os.environ.get("CUDA_VISIBLE_DEVICES"), **fields}
    EVENTS.append(entry)
    path = os.environ.get("FAKE_VLLM_LOG")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(entry, default=str) + "\n")


class SamplingParams:
    def __init__(self, n=1, temperature=1.0, top_p=1.0, max_tokens=16, stop=None, seed=None, logprobs=None,
                 prompt_logprobs=None):
        self.n, self.temperature, self.top_p, self.max_tokens = n, temperature, top_p, max_tokens
        self.stop, self.seed, self.logprobs, self.prompt_logprobs = stop, seed, logprobs, prompt_logprobs


class Logprob:
    def __init__(self, logprob):
        self.logprob = logprob


class CompletionOutput:
    def __init__(self, text):
        self.text = text


class RequestOutput:
    def __init__(self, outputs, prompt_logprobs=None):
        self.outputs, self.prompt_logprobs = outputs, prompt_logprobs


class LLM:
    def __init__(self, model, **kwargs):
        self.model, self.kwargs, self.calls = model, kwargs, []
        record("init", model=model, kwargs=kwargs)
        if os.environ.get("FAKE_VLLM_FAIL"):
            raise RuntimeError(os.environ["FAKE_VLLM_FAIL"])

    def generate(self, prompts, sampling_params=None, lora_request=None, use_tqdm=True):
        params = sampling_params if isinstance(sampling_params, list) else [sampling_params] * len(prompts)
        assert len(params) == len(prompts)
        self.calls.append((prompts, sampling_params, lora_request))
        record("generate", n_prompts=len(prompts), seeds=[p.seed for p in params],
               lora=[lora_request.lora_int_id, lora_request.lora_path] if lora_request else None,
               prompt_logprobs=params[0].prompt_logprobs)
        outs = []
        for prompt, p in zip(prompts, params):
            ids = prompt["prompt_token_ids"]
            if p.prompt_logprobs:
                # the prompt token's own log-prob (-0.1 * position) and a top-1 decoy
                plp = [None] + [{t: Logprob(-0.1 * i), -1: Logprob(-9.0)} for i, t in enumerate(ids[1:], 1)]
                outs.append(RequestOutput([CompletionOutput("")], plp))
            else:
                text = f"n{len(ids)} s{p.seed} t{p.temperature}\nSTOP tail"
                outs.append(RequestOutput([CompletionOutput(text)]))
        return outs
