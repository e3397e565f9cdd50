"""The typed configurations, one per job, each serving the CLI, YAML files, presets and the Python
API: :class:`EvalConfig` (evaluate, score, attacks) and :class:`TrainConfig` (learn, unlearn)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from code_unlearn_bench.errors import SAMPLING_HINT, CubError
from code_unlearn_bench.jsonio import hash_json
from code_unlearn_bench.registry import did_you_mean

# Fields that change how (fast) a run executes but not what it produces: excluded from the
# identity hash, so a run resumed with another batch size or worker count still matches.
_EXECUTION_ONLY = {"output_dir", "batch_size", "quiet", "overwrite", "limit", "task_limits", "backend", "device",
                   "tensor_parallel_size", "exec_workers", "allow_code_execution", "sandbox",
                   "allow_unsafe_execution", "config_file", "gpu_memory_utilization", "data_parallel_size", "threads",
                   # --backend openai: where and how to reach the server; the served model's id
                   # and /v1/models entry are the run's model identity (evaluation/run.py), not the URL.
                   # The tokenizer only scores (recorded in results' model.server.tokenizer).
                   "base_url", "api_key_env", "num_concurrent", "request_timeout", "max_retries", "tokenizer"}


@dataclass
class EvalConfig:
    model: str = ""
    tasks: list[str] = field(default_factory=lambda: ["copyright"])
    output_dir: str = ""
    limit: int | None = None
    task_limits: dict[str, int] = field(default_factory=dict)  # task -> first N samples (overrides limit)
    backend: str = "auto"
    batch_size: int = 8
    data: dict[str, str] = field(default_factory=dict)  # task -> path / dataset name
    task_options: dict[str, dict[str, Any]] = field(default_factory=dict)  # task -> {key: value}
    seed: int = 1234
    max_new_tokens: int | None = None  # overrides the task spec
    num_samples: int | None = None  # >1: sampled completions for pass@k
    temperature: float | None = None
    top_p: float | None = None  # nucleus sampling (with --temperature > 0)
    dtype: str = "auto"  # bfloat16 on a CUDA GPU, float32 on CPU
    device: str | None = None
    revision: str | None = None  # hub models: branch, tag or commit (or --model org/name@rev)
    model_args: dict[str, Any] = field(default_factory=dict)  # -> from_pretrained / vllm.LLM
    apply_chat_template: bool = False
    system_prompt: str | None = None
    tensor_parallel_size: int = 1
    data_parallel_size: int = 1  # engine replicas, one per GPU (or TP group), samples sharded
    gpu_memory_utilization: float = 0.9  # vLLM
    max_model_len: int | None = None  # vLLM context length (default: the model's)
    overwrite: bool = False
    quiet: bool = False
    allow_code_execution: bool = False
    sandbox: str = "auto"
    allow_unsafe_execution: bool = False
    exec_workers: int | None = None
    threads: int | None = None  # torch CPU threads (None: threads.default_threads())
    config_file: str | None = None
    # --backend openai (models/openai.py); the API key itself is read from $api_key_env, never stored
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    num_concurrent: int = 8
    request_timeout: float = 600.0
    max_retries: int = 5
    tokenizer: str | None = None  # the served model's tokenizer (default: --model, if local)

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, values: dict[str, Any], origin: str = "config") -> "EvalConfig":
        known = {f.name for f in fields(cls)}
        for key in values:
            if key not in known:
                raise CubError(f"unknown {origin} key '{key}' {did_you_mean(key, known)}")
        cfg = cls(**values)
        cfg.validate()
        return cfg

    @classmethod
    def from_yaml(cls, path: str | Path) -> dict[str, Any]:
        import yaml

        try:
            data = yaml.safe_load(Path(path).read_text())
        except OSError as exc:
            raise CubError(f"cannot read config file '{path}': {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise CubError(f"config file '{path}' is not valid YAML: {str(exc).splitlines()[0]}") from None
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise CubError(f"config file '{path}' must hold a mapping of option: value")
        if isinstance(data.get("tasks"), str):
            data["tasks"] = [t.strip() for t in data["tasks"].split(",") if t.strip()]
        return data

    def validate(self) -> None:
        if self.limit is not None and self.limit < 1:
            raise CubError(f"--limit must be a positive number of samples, got {self.limit}")
        for task, n in self.task_limits.items():
            if not isinstance(n, int) or n < 1:
                raise CubError(f"--task-limit {task}={n}: must be a positive number of samples")
        if self.threads is not None and self.threads < 1:
            raise CubError(f"--threads must be >= 1, got {self.threads}")
        if self.batch_size < 1:
            raise CubError(f"--batch-size must be >= 1, got {self.batch_size}")
        if self.max_new_tokens is not None and self.max_new_tokens < 1:
            raise CubError(f"--max-new-tokens must be >= 1, got {self.max_new_tokens}")
        if self.num_samples is not None and self.num_samples < 1:
            raise CubError(f"--num-samples must be >= 1, got {self.num_samples}")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise CubError(f"--top-p must be in (0, 1], got {self.top_p}")
        if self.temperature is not None and self.temperature < 0:
            raise CubError(f"--temperature must be >= 0, got {self.temperature}")
        if (self.num_samples or 1) > 1 and not self.temperature:
            raise CubError(f"--num-samples {self.num_samples} at temperature 0 gives {self.num_samples} identical "
                           f"greedy samples (pass@k = pass@1); {SAMPLING_HINT}")
        if self.tensor_parallel_size < 1:
            raise CubError(f"--tensor-parallel-size must be >= 1, got {self.tensor_parallel_size}")
        if self.data_parallel_size < 1:
            raise CubError(f"--data-parallel-size must be >= 1, got {self.data_parallel_size}")
        if not 0 < self.gpu_memory_utilization <= 1:
            raise CubError(f"--gpu-memory-utilization must be in (0, 1], got {self.gpu_memory_utilization}")
        if self.max_model_len is not None and self.max_model_len < 1:
            raise CubError(f"--max-model-len must be >= 1, got {self.max_model_len}")
        if self.system_prompt and not self.apply_chat_template:
            raise CubError("--system-prompt needs --apply-chat-template")
        if not isinstance(self.model_args, dict):
            raise CubError("model_args must be a mapping of from_pretrained / vllm.LLM options")
        for key in ("dtype", "torch_dtype", "revision", "tensor_parallel_size", "gpu_memory_utilization",
                    "max_model_len"):
            if key in self.model_args:
                raise CubError(f"--model-args {key}=...: use --{key.replace('torch_', '').replace('_', '-')} instead")
        self._validate_openai()
        if not self.tasks:
            raise CubError("no task given (--tasks copyright,...; `cub tasks` lists them)")
        if len(set(self.tasks)) != len(self.tasks):
            raise CubError(f"a task is listed twice in --tasks: {','.join(self.tasks)}")

    def _validate_openai(self) -> None:
        # which backend may or must take --base-url: models.selection.check_backend_options (capabilities)
        if self.base_url and not self.base_url.startswith(("http://", "https://")):
            raise CubError(f"--base-url must start with http:// or https://, got '{self.base_url}'")
        if self.num_concurrent < 1:
            raise CubError(f"--num-concurrent must be >= 1, got {self.num_concurrent}")
        if self.request_timeout <= 0:
            raise CubError(f"--request-timeout must be > 0 seconds, got {self.request_timeout}")
        if not 0 <= self.max_retries <= 20:
            raise CubError(f"--max-retries must be between 0 and 20, got {self.max_retries}")

    # -- identity ------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def identity(self) -> dict[str, Any]:
        """The part of the config that determines the outputs."""
        return {k: v for k, v in self.to_json().items() if k not in _EXECUTION_ONLY}

    def identity_hash(self) -> str:
        return hash_json(self.identity())

    def limit_for(self, task: str) -> int | None:
        return self.task_limits.get(task, self.limit)

    def options_for(self, task: str) -> dict[str, Any]:
        return dict(self.task_options.get(task, {}))


def parse_key_values(items: list[str] | None, tasks: list[str], flag: str) -> dict[str, dict[str, Any]]:
    """``--task-option [task:]key=value`` (YAML-typed value) -> {task: {key: value}}."""
    import yaml

    out: dict[str, dict[str, Any]] = {}
    for item in items or []:
        target, _, kv = item.rpartition(":") if ":" in item.split("=", 1)[0] else ("", "", item)
        key, sep, value = kv.partition("=")
        if not sep or not key:
            raise CubError(f"{flag} expects [task:]key=value, got '{item}'")
        if target and target not in tasks:
            raise CubError(f"{flag} names task '{target}' which is not in --tasks ({','.join(tasks)})")
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            parsed = value
        for t in ([target] if target else tasks):
            out.setdefault(t, {})[key] = parsed
    return out


def split_key_values(text: str | None, flag: str) -> list[tuple[str, str]]:
    """``key=value,key2=value2`` -> [(key, value)], values as written (one-line CubError naming ``flag``)."""
    out = []
    for item in (text or "").split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise CubError(f"{flag} expects key=value[,key=value...], got '{item.strip()}'")
        out.append((key, value.strip()))
    return out


def parse_model_args(text: str | None, flag: str = "--model-args") -> dict[str, Any]:
    """``--model-args key=value,key2=value2`` (YAML-typed values: true, 4, 0.5, sdpa) -> dict."""
    import yaml

    out: dict[str, Any] = {}
    for key, value in split_key_values(text, flag):
        try:
            out[key] = yaml.safe_load(value)
        except yaml.YAMLError:
            out[key] = value
    return out


def parse_data(items: list[str] | None, tasks: list[str]) -> dict[str, str]:
    """``--data PATH`` (single task) or ``--data task=PATH`` (repeatable)."""
    out: dict[str, str] = {}
    for item in items or []:
        name, sep, path = item.partition("=")
        if sep and name in tasks:
            out[name] = path
        elif sep and not Path(item).exists() and "/" not in name:
            raise CubError(f"--data names task '{name}' which is not in --tasks ({','.join(tasks)})")
        elif len(tasks) == 1:
            out[tasks[0]] = item
        else:
            raise CubError("with several tasks, give --data as task=PATH")
    return out


def parse_task_limits(items: list[str] | None, tasks: list[str]) -> dict[str, int]:
    """``--task-limit TASK=N`` (repeatable) -> {task: N}."""
    out: dict[str, int] = {}
    for item in items or []:
        name, sep, n = item.partition("=")
        if not sep or name not in tasks:
            raise CubError(f"--task-limit expects TASK=N with TASK in --tasks ({','.join(tasks)}), got '{item}'")
        try:
            out[name] = int(n)
        except ValueError:
            raise CubError(f"--task-limit {item}: N must be an integer") from None
    return out


# -- training (`cub learn`, `cub unlearn`, the presets, relearning) ------------------------------
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
OPTIMIZERS = ("adamw", "adamw8bit")
SCHEDULES = ("constant", "linear")  # the learning-rate curves of unlearn/schedule.py
# Left out of a run's identity: how fast it goes (device), how long (a run can be extended with
# more --epochs), what is kept on disk, and the model's spelling (a relative path changes with
# the working dir; the model's fingerprint is part of the identity instead).
_NOT_IDENTITY = {"output_dir", "epochs", "device", "model", "save_epochs", "gpu_memory", "measure_memory",
                 "max_shard_size", "strategy", "merge"}


@dataclass
class TrainConfig:
    model: str
    task: str
    output_dir: str
    method: str = "learn"
    hyperparameters: dict[str, Any] = field(default_factory=dict)  # method's (after defaults)
    epochs: int = 10
    lr: float = 5e-6
    grad_accum: int = 32  # micro-batches per step and process: global batch = batch x accum x processes
    batch_size: int = 1
    max_length: int = 1024
    seed: int = 42
    lora: bool = False
    lora_r: int = 8
    lora_alpha: int = 16
    gradient_checkpointing: bool = False
    precision: str = "auto"  # auto = bf16 on a bf16-capable GPU, else fp32
    max_grad_norm: float = 1.0  # 0 disables clipping
    lr_schedule: str = "constant"  # constant | linear (decay to 0 over all epochs: HF Trainer's default)
    device: str | None = None
    data: str | None = None
    task_options: dict[str, Any] = field(default_factory=dict)
    limit: int | None = None
    refusals: str | None = None
    retain_data: str | None = None  # the retain set's source instead of the task's declared one
    optimizer: str = "adamw"  # adamw | adamw8bit (bitsandbytes)
    save_epochs: str = "all"  # all | last | N,M
    max_shard_size: str = "5GB"
    gpu_memory: float | None = None  # GiB per device for the planner's verdict (default: visible)
    strategy: str | None = None  # planner only: what a plan assumes when not under accelerate
    measure_memory: bool = False  # record the peak of live tensor bytes (slow: a dispatch hook)
    merge: bool = False  # --lora: also write merged/ (the last adapter folded into its base)

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
        if self.optimizer not in OPTIMIZERS:
            raise CubError(f"--optimizer must be one of {', '.join(OPTIMIZERS)}")
        if self.limit is not None and self.limit < 1:
            raise CubError(f"--limit must be >= 1 (got {self.limit})")
        if self.lr_schedule not in SCHEDULES:
            raise CubError(f"--lr-schedule must be one of {', '.join(SCHEDULES)}")
        parse_save_epochs(self.save_epochs, self.epochs)

    def identity(self) -> dict[str, Any]:
        # retain_data / a schedule only when given, so older runs keep their identity
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in _NOT_IDENTITY
                and not (k == "retain_data" and v is None) and not (k == "lr_schedule" and v == "constant")}


def parse_save_epochs(spec: str, epochs: int) -> set[int]:
    """all | last | N,M -> the epochs whose checkpoints are kept (the last one always is)."""
    spec = (spec or "all").strip()
    if spec == "all":
        return set(range(1, epochs + 1))
    if spec == "last":
        return {epochs}
    try:
        chosen = {int(x) for x in spec.split(",") if x.strip()}
    except ValueError:
        raise CubError(f"--save-epochs takes all, last or epoch numbers like 2,5 (got '{spec}')") from None
    bad = sorted(e for e in chosen if not 1 <= e <= epochs)
    if bad:
        raise CubError(f"--save-epochs {bad[0]} is outside 1..{epochs}")
    return chosen | {epochs}
