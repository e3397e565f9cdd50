"""`--merge`: the last LoRA checkpoint folded into its base model, as a plain HF model dir.

Adapters are what a LoRA run saves (small, and `cub evaluate` reads them directly, vLLM through
a LoRARequest); a merged copy is for tools that want one set of weights. Built on the host from
the saved adapter, so it is the same whichever way (DDP, FSDP) the adapter was trained.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from code_unlearn_bench.errors import CubError


def merge_checkpoint(adapter_dir: Path, target: Path, dtype: str = "float32", max_shard_size: str = "5GB") -> Path:
    from peft import PeftModel

    from code_unlearn_bench.models.loading import load_model_and_tokenizer

    model, tokenizer, info = load_model_and_tokenizer(str(adapter_dir), dtype=dtype)
    if not isinstance(model, PeftModel):
        raise CubError(f"--merge needs a LoRA checkpoint; {adapter_dir} is a full model already")
    merged = model.merge_and_unload()
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    merged.save_pretrained(tmp, max_shard_size=max_shard_size)
    tokenizer.save_pretrained(tmp)
    meta = adapter_dir / "cub_checkpoint.json"
    if meta.is_file():  # the lineage travels with the merged weights
        shutil.copy(meta, tmp / meta.name)
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)
    return target
