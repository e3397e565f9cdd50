"""Overhead of `cub evaluate --backend vllm` (copyright task) over a raw `LLM.generate` (GPU only).

Both sides run as fresh processes on the same GPU and are timed wall-clock from process start to
exit, each loading the model: the raw side builds `vllm.LLM` with the same options and sends the
same token prompts in one `LLM.generate` call with the same greedy SamplingParams; the cub side is
the CLI (replica child process, 256-sample chunks, results written as they go, scoring). Prints
both times and the ratio (target <= 1.1x). Without vllm or a CUDA GPU it exits with a message.

    python bench/vllm_overhead.py [--model smollm2-135m] [--limit 20] [--max-new-tokens 256] [--repeats 2]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import subprocess
import sys
import tempfile
import time


def require_gpu_and_vllm() -> None:
    import torch

    if importlib.util.find_spec("vllm") is None:
        sys.exit("bench/vllm_overhead.py: vllm is not installed (pip install 'code-unlearn-bench[vllm]'); "
                 "this bench needs vllm and a CUDA GPU")
    if not torch.cuda.is_available():
        sys.exit("bench/vllm_overhead.py: no CUDA GPU visible; this bench needs vllm and a CUDA GPU")


def raw_side(spec: str, limit: int, max_new_tokens: int) -> None:
    """Child process: the plain vLLM program a user would write for the same prompts."""
    from vllm import LLM, SamplingParams

    from code_unlearn_bench.models.loading import load_tokenizer, resolve_model
    from code_unlearn_bench.tasks.spec import get_task

    resolved = resolve_model(spec)
    tok = load_tokenizer(resolved)
    prompts = [{"prompt_token_ids": tok(s.prompt)["input_ids"]}
               for s in get_task("copyright").load_samples(limit=limit)]
    llm = LLM(model=str(resolved.path), dtype="bfloat16", seed=1234, gpu_memory_utilization=0.9)
    outs = llm.generate(prompts, SamplingParams(temperature=0.0, max_tokens=max_new_tokens), use_tqdm=False)
    print(json.dumps({"n": len(outs)}))


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"bench/vllm_overhead.py: {' '.join(cmd[:4])}... failed:\n{proc.stderr[-2000:]}")
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--limit", type=int, default=20)
    ap.add_argument("--max-new-tokens", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=2, help="alternating repeats; the minimum counts")
    ap.add_argument("--raw-side", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.raw_side:
        raw_side(args.model, args.limit, args.max_new_tokens)
        return
    require_gpu_and_vllm()
    from code_unlearn_bench.models.loading import resolve_model

    resolve_model(args.model)  # converts the embedded model once, outside the timing
    raw_cmd = [sys.executable, __file__, "--raw-side", "--model", args.model, "--limit", str(args.limit),
               "--max-new-tokens", str(args.max_new_tokens)]
    raw, cub = [], []
    for _ in range(args.repeats):
        out = tempfile.mkdtemp(prefix="cub-vllm-bench-")
        try:
            raw.append(timed(raw_cmd))
            cub.append(timed([sys.executable, "-m", "code_unlearn_bench", "evaluate", "--model", args.model,
                              "--backend", "vllm", "--tasks", "copyright", "--limit", str(args.limit),
                              "--max-new-tokens", str(args.max_new_tokens), "--output-dir", out, "--quiet"]))
        finally:
            shutil.rmtree(out, ignore_errors=True)
    r, c = min(raw), min(cub)
    print(f"model={args.model} samples={args.limit} max_new_tokens={args.max_new_tokens}")
    print(f"raw LLM.generate (process) : {r:7.2f} s  ({args.limit / r:.3f} samples/s)")
    print(f"cub evaluate --backend vllm: {c:7.2f} s  ({args.limit / c:.3f} samples/s)")
    print(f"overhead ratio cub/raw     : {c / r:.3f}x  (target <= 1.1x)")


if __name__ == "__main__":
    main()
