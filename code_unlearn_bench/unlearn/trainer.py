"""The one training loop behind `cub learn` and `cub unlearn` (every method plugs its loss in).

Plain torch rather than the HF Trainer: the methods need a frozen precompute pass before
training and per-example state handed to the loss, and resume must reuse that frozen state.
AdamW without a scheduler, batch x gradient accumulation, no weight decay (the reference setting).
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from code_unlearn_bench.errors import CubError, ModelError
from code_unlearn_bench.unlearn import checkpoint as ckpt
from code_unlearn_bench.unlearn.data import collate, load_forget_set, tokenise
from code_unlearn_bench.unlearn.method import Method

PRECISIONS = ("auto", "fp32", "bf16")
# Left out of a run's identity: how fast it goes (device), how long (a run can be extended with
# more --epochs), and the model's spelling (a relative path changes with the working dir; the
# model's fingerprint is part of the identity instead).
_NOT_IDENTITY = {"output_dir", "epochs", "device", "model"}


@dataclass
class TrainConfig:
    model: str
    task: str
    output_dir: str
    method: str = "learn"
    hyperparameters: dict[str, Any] = field(default_factory=dict)  # method's (after defaults)
    epochs: int = 10
    lr: float = 5e-6
    grad_accum: int = 32
    batch_size: int = 1
    max_length: int = 1024
    seed: int = 42
    lora: bool = False
    lora_r: int = 8
    lora_alpha: int = 16
    gradient_checkpointing: bool = False
    precision: str = "auto"  # auto = bf16 autocast on a bf16-capable GPU, else fp32
    max_grad_norm: float = 1.0  # 0 disables clipping
    device: str | None = None
    data: str | None = None
    task_options: dict[str, Any] = field(default_factory=dict)
    limit: int | None = None
    refusals: str | None = None
    retain_data: str | None = None  # the retain set's source instead of the task's declared one

    def validate(self) -> None:
        for name in ("epochs", "grad_accum", "batch_size", "max_length", "lora_r", "lora_alpha"):
            if getattr(self, name) < 1:
                raise CubError(f"--{name.replace('_', '-')} must be >= 1 (got {getattr(self, name)})")
        if not self.lr > 0:
            raise CubError(f"--lr must be > 0 (got {self.lr})")
        if self.max_length < 2:
            raise CubError("--max-length must be >= 2")
        if self.precision not in PRECISIONS:
            raise CubError(f"--precision must be one of {', '.join(PRECISIONS)}")
        if self.limit is not None and self.limit < 1:
            raise CubError(f"--limit must be >= 1 (got {self.limit})")

    def identity(self) -> dict[str, Any]:
        # retain_data only when given, so runs from before retain sets existed keep their identity
        return {k: v for k, v in dataclasses.asdict(self).items()
                if k not in _NOT_IDENTITY and not (k == "retain_data" and v is None)}


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def peak_memory(device: torch.device) -> tuple[int, str]:
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device)), "cuda_max_allocated"
    import resource  # Unix only; imported here so the module imports everywhere

    # ru_maxrss is KiB on Linux: the process' peak resident set, loading included
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024, "rss"


def _autocast(device: torch.device, bf16: bool):
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16) if bf16 else nullcontext()


def _use_bf16(precision: str, device: torch.device) -> bool:
    if precision == "auto":
        return device.type == "cuda" and torch.cuda.is_bf16_supported()
    return precision == "bf16"


def _base_name(info) -> str:
    return info.spec if info.format == "embedded" else str(info.path)


def _first_difference(a: dict, b: dict) -> str:
    for key in sorted(set(a) | set(b)):
        if a.get(key) != b.get(key):
            return f"{key}: {b.get(key)!r} there, {a.get(key)!r} now"
    return ""


def precompute(method: Method, model, examples, pad_id: int, device, bf16: bool, log) -> list | None:
    """Frozen per-example state from the model before training, one example at a time (no
    padding, so it is exactly what that example's forward pass gives)."""
    if type(method).precompute is Method.precompute:
        return None
    model.eval()
    states = []
    started = time.perf_counter()
    with torch.no_grad(), _autocast(device, bf16):
        for i, ex in enumerate(examples):
            seqs = {k: v.to(device) for k, v in collate([ex], pad_id).items()}
            states.append(method.precompute(model, seqs))
    log(f"precomputed frozen {method.name} state for {len(examples)} examples "
        f"in {time.perf_counter() - started:.1f}s")
    return states


def _wrap_lora(model, cfg: TrainConfig, info):
    from peft import LoraConfig, PeftModel, get_peft_model

    if isinstance(model, PeftModel):
        # a LoRA-learned model: keep training its adapter, so the checkpoints stay adapters over
        # the same base model
        for name, p in model.named_parameters():
            p.requires_grad = "lora_" in name
        return model
    lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=0.0,
                      target_modules="all-linear", task_type="CAUSAL_LM")
    wrapped = get_peft_model(model, lora)
    # the saved adapter must name a loadable base: the resolved dir (or the embedded alias)
    wrapped.peft_config["default"].base_model_name_or_path = _base_name(info)
    return wrapped


