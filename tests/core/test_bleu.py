import random

import pytest

from code_unlearn_bench.analyzers.bleu import text_bleu, token_bleu

nltk_bleu = pytest.importorskip("nltk.translate.bleu_score")


def test_token_bleu_matches_nltk_sentence_bleu_on_random_sequences():
    rng = random.Random(0)
    checked = 0
    for _ in range(300):
        ref = [rng.randint(0, 15) for _ in range(rng.randint(4, 60))]
        hyp = ref[: rng.randint(0, len(ref))] + [rng.randint(0, 15) for _ in range(rng.randint(0, 12))]
        if not hyp:
            continue
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = nltk_bleu.sentence_bleu([ref], hyp)
        assert token_bleu(hyp, ref) == pytest.approx(expected, abs=1e-9)
        checked += 1
    assert checked > 250


def test_token_bleu_known_values():
    ref = list(range(20))
    assert token_bleu(ref, ref) == pytest.approx(1.0)
    assert token_bleu([99, 98, 97, 96], ref) == 0.0  # no 4-gram match, unsmoothed -> 0
    # half the reference, verbatim: precisions are 1, brevity penalty exp(1 - 20/10)
    import math

    assert token_bleu(ref[:10], ref) == pytest.approx(math.exp(1 - 2), rel=1e-6)
    assert token_bleu([], ref) == 0.0


def test_text_bleu_is_cyberseceval_protocol():
    import sacrebleu

    hyp, ref = "x = os.system(cmd)\nprint(x)", "x = subprocess.run(cmd)\nprint(x)"
    expected = sacrebleu.corpus_bleu([hyp], [[ref]], smooth_method="exp", tokenize="13a").score / 100
    assert text_bleu(hyp, ref) == pytest.approx(expected)
    assert text_bleu(ref, ref) == pytest.approx(1.0)
    assert 0 < text_bleu(hyp, ref) < 1
