"""Resolve a model spec (HF dir, PEFT adapter dir, GGUF file, alias) and load it offline."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from code_unlearn_bench.errors import ModelError
from code_unlearn_bench.models.base import ModelInfo
from code_unlearn_bench.models.gguf import load_gguf_model, quiet_transformers

CHECKPOINT_META = "cub_checkpoint.json"


@dataclass(frozen=True)
class ResolvedModel:
    spec: str
    format: str  # hf | peft | gguf | embedded
    path: Path  # HF dir, adapter dir, or .gguf file
    name: str
    base_path: Path | None = None  # PEFT: the base model dir
    hub: dict[str, str] | None = None  # hub models: {"repo_id", "revision" (resolved commit)}


def _display_name(path: Path) -> str:
    """``runs/prod/epoch-03`` -> ``prod/epoch-03``: checkpoint dirs alone all look alike."""
    if path.name.startswith(("epoch-", "checkpoint-")) and path.parent.name:
        return f"{path.parent.name}/{path.name}"
    return path.name


def resolve_model(spec: str, revision: str | None = None) -> ResolvedModel:
    """Work out what ``spec`` names without loading weights; one-line ModelError if nothing fits.

    Order: embedded alias, existing local path, hub id ``org/name[@revision]`` (HF cache or hub)."""
    from code_unlearn_bench.models import embedded, hub

    if not spec:
        raise ModelError("no model given (--model PATH, or --model smollm2-135m for the embedded default)")
    if spec in embedded.ALIASES:
        path = embedded.ensure_converted(spec)
        return ResolvedModel(spec, "embedded", path, embedded.ALIASES[spec]["name"])
    p = Path(spec).expanduser()
    if not p.exists():
        repo_id, rev = hub.split_spec(spec, revision)
        if hub.looks_like_repo_id(repo_id):
            snap = hub.snapshot(repo_id, rev)
            local = _resolve_local(spec, snap.path)
            return replace(local, name=repo_id, hub={"repo_id": snap.repo_id, "revision": snap.revision})
        hint = "" if os.sep in spec or spec.startswith(".") else \
            f" (not a local path or hub id org/name either; known aliases: {', '.join(sorted(embedded.ALIASES))})"
        raise ModelError(f"model path '{spec}' does not exist{hint}")
    if revision:
        raise ModelError(f"--revision applies to hub models; '{spec}' is a local path")
    return _resolve_local(spec, p.resolve())


def _resolve_local(spec: str, p: Path) -> ResolvedModel:
    from code_unlearn_bench.models import embedded

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


def as_resolved(model: "str | ResolvedModel", revision: str | None = None) -> ResolvedModel:
    """A resolved model as is; a spec string resolved (backends accept either)."""
    return model if isinstance(model, ResolvedModel) else resolve_model(model, revision)


def fingerprint(resolved: ResolvedModel) -> str:
    """sha256 over every byte of the weight files and the config files (see models/fingerprint.py)."""
    from code_unlearn_bench.models.fingerprint import fingerprint_paths

    roots = [resolved.path] + ([resolved.base_path] if resolved.base_path is not None else [])
    return fingerprint_paths(roots)


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
                     base_model=str(resolved.base_path) if resolved.base_path else None, lineage=lineage,
                     hub=resolved.hub)


def _remote_code(model_args: dict[str, Any] | None) -> dict[str, Any]:
    """trust_remote_code only when the user asked for it (--model-args trust_remote_code=true)."""
    return {"trust_remote_code": True} if (model_args or {}).get("trust_remote_code") is True else {}


def tokenizer_source(resolved: ResolvedModel) -> Path:
    """The directory the tokenizer is read from (an adapter without one uses its base's)."""
    if resolved.format == "gguf":
        return resolved.path.parent
    if resolved.format == "peft" and not (resolved.path / "tokenizer_config.json").exists():
        return resolved.base_path
    return resolved.path


def load_tokenizer(resolved: ResolvedModel, model_args: dict[str, Any] | None = None):
    from transformers import AutoTokenizer

    try:
        if resolved.format == "gguf":
            tok = AutoTokenizer.from_pretrained(str(resolved.path.parent), gguf_file=resolved.path.name)
        else:
            tok = AutoTokenizer.from_pretrained(str(tokenizer_source(resolved)), **_remote_code(model_args))
    except Exception as exc:  # transformers raises many types for a broken dir
        raise ModelError(f"cannot load tokenizer of '{resolved.spec}': {str(exc).splitlines()[0]}") from None
    # Batched generation needs left padding (then batched greedy equals batch 1) and a pad token.
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


_DTYPES = {"float32": "float32", "fp32": "float32", "bfloat16": "bfloat16", "bf16": "bfloat16",
           "float16": "float16", "fp16": "float16", "half": "float16"}


def resolve_dtype(dtype: str, device: str | None = None) -> str:
    """'auto' -> bfloat16 on a CUDA device (float16 where bf16 is unsupported), float32 on CPU."""
    if dtype != "auto":
        try:
            return _DTYPES[dtype]
        except KeyError:
            raise ModelError(f"unknown dtype '{dtype}' (auto, float32, bfloat16, float16)") from None
    import torch

    on_cuda = torch.cuda.is_available() and (device is None or str(device).startswith("cuda"))
    if not on_cuda:
        return "float32"
    return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"


def _torch_dtype(dtype: str, device: str | None = None):
    import torch

    return getattr(torch, resolve_dtype(dtype, device))


def load_model(resolved: ResolvedModel, dtype: str = "auto", device: str = "cpu",
               model_args: dict[str, Any] | None = None):
    """A transformers model in eval mode; ``model_args`` go to ``from_pretrained`` as given."""
    from transformers import AutoModelForCausalLM

    quiet_transformers()
    torch_dtype = _torch_dtype(dtype, device)
    kwargs = {**(model_args or {}), "dtype": torch_dtype}
    try:
        if resolved.format == "gguf":
            model = load_gguf_model(resolved.path, torch_dtype)
        elif resolved.format == "peft":
            from peft import PeftModel

            base = AutoModelForCausalLM.from_pretrained(str(resolved.base_path), **kwargs)
            model = PeftModel.from_pretrained(base, str(resolved.path))
        else:
            model = AutoModelForCausalLM.from_pretrained(str(resolved.path), **kwargs)
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(f"cannot load model '{resolved.spec}': {str(exc).splitlines()[0]}") from None
    model.to(device)
    model.eval()
    return model


def load_model_and_tokenizer(spec: str, dtype: str = "float32", device: str = "cpu",
                             model_args: dict[str, Any] | None = None, revision: str | None = None):
    """(torch model, tokenizer, ModelInfo) for training and attack code."""
    resolved = resolve_model(spec, revision)
    tok = load_tokenizer(resolved, model_args)
    model = load_model(resolved, dtype=dtype, device=device, model_args=model_args)
    return model, tok, model_info(resolved)
