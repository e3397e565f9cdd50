"""The vLLM adapter against a fake `vllm` package shaped like its offline API (no GPU here).

tests/models/fake_vllm/vllm records every engine construction and generate call (also into a
file, for replica child processes), so these tests check what reaches vLLM: engine options, one
large chunk per call, per-copy seeds, LoRA requests, prompt_logprobs and the teardown calls.
"""

import json
import sys
from pathlib import Path

import pytest

from code_unlearn_bench.models.base import GenerationSettings
from code_unlearn_bench.models.seeds import sample_seed

FAKE = Path(__file__).resolve().parent / "fake_vllm"


def _drop_vllm_modules():
    for name in [m for m in sys.modules if m == "vllm" or m.startswith("vllm.")]:
        del sys.modules[name]


@pytest.fixture
def fake_vllm(monkeypatch):
    _drop_vllm_modules()
    monkeypatch.syspath_prepend(str(FAKE))
    import vllm

    vllm.EVENTS.clear()
    yield vllm
    _drop_vllm_modules()


def _backend(spec, **kw):
    from code_unlearn_bench.models.vllm import VLLMBackend

    return VLLMBackend(str(spec), **kw)


def test_engine_options_dtype_auto_and_model_args(fake_vllm, tiny_model_dir):
    b = _backend(tiny_model_dir, tensor_parallel_size=2, seed=7, gpu_memory_utilization=0.5, max_model_len=512,
                 model_args={"enforce_eager": True})
    kw = b.engine.kwargs
    assert b.engine.model == str(tiny_model_dir.resolve())
    assert kw["dtype"] == "bfloat16"  # auto: bf16 on GPU, never vLLM's float32-keeping 'auto'
    assert (kw["tensor_parallel_size"], kw["seed"], kw["gpu_memory_utilization"], kw["max_model_len"]) == (2, 7, 0.5, 512)
    assert kw["trust_remote_code"] is False and kw["enforce_eager"] is True and "enable_lora" not in kw
    assert _backend(tiny_model_dir, dtype="fp32").engine.kwargs["dtype"] == "float32"


def test_greedy_generate_sends_token_prompts_in_one_call(fake_vllm, tiny_model_dir):
    b = _backend(tiny_model_dir)
    prompts = [f"def f{i}(x):" for i in range(300)]
    out = b.generate(prompts, GenerationSettings(max_new_tokens=5, stop=("STOP",)))
    assert len(b.engine.calls) == 1  # vLLM batches continuously: everything at once
    sent, params, lora = b.engine.calls[0]
    assert sent[7] == {"prompt_token_ids": b.tokenizer(prompts[7])["input_ids"]}  # as the hf backend tokenises
    assert (params.temperature, params.max_tokens, params.stop, params.n) == (0.0, 5, ["STOP"], 1)
    assert lora is None and out[7] == f"n{len(sent[7]['prompt_token_ids'])} sNone t0.0\n"


def test_sampling_uses_one_seeded_request_per_copy(fake_vllm, tiny_model_dir):
    b = _backend(tiny_model_dir)
    seeds = [sample_seed(1234, "s1", j) for j in range(5)]
    out = b.generate(["def f():"] * 5, GenerationSettings(max_new_tokens=4, temperature=0.8), seeds=seeds)
    params = b.engine.calls[0][1]
    assert [p.seed for p in params] == seeds and len(set(seeds)) == 5
    assert all(p.n == 1 and p.temperature == 0.8 for p in params)
    assert len(set(out)) == 5


def test_over_long_prompts_keep_their_end(fake_vllm, tiny_model_dir):
    b = _backend(tiny_model_dir, max_model_len=40)
    b.generate(["x = 1\n" * 100], GenerationSettings(max_new_tokens=10))
    ids = b.engine.calls[0][0][0]["prompt_token_ids"]
    assert len(ids) == 30 and ids == b.tokenizer("x = 1\n" * 100)["input_ids"][-30:]


def test_loglikelihood_reads_prompt_logprobs_of_continuation(fake_vllm, tiny_model_dir):
    b = _backend(tiny_model_dir)
    [lps] = b.loglikelihood([("def f():", "\n    return 1\n")])
    ctx = b.tokenizer("def f():", add_special_tokens=False)["input_ids"]
    whole = b.tokenizer("def f():\n    return 1\n", add_special_tokens=False)["input_ids"]
    first = 1 + len(ctx)  # start token + context
    assert lps == pytest.approx([-0.1 * i for i in range(first, first + len(whole) - len(ctx))])
    assert b.engine.calls[0][1].prompt_logprobs == 1


def test_long_continuation_is_scored_in_windows(fake_vllm, tiny_model_dir):
    b = _backend(tiny_model_dir, max_model_len=32)
    cont = "x = 1\n" * 40
    [lps] = b.loglikelihood([("", cont)])
    assert len(lps) == len(b.tokenizer(cont, add_special_tokens=False)["input_ids"])
    assert all(len(p["prompt_token_ids"]) <= 32 for p in b.engine.calls[0][0])


def _adapter(base, out, r):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = get_peft_model(AutoModelForCausalLM.from_pretrained(str(base)), LoraConfig(r=r, target_modules=["q_proj"]))
    model.save_pretrained(out)
    return out


