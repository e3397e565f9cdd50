"""Where each echoed prompt token of an OpenAI-style ``echo`` answer lies in the prompt text, and
how a log-likelihood request is cut into prompts that fit the server's context.

Servers report ``text_offset`` over the *decoded* tokens, which is not the prompt's text: a server
whose tokenizer adds a BOS echoes it first (``vllm serve``: ``"<s>"`` at offset 0, so every offset
is ``len("<s>")`` too far: CodeLlama, Llama 3, DeepSeek-Coder), a SentencePiece word piece decodes
with its space restored, and a byte token inside a multi-byte character decodes to U+FFFD. So
position i of the echo is matched with token i of the local tokenizer (the served model's, the
one scoring uses), whose offset mapping gives its characters; the counts must agree. Tokenizers
without an offset mapping fall back to the server's offsets, shifted past the leading special
tokens.
"""

from __future__ import annotations

from typing import Sequence

from code_unlearn_bench.errors import CubError

Span = tuple[int, int]  # characters [start, end) of the prompt; (0, 0) for an added special token


class EchoMismatch(CubError):
    """The server's echo does not line up with the local tokenizer's tokens."""


def _leading_specials(tokenizer, text: str) -> int:
    """How many tokens the tokenizer adds before the text (a BOS: 1, none: 0)."""
    with_special = tokenizer(text, add_special_tokens=True)["input_ids"]
    plain = tokenizer(text, add_special_tokens=False)["input_ids"]
    n = len(with_special) - len(plain)
    return n if n > 0 and with_special[n:] == plain else 0


def local_spans(tokenizer, text: str) -> list[Span] | None:
    """The character span of each token the server sees for ``text`` (special tokens added), or
    None for a tokenizer without offsets."""
    if not getattr(tokenizer, "is_fast", False):
        return None
    enc = tokenizer(text, add_special_tokens=True, return_offsets_mapping=True)
    lead = _leading_specials(tokenizer, text)
    return [(0, 0) if i < lead else (int(s), int(e)) for i, (s, e) in enumerate(enc["offset_mapping"])]


def echo_spans(tokenizer, prompt: str, tokens: Sequence[str], offsets: Sequence[int]) -> list[Span]:
    """The span in ``prompt`` of each echoed prompt token; entries past the prompt (the one
    generated token) are left out. Raises EchoMismatch when the echo cannot be lined up."""
    spans = local_spans(tokenizer, prompt)
    if spans is None:
        lead = _leading_specials(tokenizer, prompt)
        shift = offsets[lead] if len(offsets) > lead else 0
        spans = [(0, 0) if i < lead else (o - shift, o - shift + len(t))
                 for i, (t, o) in enumerate(zip(tokens, offsets))]
        return [s for s in spans if s[0] < len(prompt)]
    if len(tokens) not in (len(spans), len(spans) + 1):  # +1: the generated token, when echoed
        raise EchoMismatch(f"the server echoed {len(tokens)} tokens for a prompt the local tokenizer splits into "
                           f"{len(spans)}: is --tokenizer the served model's tokenizer?")
    return spans


def fit_windows(tokenizer, context: str, continuation: str, max_tokens: int | None) -> list[tuple[str, Span]]:
    """(prompt text, scored span of it) per request sent for (context, continuation).

    ``max_tokens``: the most prompt tokens the server takes (special tokens included), None if it
    does not say. A longer request is cut into windows as the hf backend cuts its token ids
    (models/scoring.windows): each scores the next chunk of the continuation, conditioned on as
    much preceding text as fits. The server re-adds its BOS at each window's start (hf does not),
    so long documents score close to, not exactly as, hf."""
    from code_unlearn_bench.models.scoring import windows

    text = context + continuation
    whole = [(text, (len(context), len(text)))]
    spans = local_spans(tokenizer, text) if max_tokens else None
    if spans is None or len(spans) <= max_tokens:
        return whole
    body = [s for s in spans if s != (0, 0)]
    # one token of slack: a window's text may tokenise one token longer at its cut start
    room = max_tokens - (len(spans) - len(body)) - 1
    if room < 2:
        raise CubError(f"the server's context ({max_tokens} prompt tokens) is too short to score log-likelihoods")
    first = next((i for i, (_, e) in enumerate(body) if e > len(context)), len(body))
    out = []
    for ids, n in windows(list(range(first)), list(range(first, len(body))), room):
        if n == 0:
            continue
        start, end = body[ids[0]][0], body[ids[-1]][1]
        out.append((text[start:end], (body[ids[-n]][0] - start, end - start)))
    return out


def scored(spans: Sequence[Span], values: Sequence[float | None], scored_span: Span) -> list[float | None]:
    """The echoed log-probs of the tokens overlapping ``scored_span`` (a token straddling the
    context/continuation boundary counts as continuation: the server tokenises the joined text)."""
    lo, hi = scored_span
    return [v for (s, e), v in zip(spans, values) if s < hi and e > lo]
