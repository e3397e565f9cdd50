"""Hugging Face accelerate under the training loop: one process, DDP, FSDP or DeepSpeed ZeRO.

The loop stays ours (methods need a frozen precompute and per-example state); accelerate
provides the process group, the wrapping (DDP / FSDP / DeepSpeed engine), mixed precision,
gradient sync and sharded state saving. How many processes and which engine come from
`accelerate launch` (or `cub unlearn --num-processes N`, which runs it) and the config files in
configs/accelerate/.

Data parallelism keeps the single-process semantics: the global order of an epoch is the same,
one optimizer step consumes ``batch_size x grad_accum`` examples in total (the global batch), and
rank r takes micro-batches r, r + N, ... of that step. Each micro-batch loss is weighted by its
share of the step's examples times N, so that the gradient average over ranks equals the
single-process gradient. A rank with fewer micro-batches in a short last step runs a zero-weight
one so every rank calls the collectives the same number of times.
"""

from __future__ import annotations

import os
from contextlib import nullcontext
from typing import Any

import torch

from code_unlearn_bench.errors import CubError

_MIXED = {"bf16": "bf16", "fp16": "fp16", "fp32": "no"}


def resolve_precision(precision: str, device_type: str) -> str:
    """auto -> bf16 on a bf16-capable GPU, fp32 elsewhere."""
    if precision != "auto":
        return precision
    return "bf16" if device_type == "cuda" and torch.cuda.is_bf16_supported() else "fp32"


def make_accelerator(device: str | None, precision: str, grad_accum: int = 1):
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState
    from accelerate.utils import DistributedDataParallelKwargs

    from code_unlearn_bench.unlearn import engines

    # accelerate keeps its settings in a process-wide singleton; a second run in the same
    # process (tests, the reproduce pipeline, the relearn attack) may use another precision.
    # The process group (PartialState) is kept.
    AcceleratorState._reset_state(reset_partial_state=False)

    cpu = device == "cpu" or (device is None and not torch.cuda.is_available())
    if device and device.startswith("cuda:") and "LOCAL_RANK" not in os.environ:
        torch.cuda.set_device(int(device.split(":", 1)[1]))
    resolved = resolve_precision(precision, "cpu" if cpu else "cuda")
    # gradient_as_bucket_view: DDP's buckets are the gradients, not a second copy of them
    ddp = DistributedDataParallelKwargs(gradient_as_bucket_view=True)
    # DeepSpeed accumulates inside its engine and must be told how many micro-batches a step has;
    # elsewhere the loop accumulates itself (accelerate would divide every loss by the count)
    deepspeed = engines.requested_engine() == "deepspeed"
    accelerate_cpu, handlers = engines.accelerator_options(cpu)
    try:
        acc = Accelerator(cpu=accelerate_cpu, mixed_precision=_MIXED[resolved], kwargs_handlers=[ddp, *handlers],
                          gradient_accumulation_steps=grad_accum if deepspeed else 1)
    except (ValueError, RuntimeError) as exc:  # e.g. fp16 on CPU, bf16 on an old GPU
        raise CubError(f"cannot set up accelerate here (--precision {resolved}, "
                       f"{os.environ.get('ACCELERATE_DISTRIBUTED_TYPE', 'launcher settings')}): "
                       f"{str(exc).splitlines()[0]}") from None
    engines.check_engine(acc)
    return acc, resolved


def strategy_name(acc) -> str:
    """The planner's name for what accelerate is running."""
    from accelerate.utils import DistributedType

    kind = acc.distributed_type
    if kind == DistributedType.FSDP:
        plugin = acc.state.fsdp_plugin
        offload = bool(getattr(getattr(plugin, "cpu_offload", None), "offload_params", False))
        return "fsdp-offload" if offload else "fsdp"
    if kind == DistributedType.DEEPSPEED:
        cfg = acc.state.deepspeed_plugin.deepspeed_config.get("zero_optimization", {})
        stage = int(cfg.get("stage", 2))
        offload = cfg.get("offload_optimizer", {}).get("device", "none") not in ("none", None)
        return f"zero{stage}" + ("-offload" if offload and stage == 3 else "")
    return "single" if acc.num_processes == 1 else "ddp"


