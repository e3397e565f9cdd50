"""Log-likelihood requests as token windows, shared by every backend that scores prompts itself."""

from __future__ import annotations


def encode_pair(tokenizer, context: str, continuation: str, chat=None) -> tuple[list[int], list[int]]:
    """(conditioning ids, continuation ids). Context and context+continuation are tokenised jointly
    and the continuation is what follows the context's tokens. Under a chat template the context is
    the user turn and the continuation the reply."""
    if chat is not None:
        context = chat.render(tokenizer, context)
    ctx = tokenizer(context, add_special_tokens=False)["input_ids"] if context else []
    whole = tokenizer(context + continuation, add_special_tokens=False)["input_ids"]
    if whole[:len(ctx)] == ctx:
        cont = whole[len(ctx):]
    else:  # the join re-tokenised differently: score the continuation on its own tokens
        cont = tokenizer(continuation, add_special_tokens=False)["input_ids"]
    if chat is not None:
        return ctx, cont  # the template begins with its own start tokens
    # An empty context still needs one token to condition the first continuation token on.
    start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    return [start] + ctx, cont


def windows(ctx: list[int], cont: list[int], max_length: int) -> list[tuple[list[int], int]]:
    """(input ids, number of scored tokens at the end) per window: a continuation longer than the
    model's context is scored in chunks, each conditioned on as much preceding text as fits."""
    if not cont:
        return [(ctx[-max_length:], 0)]
    out, pos = [], 0
    while pos < len(cont):
        chunk = cont[pos:pos + max_length - 1]
        prefix = (ctx + cont[:pos])[-(max_length - len(chunk)):]
        out.append((prefix + chunk, len(chunk)))
        pos += len(chunk)
    return out
