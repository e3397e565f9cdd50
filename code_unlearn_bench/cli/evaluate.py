"""`cub evaluate`: generate and score a model on registered tasks."""

from __future__ import annotations

import argparse
from typing import Any

from code_unlearn_bench import tracking
from code_unlearn_bench.config import EvalConfig, parse_data, parse_key_values, parse_model_args, parse_task_limits


def add_model_arguments(p: argparse.ArgumentParser, served: bool = False) -> None:
    """Arguments shared by every command that runs a model (evaluate, attack). ``served``: also
    offer --backend openai (evaluate only: attacks need the weights)."""
    p.add_argument("--model", help="HF model dir, PEFT adapter dir, .gguf file, hub id org/name[@revision], "
                                   "or 'smollm2-135m' (embedded); with --backend openai: the served model id")
    p.add_argument("--revision", help="hub models: branch, tag or commit (default main)")
    p.add_argument("--model-args", metavar="KEY=VALUE,...",
                   help="options for from_pretrained / vllm.LLM, e.g. attn_implementation=sdpa,trust_remote_code=true")
    from code_unlearn_bench.models.selection import served_backends
    from code_unlearn_bench.plugins import BACKENDS

    # served backends only where `served`: the other commands need the weights themselves
    names = [n for n in BACKENDS.names() if served or n not in served_backends()]
    # not argparse choices: a plug-in backend (entry point cub.backends, or module:Class) is valid too,
    # and an unknown name gets the registry's one-line "did you mean"
    p.add_argument("--backend", metavar="{" + ",".join(["auto", *names]) + "}", type=_backend_name(served),
                   help="auto: vLLM with a CUDA GPU, else hf" +
                   ("; openai: a model served over HTTP (--base-url)" if served else ""))
    p.add_argument("--batch-size", type=int, help="generation batch size (default 8)")
    p.add_argument("--dtype", help="auto (default: bfloat16 on GPU, float32 on CPU), float32, bfloat16, float16")
    p.add_argument("--device", help="cpu, cuda, cuda:1 (default: cuda when available)")
    p.add_argument("--apply-chat-template", action="store_true", default=None,
                   help="wrap each prompt in the model's chat template (instruct models)")
    p.add_argument("--system-prompt", help="system turn for --apply-chat-template")
    p.add_argument("--tensor-parallel-size", type=int, help="vLLM tensor parallelism (GPUs per engine)")
    p.add_argument("--data-parallel-size", type=int,
                   help="engine replicas, one per GPU (or per tensor-parallel group); samples are sharded")
    p.add_argument("--gpu-memory-utilization", type=float, help="vLLM: share of GPU memory to use (default 0.9)")
    p.add_argument("--max-model-len", type=int, help="vLLM: context length (default: the model's)")
    p.add_argument("--seed", type=int, help="seed (default 1234)")


def _backend_name(served: bool):
    """argparse type of --backend: commands that need the weights refuse a served backend."""
    def parse(name: str) -> str:
        from code_unlearn_bench.models.selection import served_backends

        if not served and name in served_backends():
            raise argparse.ArgumentTypeError(f"'{name}' is a served model; this command needs the weights "
                                             "(only cub evaluate takes a served model)")
        return name

    return parse


def sandbox_choices() -> list[str]:
    from code_unlearn_bench.sandbox import choices

    return choices()


