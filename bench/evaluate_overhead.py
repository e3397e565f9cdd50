"""Overhead of `cub evaluate` (copyright task) over a plain `model.generate` loop.

Both sides: the same model, prompts, greedy decoding, max new tokens, batch size and left padding,
timed in one process, each including model loading. Prints the ratio (target <= 1.1x) and samples/s.

    python bench/evaluate_overhead.py [--model smollm2-135m] [--limit 8] [--max-new-tokens 64] [--batch-size 4]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time


def plain_loop(model_path: str, prompts: list[str], max_new_tokens: int, batch_size: int) -> float:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    t0 = time.perf_counter()
    tok = AutoTokenizer.from_pretrained(model_path)
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32).eval()
    order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
    for start in range(0, len(order), batch_size):
        batch = [prompts[i] for i in order[start:start + batch_size]]
        enc = tok(batch, return_tensors="pt", padding=True)
        with torch.inference_mode():
            out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                 pad_token_id=tok.pad_token_id)
        tok.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    return time.perf_counter() - t0


def cub_evaluate(model: str, limit: int, max_new_tokens: int, batch_size: int) -> float:
    from code_unlearn_bench.config import EvalConfig
    from code_unlearn_bench.evaluation.run import evaluate

    out = tempfile.mkdtemp(prefix="cub-bench-")
    try:
        cfg = EvalConfig(model=model, tasks=["copyright"], output_dir=out, limit=limit, backend="hf",
                         max_new_tokens=max_new_tokens, batch_size=batch_size, quiet=True)
        t0 = time.perf_counter()
        evaluate(cfg)
        return time.perf_counter() - t0
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--limit", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=2, help="alternating repeats; the minimum counts")
    args = ap.parse_args()

    from code_unlearn_bench.models.loading import resolve_model
    from code_unlearn_bench.tasks.spec import get_task

    path = str(resolve_model(args.model).path)  # converts the embedded model once, outside the timing
    prompts = [s.prompt for s in get_task("copyright").load_samples(limit=args.limit)]
    plain_loop(path, prompts[:1], 4, 1)  # warm caches (file system, torch kernels) for both sides
    plain, cub = [], []
    for _ in range(args.repeats):
        plain.append(plain_loop(path, prompts, args.max_new_tokens, args.batch_size))
        cub.append(cub_evaluate(args.model, args.limit, args.max_new_tokens, args.batch_size))
    p, c = min(plain), min(cub)
    n = len(prompts)
    print(f"model={args.model} samples={n} max_new_tokens={args.max_new_tokens} batch_size={args.batch_size}")
    print(f"plain model.generate loop : {p:7.2f} s  ({n / p:.3f} samples/s)")
    print(f"cub evaluate (copyright)  : {c:7.2f} s  ({n / c:.3f} samples/s)")
    print(f"overhead ratio cub/plain  : {c / p:.3f}x  (target <= 1.1x)")


if __name__ == "__main__":
    main()
