"""`cub reproduce`: the paper's whole pipeline in one resumable command."""

from __future__ import annotations

import argparse

from code_unlearn_bench import tracking


def add_arguments(p: argparse.ArgumentParser) -> None:
    from code_unlearn_bench.reproduce.presets import PRESETS

    p.add_argument("--preset", default="cpu-demo", choices=sorted(PRESETS),
                   help="; ".join(f"{k}: {v.description}" for k, v in PRESETS.items()))
    p.add_argument("--output-dir", required=True, help="work directory (rerun the same command to resume)")
    p.add_argument("--model", help="override the preset's model (required for --preset paper)")
    p.add_argument("--methods", help="comma-separated subset of the methods (default: all of the preset's)")
    p.add_argument("--data", help="forget-set source (e.g. the paper's forget_100.jsonl)")
    p.add_argument("--verbose", action="store_true", help="show the steps' own progress output")
    tracking.add_arguments(p)
    p.add_argument("--tasks", help="forget tasks, one pipeline and one PDR row each (e.g. copyright,insecure,deprecated; "
                                   "default: the preset's)")
    p.add_argument("--task-data", action="append", metavar="TASK=PATH",
                   help="data of another forget task of --tasks (repeatable), e.g. deprecated=versicode.json "
                        "(the paper's deprecated row needs VersiCode; without it that row is marked not comparable)")
    p.add_argument("--seeds", type=int, default=1, help="repeat learn/unlearn/evaluate with N seeds (42, 43, ...); "
                                                        "PDR as mean and spread, and whether the order holds")
    p.add_argument("--summary-only", action="store_true",
                   help="write SUMMARY.md from the (task, seed) runs already ranked in --output-dir; run nothing")
    p.add_argument("--dry-run", action="store_true",
                   help="print the step plan, the training runs' memory plan, GPU-hours and disk; run nothing")
    p.add_argument("--gpus", default=None, help="GPU ids, e.g. 0,1,2,3: the methods' unlearning runs, then the "
                                               "evaluations, side by side, one child process per GPU; --dry-run "
                                               "plans for that many")
    p.add_argument("--keep-learn-checkpoint", action="store_true",
                   help="keep the learned model's weights (default: deleted once every unlearning run has started "
                        "from it and it is evaluated; ~13-27 GB at 7B)")
    p.add_argument("--gpu-memory", type=float, default=None, metavar="GIB", help="memory per GPU (--dry-run)")
    p.add_argument("--strategy", default=None, help="single, ddp, fsdp, ... (--dry-run; default fsdp with > 1 GPU)")
    p.add_argument("--num-processes", type=int, default=None,
                   help="run each learn/unlearn across N processes (GPUs) under `accelerate launch`, one run at a "
                        "time, instead of one GPU per run (a full 7B fine-tune: FSDP)")
    p.add_argument("--holdout-data", default=None, metavar="PATH",
                   help="the MIA's holdout: never-seen samples of the forget data's source (default: the part of "
                        "--data the preset does not learn; none left -> the MIA is skipped with that reason)")
    p.add_argument("--accelerate-config", default=None, metavar="YAML",
                   help="accelerate config for --num-processes (configs/accelerate/fsdp.yaml, zero3.yaml ...)")


def run(args: argparse.Namespace) -> int:
    from dataclasses import asdict, replace
    from pathlib import Path

    from code_unlearn_bench.errors import CubError
    from code_unlearn_bench.reproduce.presets import PRESETS
    from code_unlearn_bench.reproduce.pipeline import Pipeline
    from code_unlearn_bench.unlearn.methods import get_method

    preset = PRESETS[args.preset]
    if args.model:
        preset = replace(preset, model=args.model)
    if not preset.model:
        raise CubError(f"--preset {preset.name} needs --model PATH (e.g. a local CodeLlama-7B directory)")
    if args.methods:
        methods = tuple(m.strip() for m in args.methods.split(",") if m.strip())
        for m in methods:
            get_method(m)  # unknown -> one-line error listing the registered methods
        preset = replace(preset, methods=methods)
    if args.data:
        preset = replace(preset, forget_data=args.data)
    tasks = tuple(t.strip() for t in args.tasks.split(",") if t.strip()) if args.tasks else \
        (preset.tasks or (preset.forget_task,))
    if args.seeds < 1:
        raise CubError(f"--seeds must be >= 1 (got {args.seeds})")
    from code_unlearn_bench.reproduce.multi import run_all, variants
    from code_unlearn_bench.reproduce.plan import check_data, dry_run
    from code_unlearn_bench.tasks.spec import get_task

    for t in tasks:
        get_task(t)  # unknown -> one-line error with "did you mean"
    check_data(preset if preset.forget_task in tasks else replace(preset, forget_task=tasks[0]))
    task_data = {}
    for item in args.task_data or []:
        task, sep, path = item.partition("=")
        if not sep or not path or task not in tasks:
            raise CubError(f"--task-data takes TASK=PATH with TASK one of {', '.join(tasks)} (got '{item}')")
        task_data[task] = path
    runs = variants(preset, tasks, args.seeds, task_data)
    gpus = tuple(g.strip() for g in args.gpus.split(",") if g.strip()) if args.gpus else None
    spread = _spread(args)
    if args.dry_run:
        strategy = args.strategy or (spread.strategy() if spread else None)
        n_gpus = spread.num_processes if spread else len(gpus or ("0",))
        print(dry_run(preset, runs, n_gpus, args.gpu_memory, strategy, keep_learned=args.keep_learn_checkpoint))
        return 0
    if args.summary_only:
        from code_unlearn_bench.reproduce.multi import summary_of_finished

        print(f"summary: {summary_of_finished(preset, Path(args.output_dir), tasks, args.seeds, task_data)}")
        return 0
    if len(runs) == 1 and tasks == (preset.forget_task,):  # the single-pipeline layout, as before
        config = {"preset": asdict(runs[0][2]), "output_dir": args.output_dir}
        with tracking.session(args, "reproduce", config) as tracker:
            result = Pipeline(runs[0][2], args.output_dir, quiet=not args.verbose, tracker=tracker, gpus=gpus,
                              keep_learned=args.keep_learn_checkpoint, spread=spread,
                              holdout=args.holdout_data).run()
        print(f"report: {result['report']}")
        return 0
    summary = run_all(preset, Path(args.output_dir), tasks, args.seeds, not args.verbose, gpus=gpus,
                      keep_learned=args.keep_learn_checkpoint, spread=spread, task_data=task_data,
                      holdout=args.holdout_data)
    print(f"summary: {summary}")
    return 0


def _spread(args: argparse.Namespace):
    from code_unlearn_bench.errors import CubError
    from code_unlearn_bench.unlearn.spread import Spread

    if args.num_processes is None:
        if args.accelerate_config:
            raise CubError("--accelerate-config takes effect with --num-processes N")
        return None
    return Spread(args.num_processes, args.accelerate_config).check()