def add_server_arguments(p: argparse.ArgumentParser) -> None:
    """--backend openai: a model served by an OpenAI-compatible server (docs/serving.md)."""
    g = p.add_argument_group("served model (--backend openai; --model is the server's model id)")
    g.add_argument("--base-url", help="the server's OpenAI API root, e.g. http://127.0.0.1:8000/v1")
    g.add_argument("--api-key-env", metavar="VAR", help="environment variable holding the API key "
                   "(default OPENAI_API_KEY; the key is never written to the run dir)")
    g.add_argument("--num-concurrent", type=int, help="requests in flight (default 8)")
    g.add_argument("--request-timeout", type=float, metavar="S", help="seconds per request (default 600)")
    g.add_argument("--max-retries", type=int, help="retries on 429/5xx/timeouts, backing off (default 5)")
    g.add_argument("--tokenizer", help="the served model's tokenizer for scoring: model dir, .gguf or alias "
                   "(default: --model, when that is local)")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_model_arguments(p, served=True)
    add_server_arguments(p)
    p.add_argument("--tasks", help="comma-separated task names (default: copyright); see `cub tasks`")
    p.add_argument("--output-dir", help="run directory (generations, results.json); resumable")
    p.add_argument("--limit", type=int, help="evaluate only the first N samples of each task")
    p.add_argument("--task-limit", action="append", metavar="TASK=N", help="per-task limit (overrides --limit)")
    p.add_argument("--data", action="append", metavar="[TASK=]PATH",
                   help="data source (JSONL, directory, HF dataset); TASK=PATH with several tasks")
    p.add_argument("--task-option", action="append", metavar="[TASK:]KEY=VALUE",
                   help="task option, e.g. copyright:protocol=cyberseceval (see `cub tasks --verbose`)")
    p.add_argument("--max-new-tokens", type=int, help="override the tasks' generation budget")
    p.add_argument("--num-samples", type=int, help="completions per prompt (pass@k needs > 1)")
    p.add_argument("--temperature", type=float, help="sampling temperature (0 = greedy, the default)")
    p.add_argument("--top-p", type=float, help="nucleus sampling threshold with --temperature > 0 (default 1.0)")
    p.add_argument("--config", dest="config_file", help="YAML file with any of these options")
    p.add_argument("--overwrite", action="store_true", default=None,
                   help="replace an output dir that holds another model's or config's run")
    p.add_argument("--quiet", action="store_true", default=None, help="no progress bars")
    p.add_argument("--allow-code-execution", action="store_true", default=None,
                   help="allow tasks that execute model-generated code (always inside the sandbox)")
    p.add_argument("--sandbox", choices=sandbox_choices(), help="sandbox backend")
    p.add_argument("--allow-unsafe-execution", action="store_true", default=None,
                   help="permit the last-resort 'process' sandbox (rlimits only, no isolation)")
    p.add_argument("--exec-workers", type=int, help="parallel sandboxed executions (default: CPU count)")
    p.add_argument("--threads", type=int, help="CPU threads for the model (default: all cores but one, minus "
                   "those the load average shows busy; at least 1): a core taken by another process stalls "
                   "every torch thread")
    tracking.add_arguments(p)


_FIELDS = ("model", "revision", "apply_chat_template", "system_prompt", "data_parallel_size",
           "gpu_memory_utilization", "max_model_len",
           "backend", "batch_size", "dtype", "device", "tensor_parallel_size", "seed", "output_dir",
           "limit", "max_new_tokens", "num_samples", "temperature", "top_p", "overwrite", "quiet",
           "allow_code_execution", "sandbox", "allow_unsafe_execution", "exec_workers", "threads", "config_file",
           "base_url", "api_key_env", "num_concurrent", "request_timeout", "max_retries", "tokenizer")


def config_from_args(args: argparse.Namespace) -> EvalConfig:
    """Defaults < YAML file (--config) < command line."""
    values: dict[str, Any] = {}
    if getattr(args, "config_file", None):
        values.update(EvalConfig.from_yaml(args.config_file))
    for name in _FIELDS:
        v = getattr(args, name, None)
        if v is not None:
            values[name] = v
    if getattr(args, "model_args", None):
        values["model_args"] = {**values.get("model_args", {}), **parse_model_args(args.model_args)}
    if getattr(args, "tasks", None):
        values["tasks"] = [t.strip() for t in args.tasks.split(",") if t.strip()]
    tasks = values.get("tasks") or EvalConfig().tasks
    if getattr(args, "data", None):
        values["data"] = {**values.get("data", {}), **parse_data(args.data, tasks)}
    if getattr(args, "task_limit", None):
        values["task_limits"] = {**values.get("task_limits", {}), **parse_task_limits(args.task_limit, tasks)}
    if getattr(args, "task_option", None):
        merged = dict(values.get("task_options", {}))
        for t, opts in parse_key_values(args.task_option, tasks, "--task-option").items():
            merged[t] = {**merged.get(t, {}), **opts}
        values["task_options"] = merged
    return EvalConfig.from_dict(values, origin="config")


def run(args: argparse.Namespace) -> int:
    from code_unlearn_bench.errors import CubError
    from code_unlearn_bench.evaluation.run import evaluate
    from code_unlearn_bench.store import RunStore
    from code_unlearn_bench.ui import UI, print_results

    config = config_from_args(args)
    if not config.model:
        raise CubError("--model is required (a path, smollm2-135m for the embedded default, or with "
                       "--backend openai the served model id)")
    if not config.output_dir:
        raise CubError("--output-dir is required")
    with tracking.session(args, "evaluate", config.to_json()) as tracker:
        ui = UI(quiet=config.quiet)
        try:
            results = evaluate(config, ui=ui)
        finally:
            ui.close()
        tracker.log_results(results)
        tracker.log_generations(config.output_dir)
    print_results(results, str(RunStore(config.output_dir).results_path))
    return 0
