"""The sizes the memory planner needs, read from a model's config.json without its weights.

The model is instantiated on the meta device (no memory, a second or two for a 7B config), so
parameter counts are exact for any architecture transformers knows, tied embeddings included.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from code_unlearn_bench.errors import ModelError

# Architectures whose MLP is gated (gate, up, down: four [tokens, intermediate] tensors are saved
# for backward instead of two).
_UNGATED = {"starcoder2", "gpt_bigcode", "gpt2", "gpt_neox", "phi"}


@dataclass(frozen=True)
class ModelShape:
    model_type: str
    n_params: int
    n_layers: int
    hidden: int
    intermediate: int
    kv_dim: int  # width of K (and V) after projection: kv heads x head dim
    vocab: int
    gated_mlp: bool
    lora_params_per_rank: int  # sum of (in + out) over the linear layers LoRA "all-linear" wraps
    layer_params: int  # one decoder layer: the unit FSDP / ZeRO-3 gathers at a time

    def lora_params(self, r: int) -> int:
        return r * self.lora_params_per_rank


def shape_from_model(model) -> ModelShape:
    """Shape of an instantiated (meta or real) causal LM; a PEFT wrapper is looked through."""
    import torch

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    cfg = base.config
    text_cfg = cfg.get_text_config() if hasattr(cfg, "get_text_config") else cfg
    hidden = text_cfg.hidden_size
    heads = text_cfg.num_attention_heads
    kv_heads = getattr(text_cfg, "num_key_value_heads", None) or heads
    head_dim = getattr(text_cfg, "head_dim", None) or hidden // heads
    params = {id(p): p.numel() for p in base.parameters()}  # tied weights counted once
    lora_dims = 0
    out_emb = base.get_output_embeddings()
    for module in base.modules():
        if isinstance(module, torch.nn.Linear) and module is not out_emb and "lora_" not in type(module).__name__:
            lora_dims += module.in_features + module.out_features
    layers = _decoder_layers(base)
    layer_params = max((sum(p.numel() for p in layer.parameters()) for layer in layers), default=0)
    return ModelShape(model_type=cfg.model_type, n_params=sum(params.values()), n_layers=text_cfg.num_hidden_layers,
                      hidden=hidden, intermediate=getattr(text_cfg, "intermediate_size", 4 * hidden),
                      kv_dim=kv_heads * head_dim, vocab=text_cfg.vocab_size,
                      gated_mlp=cfg.model_type not in _UNGATED, lora_params_per_rank=lora_dims,
                      layer_params=layer_params)


def _decoder_layers(model) -> list:
    import torch

    for module in model.modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) > 1:
            return list(module)
    return []


def _config_dir(resolved) -> Path:
    if resolved.format == "gguf":
        raise ModelError(f"cannot plan for a .gguf file ('{resolved.spec}'); give the HF model dir or its config.json")
    return resolved.base_path if resolved.format == "peft" else resolved.path


def load_config(spec):
    """The transformers config of a model spec or an already resolved model (a run's handle): an HF
    dir (a config.json alone is enough), a PEFT adapter dir (its base), the embedded alias."""
    from transformers import AutoConfig

    from code_unlearn_bench.models.loading import ResolvedModel

    if isinstance(spec, ResolvedModel):
        return _auto_config(AutoConfig, _config_dir(spec), spec.spec)
    path = Path(spec).expanduser()
    if path.is_file() and path.name == "config.json":
        path = path.parent
    if path.is_dir() and (path / "adapter_config.json").is_file() and not (path / "config.json").is_file():
        from code_unlearn_bench.models.loading import resolve_model

        path = resolve_model(spec).base_path
    elif not (path.is_dir() and (path / "config.json").is_file()):
        from code_unlearn_bench.models.loading import resolve_model

        path = _config_dir(resolve_model(spec))  # one-line error for a missing path; converts the alias
    return _auto_config(AutoConfig, path, spec)


def _auto_config(auto_config, path: Path, spec: str):
    try:
        return auto_config.from_pretrained(str(path))
    except Exception as exc:  # transformers raises many types for a bad config
        raise ModelError(f"cannot read the config of '{spec}': {str(exc).splitlines()[0]}") from None


def shape_from_config(config) -> ModelShape:
    import torch
    from transformers import AutoModelForCausalLM

    try:
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(config)
    except Exception as exc:
        raise ModelError(f"cannot build a {config.model_type} model from its config: {str(exc).splitlines()[0]}") from None
    return shape_from_model(model)


def load_shape(spec) -> ModelShape:
    """``spec``: a model spec string or a ResolvedModel (resolved once by the run's handle)."""
    return shape_from_config(load_config(spec))
