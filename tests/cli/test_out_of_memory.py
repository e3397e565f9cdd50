"""Out of memory during `cub evaluate` (CUDA on the hf backend, vLLM's KV cache at engine start):
one line naming the knobs, exit 2, no traceback; what was generated so far is kept."""

import json
from pathlib import Path

import pytest
import torch

from code_unlearn_bench.models.hf import HFBackend


def one_line(code, err):
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert code == 2 and "Traceback" not in err, err
    assert lines[-1].startswith("cub: error: out of memory"), err
    return lines[-1]


FAKE_VLLM = Path(__file__).resolve().parent.parent / "models" / "fake_vllm"


def evaluate_args(model, out, *extra):
    return ["evaluate", "--model", model, "--tasks", "copyright", "--limit", "4", "--max-new-tokens", "4",
            "--batch-size", "2", "--output-dir", out, "--quiet", *extra]


def test_cuda_out_of_memory_mid_generation(cub, tiny_model_dir, tmp_path, monkeypatch):
    real = HFBackend.generate
    calls = []

    def generate(self, prompts, settings, batch_size=8, seeds=None):
        calls.append(len(prompts))
        if len(calls) > 1:  # the first batch fits, the second does not
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB (GPU 0; 79.15 GiB "
                                               "total capacity)\nmore detail")
        return real(self, prompts, settings, batch_size, seeds=seeds)

    monkeypatch.setattr(HFBackend, "generate", generate)
    code, _, err = cub(*evaluate_args(tiny_model_dir, tmp_path / "run"))
    line = one_line(code, err)
    assert "CUDA out of memory. Tried to allocate 20.00 GiB" in line and "more detail" not in line
    assert "--batch-size" in line and "(now 2)" in line and "--max-model-len" in line
    # the samples generated before the error are kept for the resume
    kept = (tmp_path / "run" / "generations" / "copyright.jsonl").read_text().splitlines()
    assert len(kept) >= 1 and all(json.loads(x)["id"] for x in kept)


@pytest.mark.parametrize("message", [
    "The model's max seq len (32768) is larger than the maximum number of tokens that can be stored in KV "
    "cache (12000). Try increasing `gpu_memory_utilization` or decreasing `max_model_len` when initializing "
    "the engine.",
    "No available memory for the cache blocks. Try increasing `gpu_memory_utilization` when initializing the engine.",
])
def test_vllm_kv_cache_error_at_engine_start(cub, tiny_model_dir, tmp_path, monkeypatch, message):
    # vLLM runs in replica processes: the fake engine (tests/models/fake_vllm) raises at start-up
    monkeypatch.setenv("PYTHONPATH", str(FAKE_VLLM))
    monkeypatch.setenv("FAKE_VLLM_LOG", str(tmp_path / "vllm-events.jsonl"))
    monkeypatch.setenv("FAKE_VLLM_FAIL", message)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    code, _, err = cub(*evaluate_args(tiny_model_dir, tmp_path / "run", "--backend", "vllm"))
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert message[:40] in err and "--max-model-len" in err and "--batch-size" in err


def test_other_value_errors_are_not_called_out_of_memory():
    from code_unlearn_bench.errors import out_of_memory

    assert out_of_memory(torch.cuda.OutOfMemoryError("x")) and out_of_memory(MemoryError())
    assert out_of_memory(RuntimeError("CUDA error: out of memory"))
    assert not out_of_memory(ValueError("invalid literal for int()")) and not out_of_memory(KeyError("kv"))