def test_two_adapters_of_one_base_share_one_engine(fake_vllm, tiny_model_dir, tmp_path):
    a1, a2 = _adapter(tiny_model_dir, tmp_path / "a1", 4), _adapter(tiny_model_dir, tmp_path / "a2", 24)
    b1 = _backend(a1)
    b2 = _backend(a2, share_engine_with=b1)
    assert b2.engine is b1.engine and sum(e["event"] == "init" for e in fake_vllm.EVENTS) == 1
    kw = b1.engine.kwargs
    assert kw["enable_lora"] is True and kw["max_loras"] >= 2 and b1.engine.model == str(tiny_model_dir.resolve())
    for b in (b1, b2, b1):
        b.generate(["def f():"], GenerationSettings(max_new_tokens=3))
    reqs = [c[2] for c in b1.engine.calls]
    assert [(r.lora_int_id, r.lora_path) for r in reqs] == [(1, str(a1)), (2, str(a2)), (1, str(a1))]
    # the base itself on a LoRA engine: no adapter
    plain = _backend(tiny_model_dir, share_engine_with=b1)
    plain.generate(["x"], GenerationSettings(max_new_tokens=2))
    assert b1.engine.calls[-1][2] is None


def test_lora_rank_is_rounded_up_to_a_supported_value(fake_vllm, tiny_model_dir, tmp_path):
    assert _backend(_adapter(tiny_model_dir, tmp_path / "a", 24)).engine.kwargs["max_lora_rank"] == 32


def test_close_tears_the_engine_down_once(fake_vllm, tiny_model_dir, tmp_path):
    from code_unlearn_bench.errors import ModelError

    owner = _backend(_adapter(tiny_model_dir, tmp_path / "a", 4))
    guest = _backend(tiny_model_dir, share_engine_with=owner)
    guest.close()  # a guest never tears down the engine it borrowed
    assert not [e for e in fake_vllm.EVENTS if e["event"].startswith("destroy")]
    owner.close()
    assert [e["event"] for e in fake_vllm.EVENTS if e["event"].startswith("destroy")] == [
        "destroy_model_parallel", "destroy_distributed_environment"]
    assert owner.engine is None
    with pytest.raises(ModelError, match="closed"):
        owner.generate(["x"], GenerationSettings(max_new_tokens=2))


def test_chat_template_prompts(fake_vllm, tiny_model_dir, tmp_path):
    import shutil

    chat_dir = tmp_path / "chat"
    shutil.copytree(tiny_model_dir, chat_dir)
    cfg = json.loads((chat_dir / "tokenizer_config.json").read_text())
    cfg["chat_template"] = "{% for m in messages %}<{{ m.role }}>{{ m.content }}\n{% endfor %}<assistant>"
    (chat_dir / "tokenizer_config.json").write_text(json.dumps(cfg))
    b = _backend(chat_dir, apply_chat_template=True, system_prompt="Be terse.")
    b.generate(["def f():"], GenerationSettings(max_new_tokens=2))
    ids = b.engine.calls[0][0][0]["prompt_token_ids"]
    assert b.tokenizer.decode(ids) == "<system>Be terse.\n<user>def f():\n<assistant>"


def test_runner_hands_vllm_large_chunks_and_appends_each(fake_vllm, tiny_model_dir, tmp_path):
    from code_unlearn_bench.config import EvalConfig
    from code_unlearn_bench.evaluation.prepare import prepare_tasks
    from code_unlearn_bench.evaluation.runner import generate_samples
    from code_unlearn_bench.store import RunStore

    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({"task_id": f"s{i}", "content": f"def f{i}():\n    return {i}\n"}) + "\n"
                            for i in range(600)))
    config = EvalConfig(model=str(tiny_model_dir), data={"copyright": str(data)}, num_samples=5, temperature=0.8)
    [pt] = prepare_tasks(config)
    b = _backend(tiny_model_dir)
    store = RunStore(tmp_path / "run")
    appended = []
    generate_samples(store, "copyright", pt, pt.samples, b, config, lambda n, _: appended.append(n))
    per_call = [len(c[0]) for c in b.engine.calls]
    assert per_call == [255] * 11 + [195] and appended == [51] * 11 + [39]  # 256 // 5 samples x 5 copies
    records = store.read_records("copyright")
    assert sorted(r["id"] for r in records) == sorted(s.id for s in pt.samples)
    seeds = [p.seed for c in b.engine.calls for p in c[1]]
    sent = {(r["id"], j) for r in records for j in range(5)}
    assert sorted(seeds) == sorted(sample_seed(1234, i, j) for i, j in sent)


def test_missing_vllm_is_a_clear_error(monkeypatch, tiny_model_dir):
    from code_unlearn_bench.errors import ModelError
    from code_unlearn_bench.models.vllm import VLLMBackend

    monkeypatch.setitem(sys.modules, "vllm", None)  # import vllm -> ImportError
    with pytest.raises(ModelError, match=r"pip install 'code-unlearn-bench\[vllm\]'"):
        VLLMBackend(str(tiny_model_dir))


@pytest.mark.gpu
def test_real_vllm_generates_on_gpu(tiny_model_dir):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    pytest.importorskip("vllm")
    from code_unlearn_bench.models.vllm import VLLMBackend

    b = VLLMBackend(str(tiny_model_dir), dtype="float32", gpu_memory_utilization=0.3)
    out = b.generate(["def f():"], GenerationSettings(max_new_tokens=8))
    assert isinstance(out[0], str)
    [lps] = b.loglikelihood([("def f():", " return 1")])
    assert lps and all(lp <= 0 for lp in lps)
    b.close()
