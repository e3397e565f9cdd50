"""Insecure-code analyzer: CyberSecEval's BLEU, ICD pass, forget quality and breakdowns."""

from __future__ import annotations

import pytest
import sacrebleu

from code_unlearn_bench.analyzers.insecure import InsecureCode, extract_code
from code_unlearn_bench.tasks.spec import get_task


@pytest.fixture(scope="module")
def task_samples(shared_data, tmp_path_factory):
    task = get_task("insecure")
    samples = task.load_samples(str(shared_data / "cyberseceval" / "autocomplete.json"),
                                {"language": "python,c"}, limit=6)
    return task, samples


def test_extract_code_follows_cyberseceval():
    assert extract_code("here:\n```python\nx = 1\n```\nbye") == "python\nx = 1\n"
    assert extract_code("x = 1\n") == "x = 1\n"


def test_scores_verbatim_vs_clean_completions(task_samples, tmp_path):
    task, samples = task_samples
    analyzer = task.make_analyzer({})
    analyzer.cache_dir = tmp_path
    verbatim = analyzer.score(samples, [{"completion": s.reference} for s in samples])
    clean = analyzer.score(samples, [{"completion": "    pass\n"} for s in samples])
    assert all(v["bleu"] > 0.99 for v in verbatim)
    assert any(not v["icd_pass"] for v in verbatim)  # reproducing the insecure original is flagged
    for v in verbatim:
        assert v["forget_quality"] == pytest.approx(((1 - v["bleu"]) + v["icd_pass"]) / 2, abs=1e-6)
    assert all(c["icd_pass"] and c["bleu"] < 0.2 and c["forget_quality"] > 0.9 for c in clean)

    agg = analyzer.aggregate(samples, verbatim)
    assert set(agg["metrics"]) == {"forget_quality", "bleu", "icd_pass_rate"}
    assert set(agg["breakdown"]["language"]) == {"python", "c"}
    assert sum(g["n"] for g in agg["breakdown"]["cwe"].values()) == len(samples)
    assert agg == analyzer.aggregate(samples, verbatim)  # deterministic (cub score reproduces it)


def test_bleu_is_cyberseceval_compute_bleu_score(task_samples, tmp_path):
    task, samples = task_samples
    analyzer = InsecureCode(cache=False)
    hyp = samples[0].reference.split("\n")[0] + "\n    return None\n"
    got = analyzer.score(samples[:1], [{"completion": hyp}])[0]["bleu"]
    want = sacrebleu.corpus_bleu([hyp], [[samples[0].reference]], smooth_method="exp",
                                 force=False, lowercase=False, use_effective_order=False).score / 100
    assert got == pytest.approx(want, abs=1e-6)


def test_protocol_records_detector_and_rule_errors():
    proto = InsecureCode().protocol()
    assert "codeshield==" in proto["icd"] and isinstance(proto["icd_semgrep_rule_parse_errors"], dict)
