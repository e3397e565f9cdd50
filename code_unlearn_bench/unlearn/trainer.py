"""The one training loop behind `cub learn` and `cub unlearn` (every method plugs its loss in).

Plain torch under Hugging Face accelerate rather than the HF Trainer: the methods need a frozen
precompute pass before training and per-example state handed to the loss, and resume must
reuse that frozen state. accelerate runs it in one process or under `accelerate launch` with
DDP, FSDP or DeepSpeed (see distributed.py, docs/scaling.md). AdamW at a constant rate or with
a linear decay (schedule.py), batch x gradient accumulation (x processes), no weight decay (the
reference setting).
"""

from __future__ import annotations

import json
import math
import random
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Callable

import torch

from code_unlearn_bench.config import TrainConfig, parse_save_epochs
from code_unlearn_bench.errors import CubError, ModelError
from code_unlearn_bench.models.handle import ModelHandle
from code_unlearn_bench.unlearn import checkpoint as ckpt
from code_unlearn_bench.unlearn import distributed as dist
from code_unlearn_bench.unlearn import engines
from code_unlearn_bench.unlearn import model_setup
from code_unlearn_bench.unlearn.data import collate, load_forget_set, tokenise
from code_unlearn_bench.unlearn.method import Method
from code_unlearn_bench.unlearn.schedule import lr_at, set_lr

def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def peak_memory(device: torch.device) -> tuple[int, str]:
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device)), "cuda_max_allocated"
    import resource  # Unix only; imported here so the module imports everywhere

    # ru_maxrss is KiB on Linux: the process' peak resident set, loading included
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024, "rss"


def _first_difference(a: dict, b: dict) -> str:
    for key in sorted(set(a) | set(b)):
        if a.get(key) != b.get(key):
            return f"{key}: {b.get(key)!r} there, {a.get(key)!r} now"
    return ""


def _half_dtype(precision: str):
    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)


