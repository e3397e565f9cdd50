"""Generation-health diagnostics: expose a model that "forgets" by emitting garbage.

An unlearned model that only outputs empty strings, loops, or broken code scores perfect
forget quality (1 - BLEU = 1); these numbers, shown beside every generation task, make that
visible. Part of the core: the run path calls ``diagnose`` for every generation task.

Per completion (each reported as a ``metric``: mean, CI, n):
  empty                 1 if the completion is empty or whitespace only
  distinct_1/2          unique / total word-level 1-grams (2-grams) inside the completion
                        (non-empty completions only; 1.0 for a completion too short to have one)
  longest_repeat_run    the longest span, in tokens, made of back-to-back copies (>= 2) of one
                        n-gram (n <= 8): "return x\\nreturn x\\nreturn x" -> 6
  repetitive            1 if that span is >= 32 tokens and >= half the completion (a loop)
  non_parsing_python    1 if the (Python) completion does not parse, leniently: a continuation
                        may start mid-line, be an indented body, or end cut by the token budget
Plus ``corpus_distinct_2`` (unique 2-grams over all completions / all 2-grams: low when the
model answers everything the same way) and ``n``.
"""

from __future__ import annotations

import ast
import re
import textwrap
import warnings
from typing import Any, Sequence

from code_unlearn_bench.analyzers.base import metric

TOKEN = re.compile(r"\w+|[^\w\s]")
MAX_NGRAM = 8
REPETITIVE_MIN_TOKENS = 32


def tokens(text: str) -> list[str]:
    return TOKEN.findall(text)


def _ngrams(toks: list[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(toks[i:i + n]) for i in range(len(toks) - n + 1)]


def distinct(toks: list[str], n: int) -> float:
    grams = _ngrams(toks, n)
    return len(set(grams)) / len(grams) if grams else 1.0


def longest_repeat_run(toks: list[str], max_n: int = MAX_NGRAM) -> int:
    """Longest token span made of >= 2 back-to-back copies of one n-gram (0 if none)."""
    best = 0
    for n in range(1, max_n + 1):
        # a run of copies of a period-n pattern is a stretch where toks[i] == toks[i + n]
        match = 0
        for i in range(len(toks) - n):
            match = match + 1 if toks[i] == toks[i + n] else 0
            if match >= n:  # at least two full copies: span = match + n
                best = max(best, match + n)
    return best


def _parses(text: str) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SyntaxWarning for odd escapes is not a parse failure
            ast.parse(text)
        return True
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return False


def parses_as_python(completion: str, prompt: str | None = None) -> bool:
    """Lenient parse check of a continuation (see module doc)."""
    lines = completion.split("\n")
    candidates = [completion]
    if len(lines) > 1:
        candidates.append("\n".join(lines[:-1]))  # last line cut by the token budget
    variants = []
    for text in candidates:
        if prompt is not None:
            variants.append(prompt + text)
        variants += [text, textwrap.dedent(text)]
        body = text.split("\n", 1)[1] if "\n" in text else ""
        variants += [textwrap.dedent(body)]  # first line continued the prompt's last line
        # an indented function body on its own
        variants += ["def _f():\n" + textwrap.indent(textwrap.dedent(t), "    ") for t in (text, body) if t.strip()]
    # an empty variant (everything dropped) says nothing about the completion
    return any(_parses(v) for v in variants if v.strip())


def diagnose(completions: Sequence[str], prompts: Sequence[str] | None = None,
             languages: Sequence[str | None] | None = None) -> dict[str, Any]:
    """Health metrics of a task's completions; ``languages`` limits the parse check to Python."""
    empty, d1, d2, runs, rep, nonparse = [], [], [], [], [], []
    corpus_grams: list[tuple[str, ...]] = []
    for i, text in enumerate(completions):
        text = text or ""
        is_empty = not text.strip()
        empty.append(1.0 if is_empty else 0.0)
        toks = tokens(text)
        corpus_grams += _ngrams(toks, 2)
        run = longest_repeat_run(toks)
        runs.append(float(run))
        rep.append(1.0 if run >= REPETITIVE_MIN_TOKENS and run * 2 >= len(toks) else 0.0)
        if not is_empty:
            d1.append(distinct(toks, 1))
            d2.append(distinct(toks, 2))
        lang = (languages[i] if languages is not None else None) or "python"
        if lang.lower() == "python":
            prompt = prompts[i] if prompts is not None else None
            nonparse.append(0.0 if is_empty or parses_as_python(text, prompt) else 1.0)
    out = {
        "empty": metric(empty, higher_is_better=False),
        "distinct_1": metric(d1),
        "distinct_2": metric(d2),
        "longest_repeat_run": metric(runs, higher_is_better=False),
        "repetitive": metric(rep, higher_is_better=False),
        "non_parsing_python": metric(nonparse, higher_is_better=False),
        "corpus_distinct_2": round(len(set(corpus_grams)) / len(corpus_grams), 6) if corpus_grams else None,
        "n": len(completions),
    }
    return out
