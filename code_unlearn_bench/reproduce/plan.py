"""`cub reproduce --dry-run`: the steps a preset will run, the memory plan of its training runs,
an estimate of GPU-hours, and the disk it needs -- without loading a model.

GPU-hours come from arithmetic, not measurement: training costs 6 x params x tokens FLOPs for a
full fine-tune (4 x with LoRA, +2 x with gradient checkpointing, 2 x for the frozen precompute),
at ``mfu`` of ``tflops`` (default: 35% of an A100's 312 bf16 TFLOP/s); an evaluation pass costs
its generated tokens at ``gen_tokens_s`` (a vLLM-class 7B engine, ~1,500 tokens/s). Treat it as
the order of magnitude it is.
"""

from __future__ import annotations

from typing import Any

from code_unlearn_bench.errors import CubError

_PRECOMPUTE = {"prod", "npo", "dpo"}
_TWO_SEQUENCES = {"dpo", "flat"}
# samples a task evaluates when its data cannot be read here (the paper's sizes; deprecated:
# its VersiCode set, forget split only). Readable data is counted instead (_sizes).
_PAPER_SIZES = {"copyright": 100, "insecure": 1916, "deprecated": 3449, "humaneval": 164, "heldout": 164}


def _train_config(preset, settings: dict[str, Any], method: str, model: str):
    from code_unlearn_bench.reproduce.pipeline import _fields
    from code_unlearn_bench.config import TrainConfig

    return TrainConfig(model=model, task=preset.forget_task, output_dir="-", method=method, **_fields(settings))


def _sizes(preset) -> tuple[int, int, str, float]:
    """(forget samples trained on, forget-task samples evaluated, where the counts come from, mean
    characters of an answer)."""
    from code_unlearn_bench.tasks.spec import get_task
    from code_unlearn_bench.unlearn.data import evaluation_limit, load_forget_set

    p = preset
    try:
        pairs = load_forget_set(p.forget_task, p.forget_data, p.forget_options, p.forget_limit).pairs
        n_eval = len(get_task(p.forget_task).load_samples(
            p.forget_data, p.forget_options, evaluation_limit(p.forget_task, p.forget_data, p.forget_options, p.forget_limit)))
        chars = sum(len(x.prompt) + len(x.answer) for x in pairs) / len(pairs)
        return len(pairs), n_eval, f"counted in {p.forget_data or 'the default data'}", chars
    except CubError as e:  # data not on this machine (e.g. a GPU host's path): the paper's size
        n = p.forget_limit or _PAPER_SIZES.get(p.forget_task, 100)
        return n, n, f"the paper's size: the data is not readable here ({e})", 4.0 * 1024


