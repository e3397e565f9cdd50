"""`cub evaluate --backend hf` on CPU at several ``--threads`` settings, side by side: the README's
first command (embedded SmolLM2-135M, copyright task), shortened with --limit/--max-new-tokens.

Each setting is a whole `cub evaluate` in a fresh process (model load included; the same for all
settings), settings alternating over the repeats, the minimum counts. The machine's load average
is printed before each run: a core held by another process is what makes extra threads slow.
``--hold-core`` adds one such process (a busy loop) for the measurement.

    python bench/cpu_threads.py [--threads 1,2,default] [--limit 2] [--max-new-tokens 32] [--repeats 2] [--hold-core]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def one_run(threads: str, limit: int, max_new_tokens: int, out: Path) -> float:
    cmd = [sys.executable, "-m", "code_unlearn_bench", "evaluate", "--model", "smollm2-135m", "--tasks", "copyright",
           "--backend", "hf", "--device", "cpu", "--limit", str(limit), "--max-new-tokens", str(max_new_tokens),
           "--output-dir", str(out), "--overwrite", "--quiet"]
    if threads != "default":
        cmd += ["--threads", threads]
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}  # let --threads / the default decide
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", default="1,2,default")
    ap.add_argument("--limit", type=int, default=2)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--hold-core", action="store_true", help="keep one core busy with a spinning process")
    args = ap.parse_args()
    settings = args.threads.split(",")
    holder = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if args.hold_core else None
    times: dict[str, list[float]] = {s: [] for s in settings}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for r in range(args.repeats):
                for s in settings if r % 2 == 0 else reversed(settings):
                    load = os.getloadavg()[0]
                    times[s].append(one_run(s, args.limit, args.max_new_tokens, Path(tmp) / s))
                    print(f"repeat {r} threads={s}: {times[s][-1]:.1f} s (load average before: {load:.1f})",
                          flush=True)
    finally:
        if holder is not None:
            holder.kill()
            holder.wait()
    from code_unlearn_bench.evaluation.threads import cores, default_threads

    print(f"cores {cores()}, default now {default_threads()} thread(s)")
    for s in settings:
        print(f"threads={s}: min {min(times[s]):.1f} s over {len(times[s])} runs")


if __name__ == "__main__":
    main()
