"""Steps of `cub reproduce` in child processes, fanned out over GPUs.

Each job runs in a fresh spawned process (``max_tasks_per_child=1``): when it ends, its model,
vLLM engine and CUDA context go with it, so the next evaluation starts from an empty GPU. With
``--gpus 0,1,2,3`` there is one worker per GPU (``CUDA_VISIBLE_DEVICES`` set before the child
imports torch) and independent jobs run side by side; without, one job at a time.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any, Callable, Sequence


def _pin(gpu: str | None) -> None:
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu


def fan_out(jobs: Sequence[tuple[str, Callable[..., Any], tuple]], gpus: Sequence[str] | None,
            on_done: Callable[[str, Any], None]) -> None:
    """Run ``fn(*args)`` of every (key, fn, args) in a child process; ``on_done(key, result)`` in
    the parent as each finishes (so a crash loses only the jobs still running)."""
    if not jobs:
        return
    slots = list(gpus) if gpus else [None]
    ctx = multiprocessing.get_context("spawn")
    pools = {slot: ProcessPoolExecutor(1, mp_context=ctx, initializer=_pin, initargs=(slot,), max_tasks_per_child=1)
             for slot in slots}
    pending = list(jobs)
    running: dict[Any, tuple[str, Any]] = {}
    try:
        while pending or running:
            busy = {slot for _, slot in running.values()}
            for slot in slots:
                if pending and slot not in busy:
                    key, fn, args = pending.pop(0)
                    running[pools[slot].submit(fn, *args)] = (key, slot)
            done, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for future in done:
                key, _ = running.pop(future)
                on_done(key, future.result())  # a failed step raises here, after the others' results
    finally:
        for pool in pools.values():
            pool.shutdown(wait=True, cancel_futures=True)