def dry_run(preset, variants: list, gpus: int, gpu_memory: float | None, strategy: str | None,
            tflops: float = 312.0, mfu: float = 0.35, gen_tokens_s: float = 1500.0, keep_learned: bool = False) -> str:
    from code_unlearn_bench.reproduce.sources import provenance_lines
    from code_unlearn_bench.unlearn.budget import disk_plan, make_request
    from code_unlearn_bench.config import parse_save_epochs
    from code_unlearn_bench.unlearn.planner import GiB, human_bytes, plan
    from code_unlearn_bench.unlearn.shapes import load_shape

    if not preset.model or preset.model == "tiny":
        raise CubError("--dry-run needs a model directory (a config.json alone is enough): --model PATH")
    shape = load_shape(preset.model)
    strategy = strategy or ("fsdp" if gpus > 1 else "single")
    budget = int(gpu_memory * GiB) if gpu_memory else None
    lines = [f"dry run: preset {preset.name}, model {preset.model} ({shape.n_params / 1e9:.2f}B params), "
             f"{len(variants)} pipeline(s) (task x seed), {gpus} GPU(s), {strategy}"]
    lines += provenance_lines(preset)
    lines += [f"  learn {preset.learn}", f"  unlearn {preset.unlearn}, per method {preset.method_flags}",
              f"  evaluate {preset.eval_flags}, utility {preset.utility_tasks} {preset.utility_options}"]
    total_h, total_disk, peak_disk, cpu_s = 0.0, 0, 0, 0.0
    for task, seed, p in variants:
        n, n_eval, counted, chars = _sizes(p)
        lines.append(f"\n[{task}, seed {seed}] forget set: {n} samples trained on, {n_eval} evaluated ({counted}); "
                     f"methods {', '.join(p.methods)}")
        steps = ["base model", "learn"] + [f"unlearn/{m}" for m in p.methods] + ["evaluate/original", "evaluate/learned"]
        n_ckpt = sum(int(p.unlearn.get("epochs", 10)) for _ in p.methods)
        steps += [f"evaluate/{n_ckpt} unlearned checkpoints", "attack (prefix injection)", "rank", "leaderboard", "report"]
        lines.append("  steps: " + " -> ".join(steps))
        hours, learned_kept, pipeline_kept, pipeline_peak = 0.0, 0, 0, 0
        for label, methods in (("learn", ["learn"]), ("unlearn", list(p.methods))):
            for method in methods:
                settings = p.learn if label == "learn" else p.unlearn_settings(method)
                cfg = _train_config(p, settings, method, preset.model)
                precision = "fp32" if cfg.precision == "fp32" else "bf16"
                mem = plan(shape, make_request(cfg, method, precision, strategy, gpus, "cuda", budget))
                disk = disk_plan(cfg, shape, precision, strategy.startswith(("fsdp", "zero")))
                # "checkpoints" counts one more being written; what stays is n of the n + 1
                n_keep = len(parse_save_epochs(cfg.save_epochs, cfg.epochs))
                kept = disk["checkpoints"] * n_keep // (n_keep + 1)
                pipeline_peak += disk["checkpoints"]
                pipeline_kept += kept
                learned_kept += kept if label == "learn" else 0
                tokens = n * cfg.max_length * cfg.epochs * (2 if method in _TWO_SEQUENCES else 1)
                per_token = (4 if cfg.lora else 6) + (2 if cfg.gradient_checkpointing else 0)
                flops = per_token * shape.n_params * tokens + (2 * shape.n_params * n * cfg.max_length
                                                                if method in _PRECOMPUTE else 0)
                h = flops / (tflops * 1e12 * mfu) / 3600  # GPU-hours (wall hours x GPUs)
                hours += h
                verdict = "" if mem.fits is None else (" fits" if mem.fits else f" does NOT fit: {mem.suggestion}")
                lines.append(f"  {label:<8}{method:<6} peak {human_bytes(mem.peak)}/GPU{verdict}; "
                             f"~{h:.2f} GPU-h; checkpoints {human_bytes(disk['checkpoints'])}")
        evals = 2 + n_ckpt
        gen = sum(_PAPER_SIZES.get(t, 100) if not p.utility_limit else p.utility_limit for t in p.utility_tasks) * 300
        gen += n_eval * 512
        eval_h = evals * gen / gen_tokens_s / 3600
        hours += eval_h
        lines.append(f"  evaluate: {evals} passes x ~{gen / 1e3:.0f}k generated tokens: ~{eval_h:.2f} GPU-h")
        if shape.n_params < 1e9:  # the CPU presets' scale
            from code_unlearn_bench.reproduce.cpu_estimate import cpu_line, estimate_s

            lines.append(cpu_line(p, n, n_eval, chars))
            cpu_s += sum(estimate_s(p, n, n_eval, chars).values())
        total_h += hours
        # pipelines run one after another: the peak is this one's checkpoints on top of what the
        # earlier ones kept (their learned weights are deleted unless --keep-learn-checkpoint)
        peak_disk = max(peak_disk, total_disk + pipeline_peak)
        total_disk += pipeline_kept - (0 if keep_learned or p.skip_learn else learned_kept)
    lines.append(f"\ntotal: ~{total_h:.1f} GPU-hours (at {mfu:.0%} of {tflops:.0f} TFLOP/s for training, "
                 f"{gen_tokens_s:.0f} tokens/s for generation); disk ~{human_bytes(peak_disk)} of checkpoints "
                 f"at the peak, {human_bytes(total_disk)} kept at the end (learn keeps its last epoch, "
                 + ("kept: --keep-learn-checkpoint" if keep_learned else "deleted once unlearned from and evaluated")
                 + "; unlearn every epoch: the paper evaluates each)")
    if cpu_s:
        lines.append(f"on 2 unloaded CPU cores: ~{cpu_s / 60:.0f} min in all (reproduce/cpu_estimate.py; it errs high)")
    return "\n".join(lines)


def check_data(preset) -> None:
    """The paper's presets score the paper's forget set: refuse the stdlib default."""
    if preset.requires_data and preset.forget_task == "copyright" and not preset.forget_data:
        raise CubError(f"--preset {preset.name} needs the paper's 100-file forget set: --data PATH/forget_100.jsonl "
                       f"(e.g. ../shared/data/prod_copyright/forget_100.jsonl)")

