"""Start llama-cpp-python's OpenAI-compatible server on a free 127.0.0.1 port (the openai
backend's tests and bench serve the embedded GGUF with it; also a quick way to try the backend).

Bounded waits, its own process group, stopped on exit of the ``with`` block: no leaked servers.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from code_unlearn_bench.errors import CubError


@dataclass
class LocalServer:
    base_url: str  # ".../v1"
    model_id: str
    gguf: Path
    proc: subprocess.Popen
    log: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _up(url: str) -> bool:
    import requests

    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def available() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None and importlib.util.find_spec("uvicorn") is not None


@contextmanager
def llama_cpp_server(gguf: Path, model_id: str, log: Path, n_ctx: int = 8192, threads: int = 1,
                     start_timeout_s: float = 90.0) -> Iterator[LocalServer]:
    if not available():
        raise CubError("llama-cpp-python's server is not installed: pip install 'llama-cpp-python[server]'")
    for _ in range(3):  # the free port may be taken between probing and binding: retry
        port = _free_port()
        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", model_id,
               "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx), "--n_threads", str(threads),
               "--n_threads_batch", str(threads), "--seed", "0", "--verbose", "False"]
        with log.open("ab") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        url = f"http://127.0.0.1:{port}/v1"
        deadline = time.monotonic() + start_timeout_s
        while time.monotonic() < deadline and proc.poll() is None and not _up(f"{url}/models"):
            time.sleep(0.2)
        if proc.poll() is None and _up(f"{url}/models"):
            break
        _stop(proc)
    else:
        tail = log.read_text(errors="replace")[-500:].replace("\n", " | ")
        raise CubError(f"llama-cpp-python's server did not start (log {log}: ...{tail})")
    try:
        yield LocalServer(url, model_id, gguf, proc, log)
    finally:
        _stop(proc)
