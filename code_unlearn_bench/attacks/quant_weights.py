"""Weight round-trips through low-bit integers: the quantisation attack's model transform.

Quantising an unlearned model can bring forgotten text back (arXiv 2410.16454): unlearning moves
weights by less than one quantisation step, and rounding snaps them back towards the memorising
model. Two ways to get there:

* ``torch`` (CPU and GPU): fake quantisation with torch's own
  ``fake_quantize_per_channel_affine``: every ``nn.Linear`` weight is quantised to signed
  integers and dequantised in place. Layouts follow bitsandbytes' defaults so that the CPU numbers
  approximate what a GPU user gets: 8 bit per output row (LLM.int8's vector-wise absmax),
  4 bit in blocks of 64 weights along the input (bnb's 4-bit blocksize), symmetric absmax.
  bnb's 4-bit codes are NF4/FP4, not uniform int4, so the CPU result is an approximation.
* ``bnb`` (CUDA only): reload the checkpoint with bitsandbytes 8-bit / 4-bit (NF4) weights.

Embeddings and ``lm_head`` stay in full precision, as transformers' bitsandbytes integration does
(``lm_head`` is often tied to the embeddings).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from code_unlearn_bench.errors import CubError, ModelError

BITS = (8, 4)
INT4_GROUP = 64  # bitsandbytes' default 4-bit blocksize
_SKIP = ("lm_head",)


@dataclasses.dataclass
class QuantStats:
    bits: int
    method: str
    n_layers: int
    n_weights: int
    relative_error: float | None  # ||W_q - W|| / ||W|| over all quantised weights

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def quantisable_linears(model) -> list[tuple[str, Any]]:
    import torch

    return [(name, m) for name, m in model.named_modules()
            if isinstance(m, torch.nn.Linear) and not any(s in name.split(".") for s in _SKIP)]


def fake_quantize_weight(weight, bits: int, group_size: int = 0):
    """Symmetric absmax round-trip of a 2-D weight: per output row (``group_size`` 0) or per
    block of ``group_size`` consecutive input weights (rows whose length the block size does not
    divide fall back to per-row)."""
    import torch

    if bits not in (2, 3, 4, 5, 6, 7, 8):
        raise CubError(f"cannot quantise to {bits} bits (2-8 supported)")
    qmax = 2 ** (bits - 1) - 1  # symmetric: [-qmax, qmax], zero point 0
    w = weight.detach().float()
    rows = w.reshape(-1, group_size) if group_size and w.shape[-1] % group_size == 0 else w.reshape(w.shape[0], -1)
    # an all-zero row would give scale 0 (division by zero inside the op); any scale keeps it 0
    scale = (rows.abs().amax(dim=1) / qmax).clamp(min=1e-12)
    zero = torch.zeros(rows.shape[0], dtype=torch.int32, device=rows.device)
    q = torch.fake_quantize_per_channel_affine(rows, scale, zero, 0, -qmax, qmax)
    return q.reshape(weight.shape).to(weight.dtype)


def group_size_for(bits: int, int4_group: int = INT4_GROUP) -> int:
    return int4_group if bits <= 4 else 0


def snapshot(model) -> dict[str, Any]:
    """Copies of the weights :func:`fake_quantize_model` changes, to undo it between bit-widths."""
    return {name: m.weight.detach().clone() for name, m in quantisable_linears(model)}


def restore(model, saved: dict[str, Any]) -> None:
    import torch

    with torch.no_grad():
        for name, m in quantisable_linears(model):
            m.weight.copy_(saved[name])


def fake_quantize_model(model, bits: int, int4_group: int = INT4_GROUP) -> QuantStats:
    """Round-trip every quantisable Linear weight of ``model`` in place."""
    import torch

    layers = quantisable_linears(model)
    if not layers:
        raise ModelError("the model has no nn.Linear layers to quantise")
    err2 = ref2 = 0.0
    n = 0
    with torch.no_grad():
        for _, m in layers:
            q = fake_quantize_weight(m.weight, bits, group_size_for(bits, int4_group))
            err2 += float((q.float() - m.weight.float()).pow(2).sum())
            ref2 += float(m.weight.float().pow(2).sum())
            n += m.weight.numel()
            m.weight.copy_(q)
    rel = (err2 / ref2) ** 0.5 if ref2 > 0 else 0.0
    layout = f"group {int4_group}" if group_size_for(bits, int4_group) else "per-row"
    return QuantStats(bits, f"torch-fake-quant ({layout}, symmetric absmax)", len(layers), n, round(rel, 6))


def merged(model):
    """A PEFT model as one plain model: quantisation applies to the deployed (merged) weights."""
    try:
        from peft import PeftModel
    except ImportError:  # peft absent: the model cannot be a PeftModel
        return model
    return model.merge_and_unload() if isinstance(model, PeftModel) else model


def bnb_available() -> bool:
    import importlib.util

    import torch

    return torch.cuda.is_available() and importlib.util.find_spec("bitsandbytes") is not None


def load_bnb(resolved, bits: int, device: str):
    """Reload ``resolved`` (a models.loading.ResolvedModel) with bitsandbytes weights (CUDA)."""
    if not bnb_available():
        raise CubError("--quant-method bnb needs a CUDA GPU and the bitsandbytes package "
                       "(pip install bitsandbytes); use --quant-method torch on CPU")
    import torch
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    if bits == 8:
        qconfig = BitsAndBytesConfig(load_in_8bit=True)
    elif bits == 4:
        qconfig = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                     bnb_4bit_compute_dtype=torch.bfloat16)
    else:
        raise CubError(f"bitsandbytes loads 8 or 4 bits, not {bits}")
    if resolved.format not in ("hf", "embedded"):
        raise CubError(f"--quant-method bnb loads plain HF model dirs, not a {resolved.format} model; "
                       f"use --quant-method torch")
    try:
        model = AutoModelForCausalLM.from_pretrained(str(resolved.path), quantization_config=qconfig,
                                                     device_map={"": device})
    except Exception as exc:  # transformers/bnb raise many types for one failed load
        raise ModelError(f"cannot load '{resolved.spec}' in {bits}-bit: {str(exc).splitlines()[0]}") from None
    model.eval()
    return model
