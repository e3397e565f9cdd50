"""`cub reproduce` presets: the pipeline's settings, from a CPU smoke test to the paper's (each
paper setting names the section it comes from)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from code_unlearn_bench.reproduce.sources import LORA_SOURCES, PAPER_SOURCES

METHODS = ("ga", "dpo", "npo", "flat", "prod")  # the paper's column order
# Per-method hyper-parameters of the paper's runs (sources: reproduce/sources.py)
_PAPER_METHODS = {"prod": {"p": 0.8, "alpha": 0.0}, "npo": {"beta": 0.1}, "dpo": {"beta": 0.1},
                  "flat": {"variant": "kl"}}
# How each method's own reference loop optimises (jiangxxxue/PROD @ a581364): PROD.py and
# baselines/FLAT.py are plain torch loops with no clipping and no scheduler; GA.py / NPO.py
# (Seq2SeqTrainer) and DPO.py (TRL DPOTrainer) take the HF TrainingArguments defaults: linear
# decay to 0, no warmup, clipping at 1.0.
_REFERENCE_TRAIN = {"prod": {"max-grad-norm": 0.0}, "flat": {"max-grad-norm": 0.0},
                    **{m: {"lr-schedule": "linear", "max-grad-norm": 1.0} for m in ("ga", "npo", "dpo")}}


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    model: str  # spec, or "tiny" = a tiny Llama built from scratch in the work dir
    forget_task: str = "copyright"
    forget_data: str | None = None
    forget_options: dict[str, Any] = field(default_factory=dict)
    forget_limit: int | None = None
    utility_tasks: tuple[str, ...] = ("heldout",)
    utility_limit: int | None = None
    utility_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    methods: tuple[str, ...] = METHODS
    learn: dict[str, Any] = field(default_factory=dict)  # TrainConfig fields of `cub learn`
    unlearn: dict[str, Any] = field(default_factory=dict)  # TrainConfig fields of `cub unlearn` (all methods)
    method_flags: dict[str, dict[str, Any]] = field(default_factory=dict)  # method -> hyper-parameters
    method_train: dict[str, dict[str, Any]] = field(default_factory=dict)  # method -> TrainConfig overrides
    eval_flags: dict[str, Any] = field(default_factory=dict)  # EvalConfig fields of `cub evaluate`
    attack_k: tuple[int, ...] = (0, 16, 32)
    attack_utility_share: float = 0.6
    attack_last_epoch_only: bool = True
    allow_code_execution: bool = False
    skip_learn: bool = False
    tasks: tuple[str, ...] = ()  # forget tasks of a multi-task run (--tasks); () = forget_task only
    requires_data: bool = False  # the forget set must be given (--data): the paper's 100 files
    sources: dict[str, str] = field(default_factory=dict)  # setting path -> source (reproduce/sources.py)
    isolate_evaluations: bool = False  # each evaluation in a child process (engine torn down)

    def unlearn_settings(self, method: str) -> dict[str, Any]:
        """`cub unlearn`'s TrainConfig fields for one method: the common ones, then its own."""
        return {**self.unlearn, **self.method_train.get(method, {})}


