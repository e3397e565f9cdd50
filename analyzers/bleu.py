"""The BLEU computations of the paper's ecosystem, both done by sacrebleu.

* :func:`token_bleu` (PROD's reference code): unsmoothed 4-gram *sentence* BLEU over the model's
  own sub-word tokens (nltk ``sentence_bleu`` semantics). Tokens are given as id sequences and
  joined by spaces with sacrebleu's ``none`` tokenizer, so n-grams are exactly token-id n-grams.
* :func:`text_bleu` (CyberSecEval): sacrebleu BLEU with the ``13a`` tokenizer and exponential
  smoothing on the raw text, one sample as a corpus.

The copyright task's protocols (which BLEU, which budget, which reference) are named in
:data:`PROTOCOLS`; ``analyzers/copyright_bleu.py`` implements them. Both return BLEU in [0, 1].
"""

from __future__ import annotations

import functools
from typing import Sequence

# reference:           the reference code exactly: 1,024 tokens in total (prompt included), token BLEU
#                      against the whole second half
# reference-truncated: token BLEU against the second half cut to the generation budget (256 new tokens)
# cyberseceval:        text BLEU (13a, exp smoothing) against the second half cut to the budget
PROTOCOLS = ("reference", "reference-truncated", "cyberseceval")


@functools.lru_cache(maxsize=None)
def _scorer(tokenize: str, smooth: str):
    import logging

    from sacrebleu.metrics import BLEU

    # sacrebleu logs a recommendation on every unsmoothed sentence score; the choice is deliberate.
    logging.getLogger("sacrebleu").setLevel(logging.ERROR)

    # effective_order=False: a hypothesis with no 4-gram match scores 0, as in the unsmoothed
    # reference protocol (nltk's sentence_bleu default).
    return BLEU(tokenize=tokenize, smooth_method=smooth, effective_order=False)


def token_bleu(hyp_ids: Sequence[int], ref_ids: Sequence[int]) -> float:
    """Unsmoothed 4-gram sentence BLEU over token ids (the reference protocol)."""
    if not hyp_ids or not ref_ids:
        return 0.0
    hyp = " ".join(map(str, hyp_ids))
    ref = " ".join(map(str, ref_ids))
    return _scorer("none", "none").sentence_score(hyp, [ref]).score / 100.0


def text_bleu(hyp: str, ref: str) -> float:
    """CyberSecEval's BLEU: 13a tokenisation, exponential smoothing, one sample as a corpus."""
    if not ref.strip():
        return 0.0
    return _scorer("13a", "exp").corpus_score([hyp], [[ref]]).score / 100.0
