"""Prompt-inclusive generation budgets (``max_total_tokens``), on top of any backend.

PROD's reference code generates with ``max_length=1024``: prompt and continuation together. The
backends take one ``max_new_tokens`` per call, so a batch is generated with the largest per-sample
budget in it and each completion is then cut to its own budget (``max_total_tokens`` - prompt
tokens, capped by ``max_new_tokens``): greedy decoding makes that the continuation a call with the
sample's own budget would have produced, while batches stay batches.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

from code_unlearn_bench.models.base import GenerationSettings


def sample_budgets(tokenizer, prompts: Sequence[str], max_new_tokens: int, max_total_tokens: int) -> list[int]:
    """Per prompt: new tokens allowed, ``min(max_new_tokens, max_total_tokens - prompt tokens)``, >= 0.
    Prompt tokens are counted as the backends encode them (special tokens included)."""
    lengths = [len(ids) for ids in tokenizer(list(prompts), add_special_tokens=True)["input_ids"]]
    return [max(0, min(max_new_tokens, max_total_tokens - n)) for n in lengths]


def cut_to_budget(tokenizer, text: str, budget: int) -> str:
    """``text`` cut to its first ``budget`` tokens (unchanged when it is within the budget)."""
    if budget <= 0:
        return ""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return text if len(ids) <= budget else tokenizer.decode(ids[:budget], skip_special_tokens=True)


def generate(backend, prompts: Sequence[str], settings: GenerationSettings, batch_size: int,
             max_total_tokens: int | None = None, seeds: Sequence[int] | None = None) -> list[str]:
    """``backend.generate`` with an optional prompt-inclusive budget per prompt (``seeds``: one
    per prompt, passed on with their prompts)."""
    if not max_total_tokens:
        return backend.generate(list(prompts), settings, batch_size=batch_size, seeds=seeds)
    budgets = sample_budgets(backend.tokenizer, prompts, settings.max_new_tokens, max_total_tokens)
    outs = [""] * len(prompts)
    todo = [i for i, b in enumerate(budgets) if b > 0]  # a prompt over the total budget gets nothing
    if todo:
        call = dataclasses.replace(settings, max_new_tokens=max(budgets[i] for i in todo))
        sub_seeds = [seeds[i] for i in todo] if seeds is not None else None
        texts = backend.generate([prompts[i] for i in todo], call, batch_size=batch_size, seeds=sub_seeds)
        for i, text in zip(todo, texts):
            outs[i] = cut_to_budget(backend.tokenizer, text, budgets[i])
    return outs