PRESETS: dict[str, Preset] = {
    # Tiny from-scratch Llama, 3 short stdlib files: the whole pipeline in a couple of CPU minutes.
    "test": Preset(
        name="test", description="tiny from-scratch Llama; for tests and smoke runs (~2-4 min on 2 CPU cores)",
        model="tiny", forget_options={"max_chars": 300}, forget_limit=3, utility_limit=4,
        methods=("ga", "prod"),
        learn={"epochs": 40, "lr": 3e-3, "grad_accum": 1, "max-length": 128},
        unlearn={"epochs": 2, "lr": 1e-3, "grad_accum": 1, "max-length": 128},
        eval_flags={"max-new-tokens": 48, "batch-size": 4},
        attack_k=(0, 8)),
    # The embedded SmolLM2-135M on 8 truncated stdlib files: every method, 2 CPU cores, < 30 min.
    "cpu-demo": Preset(
        name="cpu-demo", description="embedded SmolLM2-135M, 8 stdlib files, all five methods (< 30 min on 2 CPU cores)",
        model="smollm2-135m", forget_options={"max_chars": 1000}, forget_limit=8, utility_limit=20,
        learn={"epochs": 6, "lr": 1e-4, "grad_accum": 1, "max-length": 384},
        unlearn={"epochs": 3, "lr": 2e-5, "grad_accum": 2, "max-length": 384}, method_train=_REFERENCE_TRAIN,
        eval_flags={"max-new-tokens": 128, "batch-size": 8},
        attack_k=(0, 16, 32)),
    # The paper's settings (CodeLlama-7B, full forget set, HumanEval, vLLM): a GPU machine.
    "paper": Preset(
        name="paper", description="the paper's settings: CodeLlama-7B (--model PATH), the 100-file forget set "
        "(--data forget_100.jsonl), HumanEval, full fine-tune, GPU (docs/scaling.md)",
        model="", utility_tasks=("humaneval",), utility_options={"humaneval": {"prompt_format": "raw"}},
        allow_code_execution=True, requires_data=True, tasks=("copyright", "insecure", "deprecated"),
        learn={"epochs": 10, "lr": 5e-5, "grad_accum": 1, "max-length": 1024, "seed": 42, "save-epochs": "last",
               "lr-schedule": "linear", "max-grad-norm": 1.0},
        unlearn={"epochs": 10, "lr": 5e-6, "grad_accum": 32, "max-length": 1024, "seed": 42, "lr-schedule": "constant"},
        method_flags=_PAPER_METHODS, method_train=_REFERENCE_TRAIN, eval_flags={"batch-size": 16, "backend": "auto"},
        attack_k=(0, 16, 32, 64), attack_last_epoch_only=False, sources=PAPER_SOURCES, isolate_evaluations=True),
    # The same on one 24-48 GB GPU: LoRA over a bf16 base with gradient checkpointing (not the
    # paper's full fine-tune; LoRA needs a larger learning rate than 5e-6 to move at all).
    "paper-lora": Preset(
        name="paper-lora", description="the paper's pipeline with LoRA on one 24-48 GB GPU (--model PATH, --data)",
        model="", utility_tasks=("humaneval",), utility_options={"humaneval": {"prompt_format": "raw"}},
        allow_code_execution=True, requires_data=True, tasks=("copyright", "insecure", "deprecated"),
        learn={"epochs": 10, "lr": 2e-4, "grad_accum": 1, "max-length": 1024, "seed": 42, "lora": True,
               "gradient-checkpointing": True, "save-epochs": "last", "lr-schedule": "linear", "max-grad-norm": 1.0},
        unlearn={"epochs": 10, "lr": 5e-5, "grad_accum": 32, "max-length": 1024, "seed": 42, "lora": True,
                 "gradient-checkpointing": True, "lr-schedule": "constant"},
        method_flags=_PAPER_METHODS, method_train=_REFERENCE_TRAIN, eval_flags={"batch-size": 16, "backend": "auto"},
        attack_k=(0, 16, 32, 64), attack_last_epoch_only=False, sources={**PAPER_SOURCES, **LORA_SOURCES},
        isolate_evaluations=True),
    # All three forget tasks x the five paper methods on CPU, sized with reproduce/cpu_estimate.py's
    # measured rates (`--dry-run` prints ~60 min, an estimate that errs high): 8 samples per
    # task, 3 unlearning epochs -> 17 evaluations and 5 attacked checkpoints per task.
    "cpu-demo-all": Preset(
        name="cpu-demo-all", description="embedded SmolLM2-135M, all three forget tasks, all five methods "
        "(about 1 h on 2 CPU cores)",
        model="smollm2-135m", forget_options={"max_chars": 600}, forget_limit=8, utility_limit=20,
        tasks=("copyright", "insecure", "deprecated"),
        learn={"epochs": 5, "lr": 1e-4, "grad_accum": 1, "max-length": 256},
        unlearn={"epochs": 3, "lr": 2e-5, "grad_accum": 2, "max-length": 256}, method_train=_REFERENCE_TRAIN,
        eval_flags={"max-new-tokens": 64, "batch-size": 8}, attack_k=(0, 16)),
}
