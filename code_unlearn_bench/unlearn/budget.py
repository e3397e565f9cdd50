"""Memory and disk verdicts of a run before it starts: `cub unlearn --plan`, and the same check
at the top of every training run (printed, and refused when the run cannot fit)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from code_unlearn_bench.config import parse_save_epochs
from code_unlearn_bench.errors import CubError
from code_unlearn_bench.unlearn import checkpoint as ckpt
from code_unlearn_bench.unlearn.planner import GiB, Plan, PlanRequest, human_bytes, plan, visible_gpu_memory
from code_unlearn_bench.unlearn.shapes import load_shape


def make_request(cfg, method: str, precision: str, strategy: str, gpus: int, device: str,
                 budget: int | None) -> PlanRequest:
    return PlanRequest(method=method, lora=cfg.lora, lora_r=cfg.lora_r, precision=precision, strategy=strategy,
                       gpus=gpus, budget=budget, batch_size=cfg.batch_size, max_length=cfg.max_length,
                       gradient_checkpointing=cfg.gradient_checkpointing, grad_accum=cfg.grad_accum,
                       optimizer=cfg.optimizer, device=device)


def disk_plan(cfg, shape, precision: str, sharded: bool) -> dict[str, int]:
    save_bytes = 4 if cfg.lora or precision == "fp32" else 2
    n_keep = len(parse_save_epochs(cfg.save_epochs, cfg.epochs))
    trained = shape.lora_params(cfg.lora_r) if cfg.lora else shape.n_params
    return ckpt.disk_need(trained, shape.n_params, save_bytes, n_keep, cfg.lora, sharded)


def disk_line(disk: dict[str, int], save_epochs: str) -> str:
    return (f"up to {human_bytes(disk['total'])} ({human_bytes(disk['checkpoints'])} checkpoints with "
            f"--save-epochs {save_epochs}, {human_bytes(disk['resume'])} resume state)")


def check_budget(cfg, method: str, acc, precision: str, out: Path, log: Callable[[str], None],
                 resolved) -> dict[str, Any]:
    """Plan the run that `acc` is about to do, print it, refuse it when it cannot fit.
    ``resolved``: the run's model, resolved once by its handle."""
    from code_unlearn_bench.unlearn.distributed import is_sharded, strategy_name

    if resolved.format == "gguf":  # no config.json to plan from; loads dequantised
        log("memory plan: skipped for a .gguf model (plan its HF directory with --plan)")
        return {}
    shape = load_shape(resolved)
    device = acc.device.type
    budget = int(cfg.gpu_memory * GiB) if cfg.gpu_memory else None
    if budget is None and device == "cuda":
        budget = visible_gpu_memory()[1]
    memory = plan(shape, make_request(cfg, method, precision, strategy_name(acc), acc.num_processes,
                                      "cuda" if device == "cuda" else "cpu", budget))
    disk = disk_plan(cfg, shape, precision, is_sharded(acc))
    log(memory.format())
    free = ckpt.free_bytes(out)
    log(f"disk: {disk_line(disk, cfg.save_epochs)} in {out}; {human_bytes(free)} free")
    if memory.fits is False:
        raise CubError(memory.refusal())
    if free < disk["total"]:
        raise CubError(f"{out} has {human_bytes(free)} free but the run needs up to {human_bytes(disk['total'])}; "
                       f"keep fewer checkpoints (--save-epochs last) or use another --output-dir")
    return {"peak_bytes": memory.peak, "lines": dict(memory.lines), "disk_bytes": disk["total"]}


def plan_only(cfg, method: str, gpus: int | None, strategy: str | None) -> tuple[Plan, dict[str, int]]:
    """`--plan`: no weights, no accelerate; GPUs as given or as visible here."""
    from code_unlearn_bench.unlearn.distributed import resolve_precision

    shape = load_shape(cfg.model)
    visible, memory = visible_gpu_memory()
    n = gpus or max(visible, 1)
    device = "cuda" if (gpus or visible) and cfg.device != "cpu" else "cpu"
    budget = int(cfg.gpu_memory * GiB) if cfg.gpu_memory else (memory or None)
    strategy = strategy or ("ddp" if n > 1 else "single")
    if strategy == "single" and n > 1:
        raise CubError(f"--gpus {n} needs a distributed strategy (--strategy ddp, fsdp, zero2, zero3 ...)")
    # auto on a GPU: bf16 (what a current GPU gives; an old one says so at training time)
    precision = "bf16" if device == "cuda" and cfg.precision == "auto" else resolve_precision(cfg.precision, device)
    result = plan(shape, make_request(cfg, method, precision, strategy, n, device, budget))
    return result, disk_plan(cfg, shape, precision, strategy.startswith(("fsdp", "zero")))
