"""Per-program time limits scaled by the reference solution's runtime on this machine.

EvalPlus-style: ``limit = max(floor_s, factor x t_ref)``, where ``t_ref`` is the median wall time
of the reference (canonical) program in the same sandbox on this machine. A slow or loaded machine
then gives slow problems more time instead of reporting spurious timeouts, while the floor keeps
the usual limit (HumanEval: the reference code's 10 s) wherever the reference is fast.

Measurements are cached in the user cache dir (``humaneval-timing.json``), keyed by the program
text, the sandbox's description and the machine, so each problem is measured once per machine.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import statistics
from pathlib import Path
from typing import Sequence

from code_unlearn_bench.sandbox.base import Limits, Sandbox

CACHE_FILE = "reference-timing.json"
CACHE_SCHEMA = 1
REPEATS = 3  # runs per reference program; the median is kept


def machine_id() -> dict[str, object]:
    return {"node": platform.node(), "machine": platform.machine(), "cpus": os.cpu_count()}


def timing_key(program: str, sandbox: Sandbox, memory_mb: int) -> str:
    payload = json.dumps([CACHE_SCHEMA, program, sandbox.describe(), memory_mb, machine_id()], sort_keys=True)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _read_cache(path: Path) -> dict[str, float]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # missing or torn: measure again
    return {k: float(v) for k, v in data.items() if isinstance(v, (int, float))} if isinstance(data, dict) else {}


def _write_cache(path: Path, entries: dict[str, float]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(entries, sort_keys=True), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only cache only costs a re-measurement next time


def reference_times(programs: Sequence[str], sandbox: Sandbox, memory_mb: int, measure_timeout_s: float,
                    workers: int | None, cache_dir: str | os.PathLike | None) -> tuple[list[float | None], int]:
    """Median wall time of each reference program (None where it did not pass), and how many
    were measured now rather than read from the cache."""
    path = Path(cache_dir) / CACHE_FILE if cache_dir else None
    cached = _read_cache(path) if path else {}
    keys = [timing_key(p, sandbox, memory_mb) for p in programs]
    todo = sorted({k: p for k, p in zip(keys, programs) if k not in cached}.items())
    if todo:
        limits = Limits(timeout_s=measure_timeout_s, memory_mb=memory_mb)
        runs = sandbox.run([p for _, p in todo for _ in range(REPEATS)], limits, workers)
        fresh = {}
        for n, (key, _) in enumerate(todo):
            mine = runs[n * REPEATS:(n + 1) * REPEATS]
            if all(r.passed and r.wall_s is not None for r in mine):
                fresh[key] = round(statistics.median(r.wall_s for r in mine), 4)
        if path and fresh:
            _write_cache(path, {**_read_cache(path), **fresh})
        cached = {**cached, **fresh}
    return [cached.get(k) for k in keys], len(todo)


def scaled_limit(floor_s: float, factor: float, reference_s: float | None) -> float:
    """max(floor, factor x reference); the floor alone when the reference could not be timed."""
    if reference_s is None:
        return floor_s
    return max(floor_s, round(factor * reference_s, 2))
