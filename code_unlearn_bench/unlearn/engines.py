"""What the sharded engines (FSDP, DeepSpeed ZeRO) need from us before `accelerate.prepare`.

Read against accelerate 1.16 (state.py, accelerator.py `_prepare_deepspeed`):
- accelerate selects DeepSpeed only when not `cpu=True`, and selects FSDP only for GPU-like
  process groups: on CPU an FSDP config silently became DDP. DeepSpeed's CPU accelerator does
  run with a gloo group, so a CPU DeepSpeed run asks for gloo; a CPU FSDP run is refused.
- Without a DataLoader, a DeepSpeed config whose micro-batch is "auto" makes `prepare` raise;
  the batch keys (and clipping) are set from our config instead.
- FSDP1 flattens each wrapped unit into one tensor of one dtype, so LoRA's fp32 adapters cannot
  share a unit with a bf16 base: under FSDP the base is loaded in fp32 as well, and FSDP's
  mixed-precision policy gathers it in bf16 for compute (the fp32 base is sharded over the GPUs).
"""

from __future__ import annotations

import os

from code_unlearn_bench.errors import CubError


def requested_engine() -> str | None:
    """The sharded engine `accelerate launch` was told to run (from its environment), or None."""
    if os.environ.get("ACCELERATE_USE_DEEPSPEED", "false").lower() == "true":
        return "deepspeed"
    if os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true":
        return "fsdp"
    return None


def accelerator_options(cpu: bool) -> tuple[bool, list]:
    """(the `cpu` flag for Accelerator, extra kwargs handlers) for the requested engine."""
    engine = requested_engine()
    if engine == "fsdp" and cpu:
        raise CubError("FSDP needs GPUs: accelerate 1.16 only selects FSDP for a GPU process group (on CPU "
                       "it would run DDP instead); use configs/accelerate/zero2.yaml / zero3.yaml or no "
                       "--accelerate-config on CPU")
    if engine == "deepspeed" and cpu:
        from accelerate.utils import InitProcessGroupKwargs

        # accelerate ignores DeepSpeed under cpu=True; DeepSpeed's CPU accelerator + a gloo group runs
        os.environ.setdefault("DS_ACCELERATOR", "cpu")
        return False, [InitProcessGroupKwargs(backend="gloo")]
    return cpu, []


def check_engine(acc) -> None:
    """Refuse a run where accelerate did not pick the engine the launcher asked for."""
    from accelerate.utils import DistributedType

    engine = requested_engine()
    want = {"deepspeed": DistributedType.DEEPSPEED, "fsdp": DistributedType.FSDP}.get(engine)
    if want is not None and acc.distributed_type != want:
        raise CubError(f"accelerate set up {acc.distributed_type.value} instead of the requested {engine} "
                       f"(on {acc.device.type}); see docs/scaling.md")
    if engine == "deepspeed" and not acc.state.deepspeed_plugin.is_zero3_init_enabled():
        from transformers.integrations import unset_hf_deepspeed_config

        # accelerate registers the ZeRO-3 config with transformers even with zero3_init_flag false,
        # and transformers then builds every model under deepspeed.zero.Init (the planner's
        # meta-device one fails: "Cannot copy out of meta tensor"); without the flag the whole
        # model is loaded and DeepSpeed partitions it at prepare
        unset_hf_deepspeed_config()


def configure_deepspeed(acc, batch_size: int, grad_accum: int, max_grad_norm: float) -> None:
    """Fill the DeepSpeed config's batch keys and clipping from our config before `prepare`
    (we hand it no DataLoader to infer them from)."""
    from accelerate.utils import DistributedType

    if acc.distributed_type != DistributedType.DEEPSPEED:
        return
    config = acc.state.deepspeed_plugin.deepspeed_config
    config["train_micro_batch_size_per_gpu"] = batch_size
    config["gradient_accumulation_steps"] = grad_accum
    config["train_batch_size"] = batch_size * grad_accum * acc.num_processes
    config["gradient_clipping"] = float(max_grad_norm)  # 0 = none, as --max-grad-norm 0
    acc.gradient_accumulation_steps = grad_accum


def lora_base_dtype(half_dtype: str | None, lora: bool) -> str:
    """The dtype the weights are loaded in: a LoRA base stays in half precision (frozen) except
    under FSDP, whose units need one dtype (the fp32 adapters'); a full fine-tune keeps fp32."""
    if half_dtype is None or not lora or requested_engine() == "fsdp":
        return "float32"
    return half_dtype
