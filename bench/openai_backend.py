"""Overhead of `cub evaluate --backend openai` over a plain concurrent client sending the same
requests to the same local OpenAI-compatible server (llama-cpp-python serving the embedded GGUF).

Both sides: the copyright task's prompts, greedy, the same request bodies (models/openai.py builds
them; the plain side copies its fields), the same number of requests in flight. The cub side is a
whole `evaluate` (connect, tokenizer, generation, scoring, results.json); its generation time alone
is printed too. Alternating repeats, the minimum counts. Target <= 1.1x.

    python bench/openai_backend.py [--limit 20] [--max-new-tokens 32] [--num-concurrent 4] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

SERVED_ID = "smollm2-135m-q4"


def plain_client(base_url: str, payloads: list[dict], num_concurrent: int) -> float:
    import threading

    import requests

    local = threading.local()

    def post(payload):
        if not hasattr(local, "s"):
            local.s = requests.Session()
        r = local.s.post(f"{base_url}/completions", json=payload, timeout=600)
        r.raise_for_status()
        return r.json()["choices"][0]["text"]

    t0 = time.perf_counter()
    with ThreadPoolExecutor(num_concurrent) as pool:
        list(pool.map(post, payloads))
    return time.perf_counter() - t0


def cub_evaluate(base_url: str, limit: int, max_new_tokens: int, num_concurrent: int) -> tuple[float, float]:
    from code_unlearn_bench.config import EvalConfig
    from code_unlearn_bench.evaluation.run import evaluate

    out = tempfile.mkdtemp(prefix="cub-bench-openai-")
    try:
        cfg = EvalConfig(model=SERVED_ID, tasks=["copyright"], output_dir=out, limit=limit, backend="openai",
                         base_url=base_url, tokenizer="smollm2-135m", max_new_tokens=max_new_tokens,
                         num_concurrent=num_concurrent, quiet=True)
        t0 = time.perf_counter()
        evaluate(cfg)
        total = time.perf_counter() - t0
        manifest = json.loads((Path(out) / "manifest.json").read_text())
        return total, manifest["tasks"]["copyright"]["generation_s"]
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=20)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--num-concurrent", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2, help="llama.cpp threads of the server")
    ap.add_argument("--repeats", type=int, default=2, help="alternating repeats; the minimum counts")
    args = ap.parse_args()

    from code_unlearn_bench.models import local_server
    from code_unlearn_bench.models.base import GenerationSettings
    from code_unlearn_bench.models.embedded import gguf_path
    from code_unlearn_bench.models.loading import load_tokenizer, resolve_model
    from code_unlearn_bench.models.openai import NEUTRAL_SAMPLING
    from code_unlearn_bench.tasks.spec import get_task

    load_tokenizer(resolve_model("smollm2-135m"))  # converts the embedded model once, outside the timing
    prompts = [s.prompt for s in get_task("copyright").load_samples(limit=args.limit)]
    settings = GenerationSettings(max_new_tokens=args.max_new_tokens)
    payloads = [{**NEUTRAL_SAMPLING, "model": SERVED_ID, "max_tokens": settings.max_new_tokens, "temperature": 0.0,
                 "top_p": 1.0, "prompt": p, "seed": settings.seed} for p in prompts]
    log = Path(tempfile.mkdtemp(prefix="cub-bench-server-")) / "server.log"
    with local_server.llama_cpp_server(gguf_path("smollm2-135m"), SERVED_ID, log, threads=args.threads) as server:
        plain_client(server.base_url, payloads[:2], 2)  # warm the server (weights paged in)
        plain, cub, gen = [], [], []
        for _ in range(args.repeats):
            plain.append(plain_client(server.base_url, payloads, args.num_concurrent))
            total, generation = cub_evaluate(server.base_url, args.limit, args.max_new_tokens, args.num_concurrent)
            cub.append(total)
            gen.append(generation)
    p, c, g = min(plain), min(cub), min(gen)
    n = len(prompts)
    print(f"server=llama-cpp-python ({args.threads} threads) samples={n} max_new_tokens={args.max_new_tokens} "
          f"num_concurrent={args.num_concurrent} repeats={args.repeats}")
    print(f"plain concurrent client       : {p:7.2f} s  ({n / p:.3f} samples/s)")
    print(f"cub evaluate --backend openai : {c:7.2f} s  ({n / c:.3f} samples/s; generation {g:.2f} s)")
    print(f"overhead ratio cub/plain      : {c / p:.3f}x end to end, {g / p:.3f}x generation (target <= 1.1x)")


if __name__ == "__main__":
    main()