def train(cfg: TrainConfig, method: Method, log: Callable[[str], None] = _stderr,
          on_epoch: Callable[[dict], None] | None = None) -> dict[str, Any]:
    """Run (or resume) training; returns the final run.json content. ``on_epoch`` gets each
    epoch's run.json entry once it is saved (experiment tracking)."""
    from code_unlearn_bench.models.loading import load_model_and_tokenizer, resolve_model

    from transformers.utils import logging as hf_logging

    cfg.validate()
    # per-file load/save progress bars drown the per-epoch lines (and the one-line errors)
    hf_logging.disable_progress_bar()
    resolve_model(cfg.model)  # a missing model fails here, before any data is loaded
    cfg.hyperparameters = method.hyperparameters()
    out = Path(cfg.output_dir)
    run_path = out / "run.json"
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

    device = torch.device(cfg.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model, tokenizer, info = load_model_and_tokenizer(cfg.model, dtype="float32", device=str(device))
    identity = {**cfg.identity(), "data_hash": forget.hash, "refusals_hash": refusals_hash,
                "base_fingerprint": info.fingerprint, **({"retain_hash": retain.hash} if retain else {})}
    done = _epochs_done(previous, identity, out, cfg.epochs)
    if previous is not None:
        if done >= cfg.epochs:
            log(f"{out}: all {done} epochs already done")
            return previous
        log(f"resuming {out} after epoch {done}")
        previous["training"]["epochs"] = cfg.epochs

    from peft import PeftModel

    if isinstance(model, PeftModel) and not cfg.lora:
        model = model.merge_and_unload()  # full fine-tune of a LoRA-learned model
    examples = tokenise(forget, tokenizer, cfg.max_length, method.sequences, refusals, cfg.seed,
                        retain=retain.pairs if retain else None)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    bf16 = _use_bf16(cfg.precision, device)
    torch.manual_seed(cfg.seed)

    run = previous if previous is not None else {
        "identity": identity, "method": method.name, "task": cfg.task, "base_model": _base_name(info),
        "hyperparameters": method.hyperparameters(), "training": _training_settings(cfg),
        "data": {"task": cfg.task, "source": cfg.data, "options": forget.options, "limit": cfg.limit,
                 "hash": forget.hash, "n_examples": len(examples),
                 "n_answer_tokens": sum(len(e.seqs["forget"][0]) - max(e.seqs["forget"][1], 1) for e in examples)},
        "refusals": {"path": cfg.refusals or "builtin", "hash": refusals_hash} if refusals else None,
        "retain": retain.record() if retain else None,
        "precision": "bf16-autocast" if bf16 else "fp32", "device": str(device),
        "versions": _versions(), "status": "running", "epochs": [], "time_s": 0.0,
    }
    out.mkdir(parents=True, exist_ok=True)
    ckpt.write_json_atomic(run_path, run)

    try:
        states = _frozen_states(run, out, done, method, model, examples, pad_id, device, bf16, log)
        model = _prepare_model(model, cfg, info)
        method.select_trainable(model)
        if done:
            ckpt.load_checkpoint_weights(model, ckpt.epoch_dir(out, done), cfg.lora)
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.lr, weight_decay=0.0)
        if done:
            saved = out / "resume" / f"optimizer-{done:02d}.pt"
            if not saved.is_file():
                raise CubError(f"'{out}' lacks {saved.name}; cannot resume, use another --output-dir")
            optimizer.load_state_dict(ckpt.load_torch(saved)["optimizer"])
        for epoch in range(done + 1, cfg.epochs + 1):
            _train_epoch(run, epoch, cfg, method, model, tokenizer, optimizer, examples, states, pad_id,
                         device, bf16, info, forget.hash, out, log)
            if on_epoch is not None:
                on_epoch(run["epochs"][-1])
    except (torch.OutOfMemoryError, MemoryError):
        raise ModelError("out of memory while training; try --lora, --gradient-checkpointing, "
                         "a smaller --max-length or --batch-size") from None
    run["status"] = "complete"
    ckpt.write_json_atomic(run_path, run)
    # the optimizer state is twice the trainable weights (56 GB for a 7B full fine-tune) and only
    # serves a resume: drop it once the run is complete
    for f in (out / "resume").glob("optimizer-*.pt"):
        f.unlink()
    return run


def _previous_run(out: Path) -> dict | None:
    run_path = out / "run.json"
    if run_path.is_file():
        try:
            return json.loads(run_path.read_text())
        except json.JSONDecodeError:
            raise CubError(f"{run_path} is malformed; delete it or use another --output-dir") from None
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