def train(cfg: TrainConfig, method: Method, log: Callable[[str], None] = _stderr,
          on_epoch: Callable[[dict], None] | None = None, handle: ModelHandle | None = None) -> dict[str, Any]:
    """Run (or resume) training; returns the final run.json content. ``on_epoch`` gets each
    epoch's run.json entry once it is saved (experiment tracking; main process only). ``handle``:
    the model, resolved and fingerprinted once (opened from ``cfg.model`` when not given)."""
    from code_unlearn_bench.models.gguf import quiet_transformers
    from code_unlearn_bench.models.loading import load_model, load_tokenizer
    from code_unlearn_bench.unlearn.budget import check_budget

    cfg.validate()
    quiet_transformers()  # per-file load/save progress bars drown the per-epoch lines
    handle = handle or ModelHandle.open(cfg.model)  # a missing model fails here, before any data is loaded
    cfg.hyperparameters = method.hyperparameters()
    out = Path(cfg.output_dir)
    run_json = out / "run.json"
    acc, precision = dist.make_accelerator(cfg.device, cfg.precision, cfg.grad_accum)
    main = acc.is_main_process
    if not main:
        log = lambda _msg: None  # noqa: E731 -- one voice: the main process reports
    previous = _previous_run(out)

    forget = load_forget_set(cfg.task, cfg.data, cfg.task_options, cfg.limit)  # data errors first
    refusals, refusals_hash = None, None
    if "refusal" in method.sequences:
        from code_unlearn_bench.unlearn.refusals import load_refusals

        refusals, refusals_hash = load_refusals(cfg.refusals)
    retain = None
    if "retain" in method.sequences:
        from code_unlearn_bench.unlearn.retain import load_retain_set

        retain = load_retain_set(forget, cfg.retain_data)
        log(retain.summary())

    # memory and disk verdicts before the weights are loaded (a 7B load alone takes minutes)
    memory_plan = check_budget(cfg, method.name, acc, precision, out, log, handle.resolved)
    half = _half_dtype(precision)
    # "bf16 weights where the method allows": a LoRA base is frozen, so it is kept in half
    # precision; a full fine-tune keeps fp32 master weights (AdamW updates at lr 5e-6 vanish in bf16)
    load_dtype = engines.lora_base_dtype({torch.bfloat16: "bfloat16", torch.float16: "float16"}.get(half), cfg.lora)
    model = load_model(handle.resolved, dtype=load_dtype, device="cpu")
    tokenizer, info = load_tokenizer(handle.resolved), handle.info
    identity = {**cfg.identity(), "data_hash": forget.hash, "refusals_hash": refusals_hash,
                "base_fingerprint": info.fingerprint, **({"retain_hash": retain.hash} if retain else {})}
    done = _epochs_done(previous, identity, out, cfg.epochs)
    if previous is not None:
        if done >= cfg.epochs:
            log(f"{out}: all {done} epochs already done")
            return previous
        log(f"resuming {out} after epoch {done}")
        previous["training"]["epochs"] = cfg.epochs
    acc.wait_for_everyone()  # every rank has read run.json before the main one rewrites it

    from peft import PeftModel

    if isinstance(model, PeftModel) and not cfg.lora:
        model = model.merge_and_unload()  # full fine-tune of a LoRA-learned model
    examples = tokenise(forget, tokenizer, cfg.max_length, method.sequences, refusals, cfg.seed,
                        retain=retain.pairs if retain else None)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    torch.manual_seed(cfg.seed)

    run = previous if previous is not None else {
        "identity": identity, "method": method.name, "task": cfg.task, "base_model": model_setup.base_name(info),
        "hyperparameters": method.hyperparameters(), "training": _training_settings(cfg),
        "data": {"task": cfg.task, "source": cfg.data, "options": forget.options, "limit": cfg.limit,
                 "hash": forget.hash, "n_examples": len(examples),
                 "n_answer_tokens": sum(len(e.seqs["forget"][0]) - max(e.seqs["forget"][1], 1) for e in examples)},
        "refusals": {"path": cfg.refusals or "builtin", "hash": refusals_hash} if refusals else None,
        "retain": retain.record() if retain else None,
        "precision": _precision_label(precision, cfg.lora), "device": str(acc.device),
        "versions": _versions(), "status": "running", "epochs": [], "time_s": 0.0,
    }
    run["distributed"] = {"strategy": dist.strategy_name(acc), "processes": acc.num_processes,
                          "global_batch": cfg.batch_size * cfg.grad_accum * acc.num_processes}
    run["memory_plan"] = memory_plan
    if main:
        out.mkdir(parents=True, exist_ok=True)
        ckpt.write_json_atomic(run_json, run)
    acc.wait_for_everyone()

    try:
        model = model_setup.prepare_model(model, cfg, info)
        method.select_trainable(model)  # before the optimizer: RMU trains a few layers only
        if done:
            ckpt.load_resume_weights(model, out, done, cfg.lora)
        optimizer = model_setup.make_optimizer(model, cfg)
        engines.configure_deepspeed(acc, cfg.batch_size, cfg.grad_accum, cfg.max_grad_norm)
        model, optimizer = acc.prepare(model, optimizer)
        if done:
            ckpt.load_resume_optimizer(acc, optimizer, out, done)
        states = model_setup.frozen_states(run, out, done, method, model, examples, pad_id, acc, log)
        probe = _memory_probe(cfg, acc, model, optimizer)
        for epoch in range(done + 1, cfg.epochs + 1):
            with probe or nullcontext():
                _train_epoch(run, epoch, cfg, method, model, tokenizer, optimizer, examples, states, pad_id,
                             acc, precision, forget.hash, out, log)
            if probe is not None:
                run["peak_live_tensor_bytes"] = max(run.get("peak_live_tensor_bytes", 0), probe.peak)
                if main:
                    ckpt.write_json_atomic(run_json, run)
            if on_epoch is not None and main:
                on_epoch(run["epochs"][-1])
    except (torch.OutOfMemoryError, MemoryError):
        raise ModelError("out of memory while training; try --lora, --gradient-checkpointing, "
                         "a smaller --max-length or --batch-size (see `cub unlearn --plan`)") from None
    run["status"] = "complete"
    if main:
        ckpt.write_json_atomic(run_json, run)
        # the optimizer state is twice the trainable weights (56 GB for a 7B full fine-tune) and
        # only serves a resume: drop it once the run is complete
        ckpt.drop_resume_state(out)
        if cfg.merge and cfg.lora:
            from code_unlearn_bench.unlearn.merge import merge_checkpoint

            dtype = {"bf16": "bfloat16", "fp16": "float16"}.get(precision, "float32")
            run["merged"] = str(merge_checkpoint(ckpt.epoch_dir(out, cfg.epochs), out / "merged", dtype,
                                                 cfg.max_shard_size))
            ckpt.write_json_atomic(run_json, run)
            log(f"merged LoRA weights -> {run['merged']}")
    acc.wait_for_everyone()
    return run


