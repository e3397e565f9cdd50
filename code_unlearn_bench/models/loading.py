"""Resolve a model spec (HF dir, PEFT adapter dir, GGUF file, alias) and load it offline."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from code_unlearn_bench.errors import ModelError
from code_unlearn_bench.models.base import ModelInfo
from code_unlearn_bench.models.gguf import load_gguf_model, quiet_transformers

CHECKPOINT_META = "cub_checkpoint.json"
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".gguf")


@dataclass(frozen=True)
class ResolvedModel:
    spec: str
    format: str  # hf | peft | gguf | embedded
    path: Path  # HF dir, adapter dir, or .gguf file
    name: str
    base_path: Path | None = None  # PEFT: the base model dir


def _display_name(path: Path) -> str:
    """``runs/prod/epoch-03`` -> ``prod/epoch-03``: checkpoint dirs alone all look alike."""
    if path.name.startswith(("epoch-", "checkpoint-")) and path.parent.name:
        return f"{path.parent.name}/{path.name}"
    return path.name


def resolve_model(spec: str) -> ResolvedModel:
    """Work out what ``spec`` names without loading weights; one-line ModelError if nothing fits."""
    from code_unlearn_bench.models import embedded

    if not spec:
        raise ModelError("no model given (--model PATH, or --model smollm2-135m for the embedded default)")
    if spec in embedded.ALIASES:
        path = embedded.ensure_converted(spec)
        return ResolvedModel(spec, "embedded", path, embedded.ALIASES[spec]["name"])
    p = Path(spec).expanduser()
    if not p.exists():
        hint = "" if os.sep in spec or spec.startswith(".") else \
            f" (not a local path either; known aliases: {', '.join(sorted(embedded.ALIASES))}; hub downloads are disabled)"
        raise ModelError(f"model path '{spec}' does not exist{hint}")
    p = p.resolve()
    if p.is_file():
        if p.suffix != ".gguf":
            raise ModelError(f"model file '{spec}' is not a .gguf file; give a model directory instead")
        return ResolvedModel(spec, "gguf", p, p.stem)
    if (p / "adapter_config.json").is_file():
        try:
            cfg = json.loads((p / "adapter_config.json").read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ModelError(f"unreadable adapter_config.json in '{spec}': {exc}") from None
        base = cfg.get("base_model_name_or_path")
        if not base:
            raise ModelError(f"PEFT adapter '{spec}' names no base_model_name_or_path")
        base_resolved = resolve_model(str(base) if Path(str(base)).is_absolute() or str(base) in embedded.ALIASES
                                      else str((p / base).resolve()) if (p / base).exists() else str(base))
        return ResolvedModel(spec, "peft", p, _display_name(p), base_path=base_resolved.path)
    if (p / "config.json").is_file():
        return ResolvedModel(spec, "hf", p, _display_name(p))
    raise ModelError(f"'{spec}' is neither a model directory (config.json), a PEFT adapter "
                     f"(adapter_config.json) nor a .gguf file")


def as_resolved(model: "str | ResolvedModel") -> ResolvedModel:
    """A resolved model as is; a spec string resolved (backends accept either)."""
    return model if isinstance(model, ResolvedModel) else resolve_model(model)


def _file_digest(path: Path, h) -> None:
    """Fast fingerprint of one weight file: size, safetensors header (all names/shapes/offsets),
    first and last MiB. Weight files of large models are many GB; hashing all of them on every run
    would dominate small evaluations, and any training step changes the sampled bytes."""
    size = path.stat().st_size
    h.update(f"{path.name}:{size}".encode())
    with path.open("rb") as f:
        if path.suffix == ".safetensors" and size >= 8:
            n = int.from_bytes(f.read(8), "little")
            h.update(f.read(min(n, 100_000_000)))
        f.seek(0)
        h.update(f.read(1 << 20))
        if size > (2 << 20):
            f.seek(size - (1 << 20))
            h.update(f.read(1 << 20))


def fingerprint(resolved: ResolvedModel) -> str:
    """sha256 over config files and the weight files' fast digests (see ``_file_digest``)."""
    h = hashlib.sha256()
    paths = [resolved.path]
    if resolved.base_path is not None:
        paths.append(resolved.base_path)
    for root in paths:
        if root.is_file():
            _file_digest(root, h)
            continue
        for f in sorted(root.iterdir()):
            if not f.is_file():
                continue
            if f.suffix in _WEIGHT_SUFFIXES:
                _file_digest(f, h)
            elif f.suffix == ".json" and f.name != CHECKPOINT_META and f.stat().st_size < 50_000_000:
                h.update(f.name.encode())
                h.update(f.read_bytes())
    return "sha256:" + h.hexdigest()


def model_info(resolved: ResolvedModel) -> ModelInfo:
    lineage = None
    meta = resolved.path / CHECKPOINT_META if resolved.path.is_dir() else None
    if meta is not None and meta.is_file():
        try:
            lineage = json.loads(meta.read_text())
        except json.JSONDecodeError:
            raise ModelError(f"malformed {CHECKPOINT_META} in '{resolved.spec}'") from None
    return ModelInfo(spec=resolved.spec, path=str(resolved.path), name=resolved.name, format=resolved.format,
                     fingerprint=fingerprint(resolved),
                     base_model=str(resolved.base_path) if resolved.base_path else None, lineage=lineage)


def load_tokenizer(resolved: ResolvedModel):
    from transformers import AutoTokenizer

    try:
        if resolved.format == "gguf":
            tok = AutoTokenizer.from_pretrained(str(resolved.path.parent), gguf_file=resolved.path.name)
        else:
            src = resolved.path
            if resolved.format == "peft" and not (src / "tokenizer_config.json").exists():
                src = resolved.base_path
            tok = AutoTokenizer.from_pretrained(str(src))
    except Exception as exc:  # transformers raises many types for a broken dir
        raise ModelError(f"cannot load tokenizer of '{resolved.spec}': {str(exc).splitlines()[0]}") from None
    # Batched generation needs left padding (then batched greedy equals batch 1) and a pad token.
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def _torch_dtype(dtype: str):
    import torch

    if dtype == "auto":
        return torch.bfloat16 if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else torch.float32
    try:
        return {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16,
                "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16}[dtype]
    except KeyError:
        raise ModelError(f"unknown dtype '{dtype}' (float32, bfloat16, float16, auto)") from None


def load_model(resolved: ResolvedModel, dtype: str = "float32", device: str = "cpu"):
    from transformers import AutoModelForCausalLM

    quiet_transformers()
    torch_dtype = _torch_dtype(dtype)
    try:
        if resolved.format == "gguf":
            model = load_gguf_model(resolved.path, torch_dtype)
        elif resolved.format == "peft":
            from peft import PeftModel

            base = AutoModelForCausalLM.from_pretrained(str(resolved.base_path), dtype=torch_dtype)
            model = PeftModel.from_pretrained(base, str(resolved.path))
        else:
            model = AutoModelForCausalLM.from_pretrained(str(resolved.path), dtype=torch_dtype)
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(f"cannot load model '{resolved.spec}': {str(exc).splitlines()[0]}") from None
    model.to(device)
    model.eval()
    return model


def load_model_and_tokenizer(spec: str, dtype: str = "float32", device: str = "cpu"):
    """(torch model, tokenizer, ModelInfo) for training and attack code."""
    resolved = resolve_model(spec)
    tok = load_tokenizer(resolved)
    model = load_model(resolved, dtype=dtype, device=device)
    return model, tok, model_info(resolved)
