"""Per-epoch checkpoints, run.json and the state needed to resume after a crash.

Layout of an output dir:
  epoch-01/ ...        HF model dir (or PEFT adapter dir) + tokenizer + cub_checkpoint.json
  run.json             method, hyper-parameters, data hash, per-step losses, time, peak memory
  resume/optimizer-NN.pt  optimizer state after epoch NN (only the latest is kept)
  resume/prepared.pt   frozen per-example state from the model before training (PROD targets,
                       reference log-probs): a resumed run must not recompute it from a checkpoint
A checkpoint is written to a temporary dir and renamed, so a crash never leaves half of one.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

import torch

from code_unlearn_bench.errors import CubError

CHECKPOINT_META = "cub_checkpoint.json"  # read by models.loading (ModelInfo.lineage)


def epoch_dir(out: Path, epoch: int) -> Path:
    return out / f"epoch-{epoch:02d}"


def write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=False, default=_json_default) + "\n")
    os.replace(tmp, path)


def _json_default(value):
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def finite_or_none(x: float) -> float | None:
    """JSON has no inf/nan; a diverged loss (GA) is recorded as null."""
    return x if math.isfinite(x) else None


def save_checkpoint(model, tokenizer, out: Path, epoch: int, meta: dict[str, Any]) -> Path:
    final = epoch_dir(out, epoch)
    tmp = final.with_name(final.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)  # PEFT models save just the adapter
    tokenizer.save_pretrained(tmp)
    (tmp / CHECKPOINT_META).write_text(json.dumps(meta, indent=1) + "\n")
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    return final


def save_torch_atomic(obj: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def load_torch(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated or foreign file
        raise CubError(f"cannot read resume state {path}: {str(exc).splitlines()[0]}") from None


def load_checkpoint_weights(model, ckpt: Path, lora: bool) -> None:
    """Put the weights saved in ``ckpt`` back into ``model`` (same architecture, same wrapping)."""
    from safetensors.torch import load_file

    files = sorted(ckpt.glob("*.safetensors"))
    if not files:
        raise CubError(f"checkpoint {ckpt} has no .safetensors weights; delete it or use another --output-dir")
    state = {}
    for f in files:
        state.update(load_file(str(f)))
    if lora:
        from peft import set_peft_model_state_dict

        result = set_peft_model_state_dict(model, state)
        if result.unexpected_keys:
            raise CubError(f"checkpoint {ckpt} does not match the model (unexpected {result.unexpected_keys[:2]})")
        return
    missing, unexpected = model.load_state_dict(state, strict=False)
    tied = getattr(model.config, "tie_word_embeddings", False)
    missing = [k for k in missing if not (tied and k.endswith("lm_head.weight"))]
    if missing or unexpected:
        raise CubError(f"checkpoint {ckpt} does not match the model (missing {missing[:2]}, unexpected {unexpected[:2]})")
