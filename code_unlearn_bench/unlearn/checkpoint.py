"""Per-epoch checkpoints, run.json and the state needed to resume after a crash.

Layout of an output dir:
  epoch-01/ ...        HF model dir (or PEFT adapter dir) + tokenizer + cub_checkpoint.json
  run.json             method, hyper-parameters, data hash, per-step losses, time, peak memory
  resume/optimizer-NN.pt  optimizer state after epoch NN (only the latest is kept; FSDP/DeepSpeed:
                       resume/state-NN/, accelerate's sharded model + optimizer state)
  resume/weights-NN/   fp32 master weights when the checkpoints are bf16 (exact resume)
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


def save_checkpoint(model, tokenizer, out: Path, epoch: int, meta: dict[str, Any],
                    state_dict: dict[str, torch.Tensor] | None = None, dtype: torch.dtype | None = None,
                    max_shard_size: str = "5GB") -> Path:
    """One epoch's model dir: safetensors in ``dtype`` (default: as the weights are), sharded
    above ``max_shard_size``; a PEFT model saves only its adapter. ``state_dict`` = the weights
    gathered from FSDP/ZeRO-3 shards (default: the model's own)."""
    final = epoch_dir(out, epoch)
    tmp = final.with_name(final.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    if dtype is not None:
        # cast tensor by tensor on the host: no second copy of the model on the GPU
        source = state_dict if state_dict is not None else model.state_dict()
        state_dict = {k: v.detach().to("cpu", dtype if v.is_floating_point() else v.dtype) for k, v in source.items()}
    kwargs = {"state_dict": state_dict} if state_dict is not None else {}
    model.save_pretrained(tmp, max_shard_size=max_shard_size, **kwargs)
    tokenizer.save_pretrained(tmp)
    (tmp / CHECKPOINT_META).write_text(json.dumps(meta, indent=1) + "\n")
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    return final


def prune_epochs(out: Path, keep: set[int], latest: int) -> None:
    """Drop epoch dirs not asked for, except the latest (the resume point while running)."""
    for d in out.glob("epoch-*"):
        try:
            n = int(d.name.split("-", 1)[1])
        except ValueError:
            continue
        if n not in keep and n != latest:
            shutil.rmtree(d, ignore_errors=True)


def disk_need(trained_params: int, total_params: int, save_bytes: int, n_checkpoints: int, lora: bool,
              sharded_resume: bool) -> dict[str, int]:
    """Bytes a run writes at its fullest: the kept checkpoints plus one being written, the resume
    state (optimizer moments, fp32 master weights when checkpoints are half precision) twice
    while the next epoch's replaces it."""
    per_ckpt = (trained_params if lora else total_params) * save_bytes
    resume = trained_params * 8
    if not lora and (save_bytes < 4 or sharded_resume):
        resume += total_params * 4
    return {"checkpoints": per_ckpt * (n_checkpoints + 1), "resume": resume * 2,
            "total": per_ckpt * (n_checkpoints + 1) + resume * 2}


def free_bytes(path: Path) -> int:
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free


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


def load_resume_weights(model, out: Path, done: int, lora: bool) -> None:
    """The weights after epoch ``done``: the fp32 master copy when checkpoints are half precision
    (a resumed run must equal an uninterrupted one), else the epoch checkpoint."""
    master = out / "resume" / f"weights-{done:02d}"
    load_checkpoint_weights(model, master if master.is_dir() else epoch_dir(out, done), lora)


def load_resume_optimizer(acc, optimizer, out: Path, done: int) -> None:
    from code_unlearn_bench.unlearn.distributed import is_sharded

    if is_sharded(acc):  # FSDP / DeepSpeed: sharded model + optimizer state of every rank
        state_dir = out / "resume" / f"state-{done:02d}"
        if not state_dir.is_dir():
            raise CubError(f"'{out}' lacks resume/{state_dir.name}; cannot resume, use another --output-dir")
        acc.load_state(str(state_dir))
        return
    saved = out / "resume" / f"optimizer-{done:02d}.pt"
    if not saved.is_file():
        raise CubError(f"'{out}' lacks {saved.name}; cannot resume, use another --output-dir")
    optimizer.load_state_dict(load_torch(saved)["optimizer"])


def drop_resume_state(out: Path, before: int | None = None) -> None:
    """Delete resume state (optimizer, sharded state, fp32 master weights): all of it, or that of
    the epochs before ``before``."""
    for f in list((out / "resume").glob("optimizer-*.pt")) + list((out / "resume").glob("state-*")) + \
            list((out / "resume").glob("weights-*")):
        digits = "".join(ch for ch in f.name if ch.isdigit())
        if before is not None and (not digits or int(digits) >= before):
            continue
        if f.is_dir():
            shutil.rmtree(f, ignore_errors=True)
        else:
            f.unlink(missing_ok=True)

def save_master(model, target: Path, max_shard_size: str) -> None:
    import os
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, max_shard_size=max_shard_size)
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)
