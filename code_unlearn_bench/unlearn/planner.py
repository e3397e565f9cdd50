"""Per-GPU peak memory of a learn/unlearn run, before it starts (`cub unlearn --plan`).

Standard accounting, per device:
  weights      full fine-tune: fp32 master weights (4 B/param); --lora: the frozen base in the
               weight dtype (2 B/param in bf16/fp16) + fp32 adapters
  autocast     bf16 copies of the trained weights that autocast keeps for backward (2 B/param)
  gradients    fp32, 4 B per trained param
  optimizer    AdamW: two fp32 moments, 8 B per trained param (2 B with 8-bit AdamW)
  activations  what the forward pass saves for backward, per token and layer (coefficients
               measured on CPU with unlearn/memtrack.py; no attention matrix: SDPA / flash)
  logits/loss  [tokens, vocab] buffers of the loss and its backward
  step         on CUDA torch's AdamW runs `foreach`, whose `_foreach_sqrt(exp_avg_sq)` holds one
               more fp32 copy of the trained params at the step (4 B/param); the autocast copies,
               activations and loss buffers are gone by then
So a full fine-tune is 4 + 4 + 8 (+2 while autocast copies live) = 16-18 B/param in backward
and 20 B/param at a CUDA optimizer step; the peak is the larger of the two. FSDP / ZeRO-3
divide weights, gradients and optimizer state by the GPU count, ZeRO-2 gradients and optimizer
state; CPU offload moves optimizer state (and FSDP's sharded weights) to host memory.
DeepSpeed (accelerate does not autocast under it) converts the module to bf16 and keeps the
fp32 master weights in the ZeRO optimizer's partitions, with bf16 gradients and an fp32 copy of
the gradient partition at the step. FSDP + LoRA keeps the base in fp32 (one dtype per FSDP unit,
see engines.py). The estimate is checked against measured peaks in tests/unlearn.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from code_unlearn_bench.errors import CubError
from code_unlearn_bench.unlearn.shapes import ModelShape

GiB = 1024 ** 3
STRATEGIES = ("single", "ddp", "fsdp", "fsdp-offload", "zero2", "zero3", "zero3-offload")
_SHARD_WEIGHTS = {"fsdp", "fsdp-offload", "zero3", "zero3-offload"}
_SHARD_STATE = _SHARD_WEIGHTS | {"zero2"}
_OFFLOAD = {"fsdp-offload", "zero3-offload"}
_DEEPSPEED = {"zero2", "zero3", "zero3-offload"}
# CUDA context, cuBLAS/NCCL workspaces and allocator fragmentation (GPU plans only)
GPU_RESERVE = int(1.5 * GiB)
# Bytes saved for backward per token and decoder layer, as (per intermediate unit of a gated
# MLP, per hidden unit, per K/V unit). Measured with LiveTensorPeak on Llama-shaped models
# (transformers 5, SDPA): fp32 weights; fp32 master weights under bf16 autocast; bf16 weights.
_ACT = {"fp32": (16.0, 35.4, 8.2), "autocast": (14.0, 14.0, 4.0), "half": (8.0, 20.0, 4.0)}
# Per token outside the layers (embedding output, final norm), per hidden unit
_FIXED = {"fp32": 14.0, "autocast": 12.0, "half": 9.0}
# [tokens, vocab] buffers alive at the loss' peak (logits, their float copy, log-softmax, grads)
_LOGITS = {"fp32": 14.0, "autocast": 14.0, "half": 12.0}
# Bytes per nucleus entry of PROD's targets in a micro-batch: int32 id + fp32 prob (collated),
# int64 row and id, the gathered log-prob, its product and their gradients
_PROD_ENTRY = 32.0


@dataclass(frozen=True)
class PlanRequest:
    method: str = "prod"
    lora: bool = False
    lora_r: int = 8
    precision: str = "bf16"  # resolved: bf16 | fp16 | fp32
    strategy: str = "single"
    gpus: int = 1
    budget: int | None = None  # bytes per device; None = no verdict
    batch_size: int = 1
    max_length: int = 1024
    gradient_checkpointing: bool = False
    grad_accum: int = 32
    optimizer: str = "adamw"  # adamw | adamw8bit
    device: str = "cuda"  # cuda: add the GPU reserve; cpu: live tensors only
    prod_entries: int = 64  # nucleus entries per position (p = 0.8 on a trained model: tens)


@dataclass(frozen=True)
class Plan:
    request: PlanRequest
    shape: ModelShape
    lines: tuple[tuple[str, int], ...]  # (component, bytes per device)
    activations_without_ckpt: int
    activations_with_ckpt: int
    host_bytes: int  # optimizer state / weights offloaded to host memory, per device
    peak: int
    overlap: int  # recomputed layer vs loss buffers: not alive together
    step_peak: int  # what is alive during the optimizer step (part of `peak`, the larger one)
    fits: bool | None
    suggestion: str | None

    def format(self) -> str:
        r, s = self.request, self.shape
        kind = f"LoRA r={r.lora_r} ({s.lora_params(r.lora_r) / 1e6:.1f}M trained)" if r.lora else "full fine-tune"
        head = (f"memory plan: {s.model_type} {s.n_params / 1e9:.2f}B params, {kind}, {r.precision}, "
                f"{r.strategy} on {r.gpus} {'GPU' if r.device == 'cuda' else 'process'}{'es' if r.gpus > 1 and r.device != 'cuda' else 's' if r.gpus > 1 else ''}, "
                f"batch {r.batch_size} x {r.max_length} tokens x accumulation {r.grad_accum}, method {r.method}")
        rows = [head] + [f"  {name:<34}{human_bytes(b):>10}" for name, b in self.lines]
        ck = "on" if r.gradient_checkpointing else "off"
        rows.append(f"  {'(activations with / without ckpt)':<34}{human_bytes(self.activations_with_ckpt):>10} / "
                    f"{human_bytes(self.activations_without_ckpt)} (gradient checkpointing {ck}; with it, "
                    f"the recomputed layer and the loss' buffers are not alive together)")
        if self.host_bytes:
            rows.append(f"  {'host memory (offloaded)':<34}{human_bytes(self.host_bytes):>10}")
        rows.append(f"  {'(backward / optimizer step)':<34}{human_bytes(self.peak_backward):>10} / "
                    f"{human_bytes(self.step_peak)} (the step holds weights, gradients, optimizer state "
                    f"and its step buffers)")
        rows.append(f"  {'peak per device':<34}{human_bytes(self.peak):>10}" +
                    (f" of {human_bytes(r.budget)}: {'fits' if self.fits else 'does NOT fit'}" if r.budget else ""))
        if self.suggestion:
            rows.append(f"  suggestion: {self.suggestion}")
        return "\n".join(rows)

    @property
    def peak_backward(self) -> int:
        return sum(b for name, b in self.lines if not name.startswith(STEP_LINE)) - self.overlap

    def refusal(self) -> str:
        r = self.request
        return (f"the run needs ~{human_bytes(self.peak)} per {'GPU' if r.device == 'cuda' else 'device'} but "
                f"{human_bytes(r.budget)} is available ({r.strategy}, {r.gpus} x); {self.suggestion or 'it cannot fit'} "
                f"(see `cub unlearn --plan`, docs/scaling.md)")


def human_bytes(b: int | None) -> str:
    if b is None:
        return "?"
    return f"{b / GiB:.2f} GiB" if b >= GiB // 10 else f"{b / 2 ** 20:.1f} MiB"


def _mode(req: PlanRequest) -> str:
    if req.precision == "fp32":
        return "fp32"
    # LoRA keeps the frozen base in half precision; a full fine-tune keeps fp32 master weights
    # under autocast (single/DDP) -- FSDP/DeepSpeed compute on half-precision weights
    return "half" if req.lora or req.strategy in _SHARD_WEIGHTS | _DEEPSPEED else "autocast"


def layer_activation_bytes(shape: ModelShape, req: PlanRequest) -> int:
    """What one decoder layer saves for backward, for the whole micro-batch."""
    c_i, c_h, c_kv = _ACT[_mode(req)]
    if not shape.gated_mlp:
        c_i /= 2  # two [tokens, intermediate] tensors instead of four
    per_token = c_i * shape.intermediate + c_h * shape.hidden + c_kv * shape.kv_dim
    return int(per_token * req.batch_size * req.max_length)


def activation_bytes(shape: ModelShape, req: PlanRequest, checkpointing: bool) -> int:
    """Saved activations at the end of the forward pass (with checkpointing: each layer's input;
    the one layer recomputed during backward is a separate, later transient)."""
    mode = _mode(req)
    tokens = req.batch_size * req.max_length
    fixed = _FIXED[mode] * shape.hidden * tokens
    if checkpointing:
        stream = 4 if mode != "half" else 2
        return int(fixed + tokens * shape.n_layers * stream * shape.hidden)
    return int(fixed + shape.n_layers * layer_activation_bytes(shape, req))


def plan(shape: ModelShape, req: PlanRequest, suggest: bool = True) -> Plan:
    if req.strategy not in STRATEGIES:
        raise CubError(f"unknown distributed strategy '{req.strategy}' (known: {', '.join(STRATEGIES)})")
    if req.gpus < 1:
        raise CubError(f"--gpus must be >= 1 (got {req.gpus})")
    n = req.gpus
    sw = n if req.strategy in _SHARD_WEIGHTS else 1
    ss = n if req.strategy in _SHARD_STATE else 1
    offload = req.strategy in _OFFLOAD
    half = req.precision in ("bf16", "fp16")
    trained = shape.lora_params(req.lora_r) if req.lora else shape.n_params
    opt_b = 2 if req.optimizer == "adamw8bit" else 8
    lines: list[tuple[str, int]] = []
    host = 0
    deepspeed = half and req.strategy in _DEEPSPEED
    if req.lora:
        # FSDP needs one dtype per unit: the base is fp32 there, like the adapters (engines.py)
        base_half = half and not req.strategy.startswith("fsdp")
        lines.append((f"base weights ({'bf16' if base_half else 'fp32'}, frozen)",
                      shape.n_params * (2 if base_half else 4) // sw))
        lines.append(("LoRA adapters (fp32)", trained * 4))
    elif deepspeed:  # bf16 module (ZeRO-3: sharded) + fp32 master partitions in the optimizer
        lines.append(("weights (bf16 module)", shape.n_params * 2 // sw))
        lines.append(("weights (fp32 master partition)", shape.n_params * 4 // ss))
    elif req.strategy in _SHARD_WEIGHTS:
        master = shape.n_params * 4 // sw
        if offload:
            host += master
        else:
            lines.append(("weights (fp32 shards)", master))
    else:
        lines.append(("weights (fp32 master)", shape.n_params * 4))
        if half:
            lines.append(("autocast bf16 weight copies", shape.n_params * 2))
    if req.strategy in _SHARD_WEIGHTS:  # the gathered layer being computed and the next one (prefetch)
        lines.append(("gathered layers (FSDP/ZeRO-3)", 2 * shape.layer_params * (2 if half else 4)))
    if offload:  # FSDP/ZeRO-3 offload moves the gradient shards to the host with the parameters
        host += trained * 4 // ss
        lines.append(("gradients (on host)", 0))
    elif deepspeed and not req.lora:
        lines.append(("gradients (bf16 partition)", trained * 2 // ss))
    else:
        lines.append(("gradients (fp32)", trained * 4 // ss))
    opt = trained * opt_b // ss
    if offload:
        host += opt
        lines.append(("optimizer state (on host)", 0))
    else:
        lines.append((f"optimizer state ({'8-bit ' if opt_b == 2 else ''}AdamW)", opt))
    act_off = activation_bytes(shape, req, False)
    act_on = activation_bytes(shape, req, True) + layer_activation_bytes(shape, req)
    lines.append(("activations", activation_bytes(shape, req, True) if req.gradient_checkpointing else act_off))
    tokens = req.batch_size * req.max_length
    loss = int(_LOGITS[_mode(req)] * tokens * shape.vocab)
    lines.append(("logits and loss", loss))
    if req.method == "prod":  # the micro-batch's sparse targets and their gather / backward buffers
        loss += int(tokens * req.prod_entries * _PROD_ENTRY)
        lines.append(("PROD targets (micro-batch)", int(tokens * req.prod_entries * _PROD_ENTRY)))
    overlap = 0
    if req.gradient_checkpointing:
        # the recomputed layer lives in backward, after the loss' buffers are gone: the larger counts
        recompute = layer_activation_bytes(shape, req)
        lines.append(("recomputed layer (checkpointing)", recompute))
        overlap = min(recompute, loss)
    if req.device == "cuda":
        lines.append(("CUDA context and fragmentation", GPU_RESERVE))
    backward = sum(b for _, b in lines) - overlap
    kept = sum(b for name, b in lines if name.startswith(_KEPT_AT_STEP))
    step = _step_lines(req, trained // ss, deepspeed and not req.lora, offload)
    lines += step
    step_peak = kept + sum(b for _, b in step)
    peak = max(backward, step_peak)
    fits = None if req.budget is None else peak <= req.budget
    suggestion = _suggest(shape, req) if suggest and fits is False else None
    return Plan(req, shape, tuple(lines), act_off, act_on, host, peak, overlap, step_peak, fits, suggestion)


STEP_LINE = "step: "
# what is still allocated while the optimizer steps (the autocast copies, activations and loss
# buffers were freed with the backward pass)
_KEPT_AT_STEP = ("weights", "base weights", "LoRA adapters", "gradients", "optimizer state", "CUDA context")


def _step_lines(req: PlanRequest, trained_here: int, deepspeed_full: bool, offload: bool) -> list[tuple[str, int]]:
    """Buffers that exist only during the optimizer step, per device."""
    lines = []
    if deepspeed_full:  # ZeRO steps an fp32 copy of the bf16 gradient partition
        lines.append((STEP_LINE + "fp32 gradient partition (ZeRO)", trained_here * 4))
    if req.device == "cuda" and req.optimizer == "adamw" and not offload:
        # torch picks foreach on CUDA: _foreach_sqrt(exp_avg_sq) is an fp32 copy of the trained params
        lines.append((STEP_LINE + "AdamW foreach buffers (CUDA)", trained_here * 4))
    return lines


def _suggest(shape: ModelShape, req: PlanRequest) -> str | None:
    """The first of the usual remedies that makes the run fit, as a one-line hint."""
    def fits(**changes) -> bool:
        return plan(shape, replace(req, **changes), suggest=False).fits

    if not req.gradient_checkpointing and fits(gradient_checkpointing=True):
        return "add --gradient-checkpointing"
    if not req.lora:
        lora = fits(lora=True, gradient_checkpointing=True)
        fsdp_n = next((n for n in sorted({max(req.gpus, 2), 2, 4, 8}) if n >= req.gpus
                       and fits(gpus=n, strategy="fsdp", gradient_checkpointing=True)), None)
        fsdp = (f"--num-processes {fsdp_n} --accelerate-config configs/accelerate/fsdp.yaml "
                f"--gradient-checkpointing") if fsdp_n else ""
        if fsdp_n and fsdp_n <= req.gpus:
            return f"use FSDP on your {req.gpus} GPUs ({fsdp})" + (", or add --lora" if lora else "")
        if lora:
            return "add --lora --gradient-checkpointing" + (
                f" (a full fine-tune needs {fsdp_n} such GPUs with FSDP: {fsdp})" if fsdp_n else "")
        if fsdp_n:
            return f"use {fsdp_n} GPUs with FSDP ({fsdp})"
    if req.precision == "fp32" and fits(precision="bf16", gradient_checkpointing=True):
        return "use --precision bf16 --gradient-checkpointing"
    for length in (512, 256):
        if length < req.max_length and fits(max_length=length, batch_size=1, gradient_checkpointing=True):
            return f"use --max-length {length} --batch-size 1 --gradient-checkpointing"
    return None


def visible_gpu_memory() -> tuple[int, int]:
    """(number of visible CUDA devices, memory of the smallest one in bytes); (0, 0) without CUDA."""
    import torch

    if not torch.cuda.is_available():
        return 0, 0
    count = torch.cuda.device_count()
    return count, min(torch.cuda.get_device_properties(i).total_memory for i in range(count))
