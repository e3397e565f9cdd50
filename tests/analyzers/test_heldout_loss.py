from __future__ import annotations

import math

import pytest

from code_unlearn_bench.analyzers.heldout_loss import ANALYZER
from code_unlearn_bench.errors import CubError
from code_unlearn_bench.samples import Sample


def rec(lps):
    return {"id": "x", "loglikelihood": {"sum": sum(lps), "n_tokens": len(lps), "token_logprobs": lps}}


def test_mean_token_nll_lower_is_better():
    a = ANALYZER()
    samples = [Sample("a", "ctx"), Sample("b", "ctx")]
    scores = a.score(samples, [rec([-1.0, -3.0]), rec([-0.5] * 6)])
    assert [s["nll"] for s in scores] == [2.0, 0.5]
    out = a.aggregate(samples, scores)
    m = out["metrics"]["heldout_nll"]
    assert m["value"] == 1.25 and m["higher_is_better"] is False and m["n"] == 2
    assert out["breakdown"]["heldout_nll_token_weighted"] == pytest.approx(7.0 / 8)
    assert out["breakdown"]["perplexity_token_weighted"] == pytest.approx(math.exp(7.0 / 8), rel=1e-5)
    assert a.aggregate(samples, scores) == out  # deterministic


def test_generation_records_are_rejected():
    with pytest.raises(CubError, match="loglikelihood"):
        ANALYZER().score([Sample("a", "p")], [{"id": "a", "completion": "x"}])


def test_memorised_code_has_lower_heldout_loss_end_to_end(tiny_memorised, cub, tmp_path):
    """Through `cub evaluate` and the HF backend's loglikelihood: seen code scores a lower NLL."""
    import json

    nll = {}
    for name, data in (("seen", tiny_memorised.seen_jsonl), ("unseen", tiny_memorised.unseen_jsonl)):
        out = tmp_path / name
        code, _, err = cub("evaluate", "--model", tiny_memorised.path, "--tasks", "heldout", "--data", data,
                           "--output-dir", out, "--quiet")
        assert code == 0, err
        task = json.loads((out / "results.json").read_text())["tasks"]["heldout"]
        assert task["primary_metric"] == "heldout_nll" and "health" not in task
        nll[name] = task["metrics"]["heldout_nll"]["value"]
    assert 0 < nll["seen"] < nll["unseen"], nll
