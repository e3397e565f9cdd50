"""One LoRA training step of a model under torch FSDP1 on CPU (gloo, one process), wrapped as
configs/accelerate/fsdp.yaml asks accelerate to (decoder-layer units, use_orig_params, bf16
mixed precision), with the base loaded in the dtype cub's trainer picks under FSDP
(ACCELERATE_USE_FSDP=true, as accelerate launch sets it) and, for contrast, elsewhere.

usage: python fsdp_lora_step.py MODEL_DIR; prints one JSON line {"fsdp": result, "elsewhere":
result}, each {"ok": true, "loss": ...} or {"ok": false, "error": ...}
"""

import functools
import json
import os
import sys
from types import SimpleNamespace

import torch
import torch.distributed as dist
from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
from torch.distributed.fsdp import MixedPrecision
from torch.distributed.fsdp.wrap import transformer_auto_wrap_policy

from code_unlearn_bench.models.loading import load_model_and_tokenizer
from code_unlearn_bench.unlearn import engines, model_setup


def step(model_dir: str, fsdp: bool) -> dict:
    os.environ["ACCELERATE_USE_FSDP"] = str(fsdp).lower()
    dtype = engines.lora_base_dtype("bfloat16", lora=True)
    model, tok, info = load_model_and_tokenizer(model_dir, dtype=dtype, device="cpu")
    cfg = SimpleNamespace(gradient_checkpointing=False, lora=True, lora_r=8, lora_alpha=16, lr=1e-3,
                          optimizer="adamw")
    model = model_setup.prepare_model(model, cfg, info)
    layer = type(model.base_model.model.model.layers[0])
    try:
        wrapped = FSDP(model, device_id=torch.device("cpu"), use_orig_params=True,
                       auto_wrap_policy=functools.partial(transformer_auto_wrap_policy, transformer_layer_cls={layer}),
                       mixed_precision=MixedPrecision(param_dtype=torch.bfloat16, reduce_dtype=torch.bfloat16,
                                                      buffer_dtype=torch.bfloat16))
        optimizer = model_setup.make_optimizer(wrapped, cfg)
        ids = torch.tensor([tok("def add(a, b):\n    return a + b\n")["input_ids"]])
        loss = wrapped(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
    except (RuntimeError, ValueError, AssertionError) as exc:
        return {"ok": False, "dtype": dtype, "error": str(exc).splitlines()[0]}
    trained = [p for p in wrapped.parameters() if p.requires_grad]
    return {"ok": True, "dtype": dtype, "loss": loss.item(), "trained_dtypes": sorted({str(p.dtype) for p in trained})}


if __name__ == "__main__":
    dist.init_process_group("gloo")
    print(json.dumps({"fsdp": step(sys.argv[1], True), "elsewhere": step(sys.argv[1], False)}), flush=True)
    dist.destroy_process_group()
