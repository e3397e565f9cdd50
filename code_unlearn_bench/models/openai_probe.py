"""Can this server score log-likelihoods? Servers differ in what ``echo`` + ``logprobs`` return.

The check: greedily generate one token after a context (its log-prob comes from the ordinary
generation path), then ask for the echoed prompt log-probs of context + that token. On a correct
server the token's echoed log-prob is the one it was generated with. Known failures it catches:
llama-cpp-python (0.3.x) reports echoed ``token_logprobs[i]`` under the distribution *at* position
i instead of i-1 (abetlen/llama-cpp-python#1983); llama.cpp's own server returns no prompt
log-probs at all (ggml-org/llama.cpp#27174). The generated token is found in the echo by position
(models/openai_echo.py), not by the server's text offsets: those count an echoed BOS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from code_unlearn_bench.errors import CubError
from code_unlearn_bench.models.openai_echo import EchoMismatch, echo_spans

# Contexts whose greedy next token is near-certain for any code model, so a position-shifted echo
# (the log-prob of the token under the *next* distribution) is far off; two of them make a chance
# coincidence of a wrong server negligible.
PROBE_CONTEXTS = ("def add(a, b):\n    return a +", "import numpy as")
# Same server, same weights, same token: only batch-shape numerics differ (bf16 on GPU: ~1e-2).
TOLERANCE = 0.1


@dataclass
class ProbeResult:
    ok: bool
    detail: str  # why not, or the measured agreement

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "detail": self.detail}


def first_choice(answer: Any, url: str) -> dict[str, Any]:
    """``answer["choices"][0]``, or a one-line error naming what came back instead."""
    try:
        choice = answer["choices"][0]
    except (KeyError, IndexError, TypeError):
        choice = None
    if not isinstance(choice, dict):
        raise CubError(f"{url}/completions answered without choices[0]: {str(answer)[:120]}")
    return choice


def echoed_logprobs(choice: dict[str, Any]) -> tuple[list[str], list[float | None], list[int]] | None:
    """(tokens, token_logprobs, text_offset) of a completion choice, None if the server sent none."""
    lp = choice.get("logprobs") or {}
    tokens, values, offsets = lp.get("tokens"), lp.get("token_logprobs"), lp.get("text_offset")
    if not tokens or values is None or offsets is None or not (len(tokens) == len(values) == len(offsets)):
        return None
    return tokens, values, offsets


def _probe_one(post: Callable[[dict[str, Any]], dict[str, Any]], base: dict[str, Any], context: str,
               url: str, tokenizer) -> ProbeResult:
    gen = post({**base, "prompt": context, "max_tokens": 1, "temperature": 0.0, "logprobs": 1})
    got = echoed_logprobs(first_choice(gen, url))
    if got is None or got[1][0] is None:
        return ProbeResult(False, "it returns no log-probs for generated tokens")
    token, generated_lp = got[0][0], float(got[1][0])
    echo = post({**base, "prompt": context + token, "max_tokens": 1, "temperature": 0.0, "logprobs": 1,
                 "echo": True})
    got = echoed_logprobs(first_choice(echo, url))
    if got is None:
        return ProbeResult(False, "it returns no prompt log-probs with echo (llama.cpp's server: "
                                  "ggml-org/llama.cpp#27174)")
    tokens, values, offsets = got
    prompt = context + token
    try:
        spans = echo_spans(tokenizer, prompt, tokens, offsets)
    except EchoMismatch as exc:
        return ProbeResult(False, str(exc))
    if all(v is None for v in values[:len(spans)]):
        return ProbeResult(False, "its echoed prompt log-probs are all empty")
    at = [i for i, span in enumerate(spans) if span == (len(context), len(prompt))]
    if not at or values[at[0]] is None:
        return ProbeResult(False, f"it re-tokenised the probe so that the generated token {token!r} "
                                  f"cannot be found in the echo; the echo cannot be verified")
    echoed_lp = float(values[at[0]])
    if abs(echoed_lp - generated_lp) > TOLERANCE:
        return ProbeResult(False, f"its echoed log-probs are wrong: {token!r} generated at {generated_lp:.3f} "
                                  f"but echoed at {echoed_lp:.3f} (llama-cpp-python shifts them by one "
                                  f"position: abetlen/llama-cpp-python#1983)")
    return ProbeResult(True, f"{token!r}: generated {generated_lp:.4f}, echoed {echoed_lp:.4f}")


def probe_loglikelihood(post: Callable[[dict[str, Any]], dict[str, Any]], base: dict[str, Any],
                        url: str, tokenizer) -> ProbeResult:
    """``post`` sends one completions request; ``base`` holds the fields every request carries;
    ``tokenizer``: the served model's, loaded locally."""
    details = []
    for context in PROBE_CONTEXTS:
        result = _probe_one(post, base, context, url, tokenizer)
        if not result.ok:
            return result
        details.append(result.detail)
    return ProbeResult(True, "; ".join(details))
