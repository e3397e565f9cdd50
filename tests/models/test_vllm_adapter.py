"""The vLLM adapter against a fake engine shaped like vLLM's offline API (no GPU here)."""

import sys
import types
from dataclasses import dataclass

import pytest

from code_unlearn_bench.models.base import GenerationSettings


@dataclass
class _Completion:
    text: str


@dataclass
class _RequestOutput:
    outputs: list
    prompt_logprobs: list | None = None


@dataclass
class _Logprob:
    logprob: float


class FakeEngine:
    def __init__(self, model, **kwargs):
        self.model, self.kwargs, self.calls = model, kwargs, []

    def generate(self, prompts, params, lora_request=None, use_tqdm=False):
        self.calls.append((prompts, params, lora_request))
        if params.prompt_logprobs:
            outs = []
            for p in prompts:
                ids = p["prompt_token_ids"]
                outs.append(_RequestOutput([_Completion("")],
                                           [None] + [{t: _Logprob(-0.1 * i), -1: _Logprob(-9)}
                                                     for i, t in enumerate(ids[1:], 1)]))
            return outs
        return [_RequestOutput([_Completion(f"{p} -> done\nSTOP tail")]) for p in prompts]


@pytest.fixture
def fake_vllm(monkeypatch):
    """A stand-in `vllm` module with SamplingParams and LoRARequest of the real signatures."""
    mod = types.ModuleType("vllm")

    class SamplingParams:
        def __init__(self, temperature=1.0, top_p=1.0, max_tokens=16, stop=None, seed=None, prompt_logprobs=None):
            self.temperature, self.top_p, self.max_tokens = temperature, top_p, max_tokens
            self.stop, self.seed, self.prompt_logprobs = stop, seed, prompt_logprobs

    mod.SamplingParams = SamplingParams
    mod.LLM = FakeEngine
    lora = types.ModuleType("vllm.lora.request")

    class LoRARequest:
        def __init__(self, name, int_id, path):
            self.name, self.int_id, self.path = name, int_id, path

    lora.LoRARequest = LoRARequest
    monkeypatch.setitem(sys.modules, "vllm", mod)
    monkeypatch.setitem(sys.modules, "vllm.lora", types.ModuleType("vllm.lora"))
    monkeypatch.setitem(sys.modules, "vllm.lora.request", lora)
    return mod


def test_generate_maps_settings_and_cuts_at_stop(fake_vllm, tiny_model_dir):
    from code_unlearn_bench.models.vllm import VLLMBackend

    b = VLLMBackend(str(tiny_model_dir), tensor_parallel_size=2, seed=7)
    assert b.engine.kwargs["tensor_parallel_size"] == 2 and b.engine.model == str(tiny_model_dir)
    out = b.generate(["a", "b"], GenerationSettings(max_new_tokens=5, stop=("STOP",)))
    assert out == ["a -> done\n", "b -> done\n"]
    params = b.engine.calls[0][1]
    assert params.temperature == 0.0 and params.max_tokens == 5 and params.stop == ["STOP"]


def test_loglikelihood_reads_prompt_logprobs_of_continuation(fake_vllm, tiny_model_dir):
    from code_unlearn_bench.models.vllm import VLLMBackend

    b = VLLMBackend(str(tiny_model_dir))
    [lps] = b.loglikelihood([("def f():", "\n    return 1\n")])
    ctx = b.tokenizer("def f():", add_special_tokens=False)["input_ids"]
    whole = b.tokenizer("def f():\n    return 1\n", add_special_tokens=False)["input_ids"]
    n_cont = len(whole) - len(ctx)
    first = 1 + len(ctx)  # start token + context
    assert lps == pytest.approx([-0.1 * i for i in range(first, first + n_cont)])


def test_peft_adapter_uses_lora_request(fake_vllm, tiny_model_dir, tmp_path):
    import json

    from code_unlearn_bench.models.vllm import VLLMBackend

    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(tiny_model_dir),
                                                             "peft_type": "LORA"}))
    b = VLLMBackend(str(adapter))
    assert b.engine.kwargs["enable_lora"] is True and b.engine.model == str(tiny_model_dir)
    b.generate(["x"], GenerationSettings(max_new_tokens=3))
    assert b.engine.calls[0][2].path == str(adapter)


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