def strategy_from_config_file(path: str) -> str:
    """The planner's name for what an accelerate config file will run (for `--plan`)."""
    import yaml

    try:
        cfg = yaml.safe_load(open(path)) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise CubError(f"cannot read accelerate config '{path}': {exc}") from None
    kind = str(cfg.get("distributed_type", "NO")).upper()
    if kind == "FSDP":
        return "fsdp-offload" if (cfg.get("fsdp_config") or {}).get("fsdp_offload_params") else "fsdp"
    if kind == "DEEPSPEED":
        ds = cfg.get("deepspeed_config") or {}
        stage = int(ds.get("zero_stage", 2))
        offload = ds.get("offload_optimizer_device", "none") not in ("none", None)
        return f"zero{stage}" + ("-offload" if offload and stage == 3 else "")
    return "ddp" if kind in ("MULTI_GPU", "MULTI_CPU") else "single"


def uses_engine_accumulation(acc) -> bool:
    """DeepSpeed accumulates inside its engine: every step must have the same micro-batch count."""
    from accelerate.utils import DistributedType

    return acc.distributed_type == DistributedType.DEEPSPEED


def step_plan(micro: list[list[int]], start: int, accum: int, rank: int, world: int,
              pad_to: int | None = None) -> tuple[list[list[int] | None], int]:
    """This rank's micro-batches of the step that starts at micro-batch ``start`` (None = a
    zero-weight filler) and the number of examples in the whole step."""
    group = micro[start:start + accum * world]
    mine: list[list[int] | None] = list(group[rank::world])
    per_rank = pad_to or -(-len(group) // world)
    mine += [None] * (per_rank - len(mine))
    return mine, sum(len(mb) for mb in group)


def sync_context(acc, model, last: bool):
    """DDP: skip the gradient all-reduce on all but the last micro-batch of a step. FSDP keeps
    reduce-scattering every micro-batch (no_sync would hold unsharded gradients)."""
    from accelerate.utils import DistributedType

    if last or acc.distributed_type != DistributedType.MULTI_GPU and acc.distributed_type != DistributedType.MULTI_CPU:
        return nullcontext()
    return acc.no_sync(model)


def shard_indices(n: int, rank: int, world: int) -> list[int]:
    return list(range(rank, n, world))


def gather_states(acc, local: dict[int, Any], n: int) -> list[Any]:
    """Every rank's {example index: frozen state} -> the full list, on every rank."""
    if acc.num_processes == 1:
        return [local[i] for i in range(n)]
    from accelerate.utils import gather_object

    merged: dict[int, Any] = {}
    for part in gather_object([local]):
        merged.update(part)
    missing = [i for i in range(n) if i not in merged]
    if missing:
        raise CubError(f"frozen state missing for {len(missing)} examples after gathering the ranks' shards")
    return [merged[i] for i in range(n)]


def is_sharded(acc) -> bool:
    from accelerate.utils import DistributedType

    return acc.distributed_type in (DistributedType.FSDP, DistributedType.DEEPSPEED)


def full_state_dict(acc, model) -> dict[str, torch.Tensor] | None:
    """The whole model's weights on the main process (gathered from the shards under FSDP /
    ZeRO-3); None on other ranks of a sharded run."""
    if not is_sharded(acc):
        return None  # the unwrapped model itself is saved
    state = acc.get_state_dict(model)
    if not acc.is_main_process:
        return None
    # a tied weight is one parameter under two names (ZeRO-2 returns both): keep the one that
    # save_pretrained keeps, so the checkpoint has the same keys whatever the engine
    unwrapped = acc.unwrap_model(model)
    aliases = {n for n, _ in unwrapped.named_parameters(remove_duplicate=False)} - \
        {n for n, _ in unwrapped.named_parameters()}
    return {k: v for k, v in state.items() if k not in aliases}
