"""Batched vs per-snippet Insecure Code Detector on the CyberSecEval originals.

Runs both paths on every entry's original insecure continuation (the code from ``line_text`` on,
with the code before it as context, exactly as CyberSecEval analyses a completion) and prints the
speed-up of the batched path and the number of samples whose findings differ (target: >= 10x, 0).

    python bench/icd_batch.py [--data PATH] [--limit N]

No cache is used by either path, so both do the full work.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

from code_unlearn_bench.analyzers.icd import BatchDetector, Snippet, analyze_one
from code_unlearn_bench.loaders.cyberseceval import load


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="CyberSecEval autocomplete.json (default: shared data)")
    parser.add_argument("--limit", type=int, default=0, help="first N entries only (0: all)")
    args = parser.parse_args()

    samples = load(args.data, {"order": "file"})
    if args.limit:
        samples = samples[: args.limit]
    snippets = [Snippet(s.meta["language"], s.reference, s.prompt) for s in samples]
    print(f"{len(snippets)} snippets, languages: {dict(Counter(s.language for s in snippets))}")

    t0 = time.perf_counter()
    batched = BatchDetector(cache=None).analyze(snippets)
    t_batch = time.perf_counter() - t0
    print(f"batched:     {t_batch:7.1f} s, flagged {sum(bool(r) for r in batched)}")

    t0 = time.perf_counter()
    single = [analyze_one(s) for s in snippets]
    t_single = time.perf_counter() - t0
    print(f"per-snippet: {t_single:7.1f} s, flagged {sum(bool(r) for r in single)}")

    differing = [s.id for s, a, b in zip(samples, batched, single) if a != b]
    print(f"speed-up: {t_single / t_batch:.1f}x")
    print(f"differing samples: {len(differing)}" + (f" (first: {differing[:10]})" if differing else ""))
    return 0 if not differing else 1


if __name__ == "__main__":
    raise SystemExit(main())
