"""Where every setting of the paper presets comes from, as `cub reproduce --dry-run` prints it.

Each entry is ``paper: <section>``, ``reference: <file>:<line>`` (github.com/jiangxxxue/PROD at
commit a581364, the authors' code) or ``assumption: <why>`` (ours: neither says). An entry may
combine them (``reference: ...; assumption: ...``): a setting partly ours is printed as an
assumption. Keys are setting paths (``unlearn.lr``, ``method_train.ga.lr-schedule``); a setting
of a preset that has no entry is printed as UNSOURCED (a test keeps the paper presets free of
them).
"""

from __future__ import annotations

from typing import Any

_HF = ("HF TrainingArguments defaults (no value passed): lr_scheduler_type linear with 0 warmup, "
       "max_grad_norm 1.0, weight_decay 0")
PAPER_SOURCES: dict[str, str] = {
    "model": "paper: Unlearning Performance (CodeLlama-7B, given as --model PATH)",
    "tasks": "paper: Table 1 (copyright, insecure, deprecated)",
    "forget_data": "paper: Copyrighted Code Unlearning (100 files from the Stack: forget_100.jsonl via --data)",
    "task_data.insecure": "paper: Insecure Code Unlearning (CyberSecEval autocomplete, the default data)",
    "task_data.deprecated": "paper: Deprecated API Unlearning (VersiCode, 3,449 snippets) via --task-data "
                            "deprecated=PATH; assumption: without it the curated 198-change set, and the row is "
                            "marked not comparable with Table 1",
    "utility_tasks": "paper: General Code Generation (HumanEval, functional correctness)",
    "utility_options.humaneval.prompt_format": "reference: test_model_utility.py:115 (the problem prompt as given), "
                                               "300 new tokens: test_model_utility.py:14 (task spec)",
    "learn.epochs": "assumption: the reference learn.py has no run script (10 epochs)",
    "learn.lr": "assumption: not stated (learn.py takes it on the command line)",
    "learn.grad_accum": "assumption: not stated",
    "learn.max-length": "reference: learn.py:26 (max_seq_length 1024)",
    "learn.seed": "reference: learn.py:16 (set_seed(42))",
    "learn.lr-schedule": f"reference: learn.py:130 (Seq2SeqTrainer): {_HF}",
    "learn.max-grad-norm": f"reference: learn.py:130 (Seq2SeqTrainer): {_HF}",
    "learn.save-epochs": "assumption: bookkeeping only (unlearning starts from the last epoch)",
    "unlearn.epochs": "reference: run_PROD.sh:19 (10); assumption: the same for the baselines (no script)",
    "unlearn.lr": "reference: run_PROD.sh:5 (5e-6); assumption: the same for the baselines (no script)",
    "unlearn.grad_accum": "reference: run_PROD.sh:22 (32, batch 1 at run_PROD.sh:21); assumption: the same for "
                          "the baselines",
    "unlearn.max-length": "reference: PROD.py:159, GA.py:51, NPO.py:65, DPO.py:71, FLAT.py:251 (1024)",
    "unlearn.seed": "reference: PROD.py:251, GA.py:27, NPO.py:29, DPO.py:76, FLAT.py:324 (seed_everything(42))",
    "unlearn.lr-schedule": "reference: PROD.py:108-145 and FLAT.py:142-190 call optimizer.step() with no scheduler",
    "method_train.prod.max-grad-norm": "reference: PROD.py:108-145 (no clipping before optimizer.step())",
    "method_train.flat.max-grad-norm": "reference: FLAT.py:142-190 (no clipping before optimizer.step())",
    **{f"method_train.{m}.{k}": f"reference: {where}: {_HF}"
       for m, where in (("ga", "GA.py:156 (Seq2SeqTrainer)"), ("npo", "NPO.py:209 (Seq2SeqTrainer)"),
                        ("dpo", "DPO.py:53 (TRL DPOTrainer, DPOConfig)"))
       for k in ("lr-schedule", "max-grad-norm")},
    "method_flags.prod.p": "paper: Ablation Study (Fig. 6b, p = 0.8 best); reference: PROD.py:161",
    "method_flags.prod.alpha": "paper: Ablation Study (Fig. 6c, alpha = 0); reference: run_PROD.sh:18, PROD.py:165",
    "method_flags.npo.beta": "reference: NPO.py:67 (beta 0.1)",
    "method_flags.dpo.beta": "reference: DPO.py:53 passes no beta: TRL DPOConfig's default 0.1, the refusal "
                             "a line of idontknow.jsonl (DPO.py:18, 33)",
    "method_flags.flat.variant": "reference: FLAT.py:178 (get_contrastive_loss(..., 'KL'))",
    "eval_flags.batch-size": "assumption: throughput only (greedy decoding: batching changes numerics, not settings)",
    "eval_flags.backend": "assumption: vLLM where available (the reference generates with HF transformers)",
    "attack_k": "assumption: the paper prepends 'an increasing number of tokens' without the numbers",
    "attack_utility_share": "paper: Adversarial Attacks (checkpoints keeping >= 60% of the original HumanEval)",
    "attack_last_epoch_only": "paper: Adversarial Attacks (every checkpoint keeping >= 60% is attacked)",
    "attack.tasks": "assumption: every task's pipeline is attacked (the paper attacks copyright only) and "
                    "membership inference is added (not in the paper)",
}
LORA_SOURCES: dict[str, str] = {
    "learn.lora": "assumption: LoRA to fit one 24-48 GB GPU (the paper fine-tunes fully)",
    "unlearn.lora": "assumption: LoRA to fit one 24-48 GB GPU (the paper fine-tunes fully)",
    "learn.gradient-checkpointing": "assumption: memory only",
    "unlearn.gradient-checkpointing": "assumption: memory only",
    "learn.lr": "assumption: LoRA needs a larger rate than a full fine-tune (2e-4)",
    "unlearn.lr": "assumption: LoRA needs a larger rate than run_PROD.sh:5's 5e-6 to move at all (5e-5)",
}


def settings(preset) -> dict[str, Any]:
    """The preset's experimental settings as setting path -> value."""
    out: dict[str, Any] = {"model": preset.model or "--model PATH", "tasks": list(preset.tasks or [preset.forget_task]),
                           "forget_data": preset.forget_data or "--data PATH",
                           "utility_tasks": list(preset.utility_tasks)}
    for group in ("learn", "unlearn", "eval_flags"):
        out.update({f"{group}.{k}": v for k, v in getattr(preset, group).items()})
    for group in ("method_train", "method_flags", "utility_options"):
        out.update({f"{group}.{m}.{k}": v for m, d in getattr(preset, group).items() for k, v in d.items()})
    out.update(attack_k=list(preset.attack_k), attack_utility_share=preset.attack_utility_share,
               attack_last_epoch_only=preset.attack_last_epoch_only)
    return out


def kind(source: str | None) -> str:
    if not source:
        return "UNSOURCED"
    return "OUR ASSUMPTION" if "assumption:" in source else "sourced"


def provenance_lines(preset) -> list[str]:
    """One line per setting: value, then [sourced | OUR ASSUMPTION | UNSOURCED] and the source."""
    if not preset.sources:
        return []
    lines = ["settings and where each comes from (paper section, reference-code line, or our assumption):"]
    extra = {k: v for k, v in preset.sources.items() if k.startswith(("task_data.", "attack."))}
    for key, value in [*settings(preset).items(), *((k, "") for k in extra)]:
        source = preset.sources.get(key)
        shown = f" = {value}" if value != "" else ""
        lines.append(f"  [{kind(source)}] {key}{shown}: {source or 'no source recorded'}")
    return lines