def _precision_label(precision: str, lora: bool) -> str:
    if precision == "fp32":
        return "fp32"
    return f"{precision}-weights+fp32-adapters" if lora else f"{precision}-autocast+fp32-master"


def _memory_probe(cfg, acc, model, optimizer):
    if not cfg.measure_memory:
        return None
    from code_unlearn_bench.unlearn.memtrack import LiveTensorPeak, optimizer_tensors

    probe = LiveTensorPeak(acc.device.type)
    probe.track(list(model.parameters()) + list(model.buffers()) + optimizer_tensors(optimizer))
    return probe


def _previous_run(out: Path) -> dict | None:
    run_json = out / "run.json"
    if run_json.is_file():
        try:
            return json.loads(run_json.read_text())
        except json.JSONDecodeError:
            raise CubError(f"{run_json} is malformed; delete it or use another --output-dir") from None
    if out.exists() and any(out.iterdir()):
        raise CubError(f"output dir '{out}' is not empty and holds no run.json; use another --output-dir")
    return None


def _epochs_done(previous: dict | None, identity: dict, out: Path, epochs: int) -> int:
    """Epochs already saved by the same run in ``out`` (0 for a new run); another run -> error."""
    if previous is None:
        return 0
    if previous.get("identity") != identity:
        why = _first_difference(identity, previous.get("identity") or {})
        raise CubError(f"'{out}' holds a different run ({why}); use another --output-dir")
    done = len(previous.get("epochs", []))
    if previous.get("status") == "complete" and epochs > done:
        raise CubError(f"'{out}' holds a complete {done}-epoch run (its optimizer state is gone); "
                       f"continue from its last checkpoint in another --output-dir")
    return done




def _train_epoch(run, epoch, cfg, method, model, tokenizer, optimizer, examples, states, pad_id,
                 acc, precision, data_hash, out, log):
    # the order depends only on (seed, epoch), so a resumed epoch sees what the lost one saw
    order = list(range(len(examples)))
    random.Random(cfg.seed * 100_003 + epoch).shuffle(order)
    torch.manual_seed(cfg.seed + epoch)
    micro = [order[i:i + cfg.batch_size] for i in range(0, len(order), cfg.batch_size)]
    world, rank = acc.num_processes, acc.process_index
    engine = dist.uses_engine_accumulation(acc)
    losses = []
    started = time.perf_counter()
    model.train()
    per_epoch = math.ceil(len(micro) / (cfg.grad_accum * world))
    step0 = sum(e["steps"] for e in run["epochs"])  # optimizer steps of the epochs before
    for start in range(0, len(micro), cfg.grad_accum * world):
        mine, n_step = dist.step_plan(micro, start, cfg.grad_accum, rank, world,
                                      pad_to=cfg.grad_accum if engine else None)
        filler = next((mb for mb in mine if mb), micro[start])
        step_loss = 0.0
        for k, mb in enumerate(mine):
            batch = mb or filler
            # share of the step's examples x world: the mean over ranks is the global mean (a
            # filler weighs 0); DeepSpeed divides by its accumulation count itself
            weight = (len(mb) * world / n_step if mb else 0.0) * (cfg.grad_accum if engine else 1)
            seqs = {name: v.to(acc.device) for name, v in collate([examples[i] for i in batch], pad_id).items()}
            state = _move(method.collate_state([states[i] for i in batch]), acc.device) if states is not None else {}
            with dist.sync_context(acc, model, k == len(mine) - 1), (acc.accumulate(model) if engine else nullcontext()):
                with acc.autocast():
                    loss = method.loss(model, seqs, state)
                acc.backward(loss * weight)
            if mb:
                step_loss += loss.item() * len(mb) / n_step
        if cfg.max_grad_norm and (acc.sync_gradients or not engine):
            acc.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
        set_lr(optimizer, lr_at(cfg.lr_schedule, cfg.lr, step0 + len(losses), per_epoch * cfg.epochs))
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if world > 1:
            step_loss = acc.reduce(torch.tensor(step_loss, dtype=torch.float64, device=acc.device), "sum").item()
        losses.append(ckpt.finite_or_none(step_loss))
    elapsed = time.perf_counter() - started
    path = _save_epoch(run, epoch, cfg, method, model, tokenizer, optimizer, acc, precision, data_hash, out, len(losses))
    run["epochs"].append({"epoch": epoch, "steps": len(losses), "losses": losses, "time_s": round(elapsed, 3),
                          "checkpoint": path.name})
    run["time_s"] = round(run["time_s"] + elapsed, 3)
    peak, kind = peak_memory(acc.device)
    run["peak_memory_bytes"] = max(run.get("peak_memory_bytes", 0), peak)
    run["peak_memory_kind"] = kind
    if acc.is_main_process:
        ckpt.write_json_atomic(out / "run.json", run)
        # only now is epoch `epoch` the resume point; older resume state is no longer needed
        ckpt.drop_resume_state(out, before=epoch)
        ckpt.prune_epochs(out, parse_save_epochs(cfg.save_epochs, cfg.epochs), epoch)
    acc.wait_for_everyone()
    shown = [x for x in losses if x is not None]
    mean = sum(shown) / len(shown) if shown else math.nan
    log(f"epoch {epoch}/{cfg.epochs}: {len(losses)} steps, mean loss {mean:.4f}, {elapsed:.1f}s -> {path}")