def _frozen_states(run, out, done, method, model, examples, pad_id, device, bf16, log):
    """The method's frozen per-example state: computed once from the model before training and
    kept in resume/prepared.pt, so that a resumed run never recomputes it from a checkpoint."""
    prepared = out / "resume" / "prepared.pt"
    if prepared.is_file():
        return ckpt.load_torch(prepared)["states"]
    if done:
        raise CubError(f"'{out}' lacks resume/prepared.pt; cannot resume, use another --output-dir")
    t0 = time.perf_counter()
    states = precompute(method, model, examples, pad_id, device, bf16, log)
    run["precompute_time_s"] = round(time.perf_counter() - t0, 3)
    if states is not None:
        run["precomputed_bytes"] = sum(t.numel() * t.element_size() for s in states for t in s.values())
    ckpt.save_torch_atomic({"states": states}, prepared)
    ckpt.write_json_atomic(out / "run.json", run)
    return states


def _prepare_model(model, cfg: TrainConfig, info):
    if cfg.gradient_checkpointing:
        model.config.use_cache = False
        # transformers 5 renamed it (the old name warns); 4.x only has the old name
        if hasattr(model, "activation_checkpointing_enable"):
            model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if cfg.lora:
        model = _wrap_lora(model, cfg, info)
    else:
        for p in model.parameters():  # a merged adapter model comes back with its base frozen
            p.requires_grad = True
    model.train()
    return model


def _train_epoch(run, epoch, cfg, method, model, tokenizer, optimizer, examples, states, pad_id,
                 device, bf16, info, data_hash, out, log):
    # the order depends only on (seed, epoch), so a resumed epoch sees what the lost one saw
    order = list(range(len(examples)))
    random.Random(cfg.seed * 100_003 + epoch).shuffle(order)
    torch.manual_seed(cfg.seed + epoch)
    micro = [order[i:i + cfg.batch_size] for i in range(0, len(order), cfg.batch_size)]
    params = [p for p in model.parameters() if p.requires_grad]
    losses = []
    started = time.perf_counter()
    model.train()
    for g in range(0, len(micro), cfg.grad_accum):
        group = micro[g:g + cfg.grad_accum]
        n_group = sum(len(mb) for mb in group)  # a short last group is averaged over its own size
        step_loss = 0.0
        for mb in group:
            seqs = {k: v.to(device) for k, v in collate([examples[i] for i in mb], pad_id).items()}
            state = method.collate_state([states[i] for i in mb]) if states is not None else {}
            with _autocast(device, bf16):
                loss = method.loss(model, seqs, state)
            (loss * (len(mb) / n_group)).backward()
            step_loss += loss.item() * len(mb) / n_group
        if cfg.max_grad_norm:
            torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(ckpt.finite_or_none(step_loss))
    elapsed = time.perf_counter() - started
    step = sum(e["steps"] for e in run["epochs"]) + len(losses)
    meta = {"method": method.name, "epoch": epoch, "step": step, "task": cfg.task,
            "base_model": run["base_model"],
            "hyperparameters": {**method.hyperparameters(), **_training_settings(cfg)},
            "data_hash": data_hash}
    path = ckpt.save_checkpoint(model, tokenizer, out, epoch, meta)
    ckpt.save_torch_atomic({"epoch": epoch, "optimizer": optimizer.state_dict()},
                           out / "resume" / f"optimizer-{epoch:02d}.pt")
    peak, kind = peak_memory(device)
    run["epochs"].append({"epoch": epoch, "steps": len(losses), "losses": losses, "time_s": round(elapsed, 3),
                          "checkpoint": path.name})
    run["time_s"] = round(run["time_s"] + elapsed, 3)
    run["peak_memory_bytes"] = max(run.get("peak_memory_bytes", 0), peak)
    run["peak_memory_kind"] = kind
    ckpt.write_json_atomic(out / "run.json", run)
    # only now is epoch `epoch` the resume point; the older optimizer state is no longer needed
    (out / "resume" / f"optimizer-{epoch - 1:02d}.pt").unlink(missing_ok=True)
    shown = [x for x in losses if x is not None]
    mean = sum(shown) / len(shown) if shown else math.nan
    log(f"epoch {epoch}/{cfg.epochs}: {len(losses)} steps, mean loss {mean:.4f}, {elapsed:.1f}s -> {path}")


def _training_settings(cfg: TrainConfig) -> dict[str, Any]:
    keep = ("epochs", "lr", "grad_accum", "batch_size", "max_length", "seed", "lora", "precision",
            "max_grad_norm", "gradient_checkpointing")
    out = {k: getattr(cfg, k) for k in keep}
    if cfg.lora:
        out.update(lora_r=cfg.lora_r, lora_alpha=cfg.lora_alpha)
    return out


def _versions() -> dict[str, str]:
    import transformers

    from code_unlearn_bench import __version__

    return {"code_unlearn_bench": __version__, "torch": torch.__version__, "transformers": transformers.__version__}
