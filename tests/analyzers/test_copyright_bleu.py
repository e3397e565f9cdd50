"""Copyright BLEU protocols: `reference` reproduces PROD's reference code (1,024 tokens in total,
prompt included; nltk sentence BLEU over tokenizer tokens against the whole second half, mean over
files); `reference-truncated` is the budget-truncated variant under its own name."""

from __future__ import annotations

import json
import warnings

import pytest

from code_unlearn_bench.evaluation import token_budget
from code_unlearn_bench.analyzers.base import AnalysisContext
from code_unlearn_bench.errors import CubError
from code_unlearn_bench.models.base import GenerationSettings
from code_unlearn_bench.tasks.spec import get_task

nltk_bleu = pytest.importorskip("nltk.translate.bleu_score")


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_model_dir))


@pytest.fixture(scope="module")
def samples():
    return get_task("copyright").load_samples(limit=6)


def completions(tokenizer, samples):
    """Verbatim prefixes of the second half of several lengths, noise, an empty completion."""
    out = []
    for i, s in enumerate(samples):
        ids = tokenizer(s.reference, add_special_tokens=False)["input_ids"]
        out.append(["", tokenizer.decode(ids[:40]), tokenizer.decode(ids[:256]), tokenizer.decode(ids),
                    "x = 1\n" * 30, tokenizer.decode(ids[:600])][i % 6])
    return out


def reference_code_bleu(tokenizer, samples, texts):
    """PROD's scoring, re-implemented with nltk: sentence_bleu (4-gram, no smoothing) of the
    continuation's tokens against the whole second half's tokens, mean over files."""
    scores = []
    for s, text in zip(samples, texts):
        ref = tokenizer(s.reference, add_special_tokens=False)["input_ids"]
        hyp = tokenizer(text, add_special_tokens=False)["input_ids"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scores.append(nltk_bleu.sentence_bleu([ref], hyp) if hyp else 0.0)
    return sum(scores) / len(scores)


def analyze(protocol, tokenizer, samples, texts):
    task = get_task("copyright")
    analyzer = task.make_analyzer({"protocol": protocol})
    settings = GenerationSettings(max_new_tokens=analyzer.generation_defaults()["max_new_tokens"])
    analyzer.prepare(AnalysisContext(tokenizer=tokenizer, task=task, generation=settings))
    scores = analyzer.score(samples, [{"completion": t} for t in texts])
    return analyzer, analyzer.aggregate(samples, scores)["metrics"]


def test_reference_protocol_is_the_reference_codes_scoring(tokenizer, samples):
    texts = completions(tokenizer, samples)
    analyzer, metrics = analyze("reference", tokenizer, samples, texts)
    expected = reference_code_bleu(tokenizer, samples, texts)
    assert metrics["bleu"]["value"] == pytest.approx(expected, abs=2e-6)
    assert metrics["forget_quality"]["value"] == pytest.approx(1 - expected, abs=2e-6)
    protocol = analyzer.protocol()
    assert protocol["bleu"] == "reference" and protocol["reference_truncated_to_generation_budget"] is False
    assert protocol["generation_total_tokens"] == 1024 and "whole second half" in protocol["bleu_description"]


def test_truncated_variant_keeps_its_own_name_and_scores_higher_on_a_budget_prefix(tokenizer, samples):
    texts = completions(tokenizer, samples)
    _, ref = analyze("reference", tokenizer, samples, texts)
    analyzer, cut = analyze("reference-truncated", tokenizer, samples, texts)
    # a 256-token verbatim prefix is a perfect match for the truncated reference only
    assert cut["bleu"]["value"] > ref["bleu"]["value"]
    assert analyzer.protocol()["reference_truncated_to_generation_budget"] is True
    assert analyzer.generation_defaults() == {"max_new_tokens": 256}


def test_copyright_task_defaults_to_the_reference_codes_budget():
    from code_unlearn_bench.config import EvalConfig
    from code_unlearn_bench.evaluation.prepare import prepare_task

    task = get_task("copyright")
    assert task.version == "1.1"
    record = task.generation_record()
    assert record["max_total_tokens"] == 1024 and record["max_new_tokens"] == 1024
    cut = prepare_task(task, EvalConfig(tasks=["copyright"],
                                        task_options={"copyright": {"protocol": "reference-truncated"}}))
    assert "max_total_tokens" not in cut.record and cut.max_total_tokens is None
    assert cut.generation.max_new_tokens == 256
    capped = prepare_task(task, EvalConfig(tasks=["copyright"], max_new_tokens=3))
    assert capped.record["max_new_tokens"] == 3 and capped.max_total_tokens == 1024
    with pytest.raises(CubError, match="did you mean 'reference-truncated'"):
        task.make_analyzer({"protocol": "reference-truncate"})


class RecordingBackend:
    """Returns a long continuation for every prompt and records what it was asked."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.calls = []

    def generate(self, prompts, settings, batch_size=8, seeds=None):
        self.calls.append((list(prompts), settings.max_new_tokens, seeds))
        return ["def f(x):\n    return x + 1\n" * 200 for _ in prompts]


def test_total_budget_counts_the_prompt(tokenizer):
    prompts = ["a = 1\n" * n for n in (10, 120, 400)]
    backend = RecordingBackend(tokenizer)
    outs = token_budget.generate(backend, prompts, GenerationSettings(max_new_tokens=1024), 8, max_total_tokens=1024,
                           seeds=[11, 12, 13])
    lengths = [len(tokenizer(p)["input_ids"]) for p in prompts]
    assert lengths[2] > 1024  # this prompt alone exceeds the total: nothing is generated for it
    assert outs[2] == "" and backend.calls == [(prompts[:2], 1024 - lengths[0], [11, 12])]
    for prompt_len, out in zip(lengths[:2], outs[:2]):
        assert len(tokenizer(out, add_special_tokens=False)["input_ids"]) == 1024 - prompt_len
    # --max-new-tokens caps the per-sample budget
    capped = token_budget.generate(backend, prompts[:1], GenerationSettings(max_new_tokens=5), 8, max_total_tokens=1024)
    assert len(tokenizer(capped[0], add_special_tokens=False)["input_ids"]) == 5


def test_evaluate_generates_within_the_total_budget(cub, tiny_model_dir, tokenizer, tmp_path):
    # a file whose first half is ~950 tokens: the continuation gets the rest of the 1,024
    content = "".join(f"value_{i} = compute({i}, {i + 1})\n" for i in range(130))
    data = tmp_path / "one.jsonl"
    data.write_text(json.dumps({"task_id": "long", "content": content}) + "\n")
    code, _, err = cub("evaluate", "--model", tiny_model_dir, "--tasks", "copyright", "--data", data,
                       "--output-dir", tmp_path / "run", "--quiet")
    assert code == 0, err
    result = json.loads((tmp_path / "run" / "results.json").read_text())["tasks"]["copyright"]
    assert result["generation"]["max_total_tokens"] == 1024 and result["protocol"]["bleu"] == "reference"
    record = json.loads((tmp_path / "run" / "generations" / "copyright.jsonl").read_text().splitlines()[0])
    from code_unlearn_bench.loaders.copyright import split_file

    prompt_len = len(tokenizer(split_file(content)[0])["input_ids"])
    assert 700 < prompt_len < 1024
    assert len(tokenizer(record["completion"], add_special_tokens=False)["input_ids"]) <= 1024 - prompt_len