def _move(state: dict[str, torch.Tensor], device) -> dict[str, torch.Tensor]:
    return {k: v.to(device) for k, v in state.items()}


def _save_epoch(run, epoch, cfg, method, model, tokenizer, optimizer, acc, precision, data_hash, out, n_steps) -> Path:
    step = sum(e["steps"] for e in run["epochs"]) + n_steps
    meta = {"method": method.name, "epoch": epoch, "step": step, "task": cfg.task, "base_model": run["base_model"],
            "hyperparameters": {**method.hyperparameters(), **_training_settings(cfg)}, "data_hash": data_hash}
    half = _half_dtype(precision)
    gathered = dist.full_state_dict(acc, model)  # every rank takes part in gathering FSDP shards
    path = ckpt.epoch_dir(out, epoch)
    if acc.is_main_process:
        unwrapped = acc.unwrap_model(model)
        # checkpoints in the training dtype (bf16 on GPU); adapters stay fp32 (they are small)
        save_dtype = half if half is not None and not cfg.lora else None
        path = ckpt.save_checkpoint(unwrapped, tokenizer, out, epoch, meta, state_dict=gathered,
                                    dtype=save_dtype, max_shard_size=cfg.max_shard_size)
        if save_dtype is not None and not dist.is_sharded(acc):  # exact resume needs the fp32 master weights
            ckpt.save_master(unwrapped, out / "resume" / f"weights-{epoch:02d}", cfg.max_shard_size)
        if not dist.is_sharded(acc):
            ckpt.save_torch_atomic({"epoch": epoch, "optimizer": optimizer.state_dict()},
                                   out / "resume" / f"optimizer-{epoch:02d}.pt")
    if dist.is_sharded(acc):
        acc.save_state(str(out / "resume" / f"state-{epoch:02d}"))
    return path


def _training_settings(cfg: TrainConfig) -> dict[str, Any]:
    keep = ("epochs", "lr", "grad_accum", "batch_size", "max_length", "seed", "lora", "precision",
            "max_grad_norm", "gradient_checkpointing", "optimizer")
    out = {k: getattr(cfg, k) for k in keep}
    if cfg.lr_schedule != "constant":
        out["lr_schedule"] = cfg.lr_schedule
    if cfg.lora:
        out.update(lora_r=cfg.lora_r, lora_alpha=cfg.lora_alpha)
    return out


def _versions() -> dict[str, str]:
    import transformers

    from code_unlearn_bench import __version__

    return {"code_unlearn_bench": __version__, "torch": torch.__version__, "transformers": transformers.__version__}
