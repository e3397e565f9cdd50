"""What happens between loading the model and the first step: LoRA / checkpointing, the
optimizer, and the method's frozen per-example state (computed per rank on its shard)."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from code_unlearn_bench.errors import CubError
from code_unlearn_bench.unlearn import checkpoint as ckpt
from code_unlearn_bench.unlearn.data import collate
from code_unlearn_bench.unlearn.distributed import gather_states, shard_indices
from code_unlearn_bench.unlearn.method import Method



def base_name(info) -> str:
    return info.spec if info.format == "embedded" else str(info.path)


def wrap_lora(model, cfg, info):
    from peft import LoraConfig, PeftModel, get_peft_model

    if isinstance(model, PeftModel):
        # a LoRA-learned model: keep training its adapter, so the checkpoints stay adapters over
        # the same base model
        for name, p in model.named_parameters():
            p.requires_grad = "lora_" in name
    else:
        lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=0.0,
                          target_modules="all-linear", task_type="CAUSAL_LM")
        model = get_peft_model(model, lora)
        # the saved adapter must name a loadable base: the resolved dir (or the embedded alias)
        model.peft_config["default"].base_model_name_or_path = base_name(info)
    # adapters train in fp32 over a half-precision frozen base (autocast computes in half)
    for name, p in model.named_parameters():
        if p.requires_grad and p.dtype != torch.float32:
            p.data = p.data.float()
    return model


def prepare_model(model, cfg, info):
    if cfg.gradient_checkpointing:
        model.config.use_cache = False
        # transformers 5 renamed it (the old name warns); 4.x only has the old name
        if hasattr(model, "activation_checkpointing_enable"):
            model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        if cfg.lora:
            model.enable_input_require_grads()  # checkpointed blocks need an input that requires grad
    if cfg.lora:
        model = wrap_lora(model, cfg, info)
    else:
        for p in model.parameters():  # a merged adapter model comes back with its base frozen
            p.requires_grad = True
    model.train()
    return model


def make_optimizer(model, cfg):
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "adamw8bit":
        try:
            import bitsandbytes as bnb
        except ImportError:
            raise CubError("--optimizer adamw8bit needs bitsandbytes (pip install bitsandbytes)") from None
        return bnb.optim.AdamW8bit(params, lr=cfg.lr, weight_decay=0.0)
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.0)


def precompute(method: Method, model, examples, pad_id: int, acc, log) -> list | None:
    """Frozen per-example state from the model before training, one example at a time (no
    padding, so it is exactly what that example's forward pass gives). Each rank computes the
    examples i = rank, rank + N, ... with the model it trains (no second copy), then the shards
    are gathered so every rank holds all of it."""
    if type(method).precompute is Method.precompute:
        return None
    model.eval()
    mine = shard_indices(len(examples), acc.process_index, acc.num_processes)
    per_rank = -(-len(examples) // acc.num_processes)
    local = {}
    started = time.perf_counter()
    with torch.no_grad():
        for k in range(per_rank):
            # a rank with one example fewer repeats one: wrapped models run collectives per forward
            i = mine[k] if k < len(mine) else (mine[0] if mine else 0)
            seqs = {name: v.to(acc.device) for name, v in collate([examples[i]], pad_id).items()}
            with acc.autocast():
                state = method.precompute(model, seqs)
            if k < len(mine):
                local[i] = {name: t.detach().cpu() for name, t in state.items()}
    model.train()
    states = gather_states(acc, local, len(examples))
    log(f"precomputed frozen {method.name} state for {len(examples)} examples "
        f"in {time.perf_counter() - started:.1f}s ({acc.num_processes} process(es))")
    return states


def frozen_states(run, out: Path, done: int, method, model, examples, pad_id, acc, log):
    """The method's frozen per-example state: computed once from the model before training and
    kept in resume/prepared.pt, so that a resumed run never recomputes it from a checkpoint."""
    prepared = out / "resume" / "prepared.pt"
    # Every rank looks BEFORE the barrier, and the main one writes only after it: a rank that
    # looked after the barrier could find the main one's fresh file, skip the barrier below and
    # deadlock the others (seen with GradDiff, and with GA on a loaded machine, whose precompute
    # has no collective to line the ranks up).
    exists = prepared.is_file()
    acc.wait_for_everyone()
    if exists:
        return ckpt.load_torch(prepared)["states"]
    if done:
        raise CubError(f"'{out}' lacks resume/prepared.pt; cannot resume, use another --output-dir")
    t0 = time.perf_counter()
    states = precompute(method, model, examples, pad_id, acc, log)
    run["precompute_time_s"] = round(time.perf_counter() - t0, 3)
    if states is not None:
        run["precomputed_bytes"] = sum(t.numel() * t.element_size() for s in states for t in s.values())
    if acc.is_main_process:
        ckpt.save_torch_atomic({"states": states}, prepared)
        ckpt.write_json_atomic(out / "run.json", run)
    acc.wait_for_everyone()
    return states
