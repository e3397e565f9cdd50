"""What the sharded engines need before `accelerate.prepare` (unlearn/engines.py): FSDP + LoRA on
a real torch FSDP1 on CPU, the DeepSpeed config's batch keys, and refusing an engine accelerate
would silently replace. DeepSpeed's real runs are in test_distributed.py."""

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from accelerate.utils import DistributedType

from code_unlearn_bench.errors import CubError
from code_unlearn_bench.unlearn import engines
from code_unlearn_bench.unlearn.spread import free_port

HERE = Path(__file__).resolve().parent


def _fsdp_lora_steps(model_dir) -> dict:
    env = {**os.environ, "RANK": "0", "WORLD_SIZE": "1",
           "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port()), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, str(HERE / "fsdp_lora_step.py"), str(model_dir)], env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_fsdp_lora_trains_with_the_base_dtype_the_trainer_loads(tiny_model_dir):
    """Under FSDP the base is loaded in fp32 like the adapters, so FSDP1 can flatten each decoder
    layer; the bf16 base used elsewhere is what FSDP1 refuses."""
    results = _fsdp_lora_steps(tiny_model_dir)
    under_fsdp, elsewhere = results["fsdp"], results["elsewhere"]
    assert under_fsdp["ok"] and under_fsdp["dtype"] == "float32", under_fsdp
    assert under_fsdp["trained_dtypes"] == ["torch.float32"] and under_fsdp["loss"] > 0
    assert elsewhere["dtype"] == "bfloat16" and not elsewhere["ok"]
    assert "uniform dtype" in elsewhere["error"]


def test_lora_base_dtype(monkeypatch):
    monkeypatch.delenv("ACCELERATE_USE_FSDP", raising=False)
    monkeypatch.delenv("ACCELERATE_USE_DEEPSPEED", raising=False)
    assert engines.lora_base_dtype("bfloat16", lora=True) == "bfloat16"
    assert engines.lora_base_dtype("bfloat16", lora=False) == "float32"
    assert engines.lora_base_dtype(None, lora=True) == "float32"
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    assert engines.lora_base_dtype("bfloat16", lora=True) == "float32"


def _fake_acc(kind, config=None, processes=2):
    plugin = SimpleNamespace(deepspeed_config=config if config is not None else {},
                             is_zero3_init_enabled=lambda: True)
    return SimpleNamespace(distributed_type=kind, num_processes=processes, gradient_accumulation_steps=1,
                           state=SimpleNamespace(deepspeed_plugin=plugin), device=SimpleNamespace(type="cpu"))


def test_deepspeed_batch_keys_come_from_our_config():
    # what accelerate 1.16 builds from configs/accelerate/zero2.yaml: every batch key "auto"
    config = {"train_batch_size": "auto", "train_micro_batch_size_per_gpu": "auto",
              "gradient_accumulation_steps": "auto", "gradient_clipping": 1.0, "zero_optimization": {"stage": 2}}
    acc = _fake_acc(DistributedType.DEEPSPEED, config, processes=4)
    engines.configure_deepspeed(acc, batch_size=2, grad_accum=8, max_grad_norm=0.5)
    assert config["train_micro_batch_size_per_gpu"] == 2 and config["gradient_accumulation_steps"] == 8
    assert config["train_batch_size"] == 2 * 8 * 4 and config["gradient_clipping"] == 0.5
    assert acc.gradient_accumulation_steps == 8
    ddp = _fake_acc(DistributedType.MULTI_CPU)
    engines.configure_deepspeed(ddp, 2, 8, 1.0)  # nothing to configure outside DeepSpeed
    assert ddp.state.deepspeed_plugin.deepspeed_config == {}


def test_an_engine_accelerate_did_not_pick_is_refused(monkeypatch):
    monkeypatch.delenv("DS_ACCELERATOR", raising=False)  # accelerator_options sets it for DeepSpeed on CPU
    monkeypatch.delenv("ACCELERATE_USE_DEEPSPEED", raising=False)
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    with pytest.raises(CubError, match="FSDP needs GPUs"):
        engines.accelerator_options(cpu=True)
    assert engines.accelerator_options(cpu=False) == (False, [])
    with pytest.raises(CubError, match="MULTI_CPU instead of the requested fsdp"):
        engines.check_engine(_fake_acc(DistributedType.MULTI_CPU))
    engines.check_engine(_fake_acc(DistributedType.FSDP))
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "false")
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")
    cpu, handlers = engines.accelerator_options(cpu=True)  # DeepSpeed's CPU accelerator over gloo
    assert cpu is False and handlers[0].backend == "gloo"
    with pytest.raises(CubError, match="requested deepspeed"):
        engines.check_engine(_fake_acc(DistributedType.MULTI_CPU))
