"""Engine replicas in child processes: data parallelism over GPUs, and a clean GPU per evaluation.

``--data-parallel-size N`` starts N children, each pinned to its own GPU (or tensor-parallel group of
GPUs) through ``CUDA_VISIBLE_DEVICES``; vLLM's offline API runs data parallelism the same way, one
process per rank. Each child loads the model once, generates its round-robin shard of every task's
pending samples and appends finished chunks to ``generations/<task>.part-<rank>.jsonl``. The
parent then merges the parts into ``<task>.jsonl`` (by sample id, so a merge interrupted half-way
is redone without duplicates) and deletes them. A crashed or killed run resumes: leftover parts are
merged first and only what is still missing is sharded again. vLLM always runs this way, even with
N = 1: a child's exit is the only reliable way to hand all of its GPU memory back.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from code_unlearn_bench.errors import CubError, out_of_memory, out_of_memory_message
from code_unlearn_bench.store import RunStore


def part_name(task: str, rank: int) -> str:
    return f"{task}.part-{rank}"


def _plan_path(store: RunStore, rank: int) -> Path:
    return store.gen_dir / f"replica-{rank}.json"


def _log_path(store: RunStore, rank: int) -> Path:
    return store.gen_dir / f"replica-{rank}.log"


def replica_devices(n: int, tp: int, needs_gpu: bool) -> list[str | None]:
    """CUDA_VISIBLE_DEVICES of each replica (None: leave the environment alone, e.g. CPU)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        ids = [x.strip() for x in visible.split(",") if x.strip()]
    else:
        import torch

        ids = [str(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    if not ids and not needs_gpu:
        return [None] * n  # hf on CPU: plain processes (how the replica path is tested without GPUs)
    need = n * tp
    if len(ids) < need:
        raise CubError(f"--data-parallel-size {n} x --tensor-parallel-size {tp} needs {need} GPUs, "
                       f"{len(ids)} visible")
    return [",".join(ids[r * tp:(r + 1) * tp]) for r in range(n)]


def merge_parts(store: RunStore, task: str) -> int:
    """Move the records of every part file of ``task`` into its generation file; returns how many."""
    done = {r["id"] for r in store.read_records(task)}
    moved = 0
    for part in sorted(store.gen_dir.glob(f"{task}.part-*.jsonl")) if store.gen_dir.exists() else []:
        name = part.name[:-len(".jsonl")]
        fresh = [r for r in store.read_records(name) if r["id"] not in done]
        if fresh:
            store.append_records(task, fresh)
            done.update(r["id"] for r in fresh)
            moved += len(fresh)
        part.unlink()
    return moved


def _count_lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def generate_in_replicas(store: RunStore, manifest: dict[str, Any], prepared: list, config, backend: str,
                         ui=None) -> None:
    """Generate every pending sample of ``prepared`` in ``config.data_parallel_size`` child processes;
    ``backend``: the one the run chose (models.selection.check_backend_options)."""
    from code_unlearn_bench.models.selection import capabilities

    n = config.data_parallel_size
    shards: list[dict[str, list[str]]] = [{} for _ in range(n)]
    totals: dict[str, int] = {}
    for pt in prepared:
        name = pt.task.name
        merge_parts(store, name)
        done = {r["id"] for r in store.read_records(name)}
        pending = sorted((s for s in pt.samples if s.id not in done), key=lambda s: -len(s.prompt))
        totals[name] = len(pending)
        if ui:
            ui.progress.start(name, total=len(pt.samples), completed=len(pt.samples) - len(pending))
        for rank in range(n):  # round-robin over length-sorted samples: shards of equal work
            if pending[rank::n]:
                shards[rank][name] = [s.id for s in pending[rank::n]]
    if not any(totals.values()):
        return
    devices = replica_devices(n, config.tensor_parallel_size, capabilities(backend).needs_gpu)
    procs = []
    for rank, shard in enumerate(shards):
        if not shard:
            continue
        from code_unlearn_bench.jsonio import atomic_write_text

        atomic_write_text(_plan_path(store, rank), json.dumps({"tasks": shard, "backend": backend}))
        env = dict(os.environ)
        if devices[rank] is not None:
            env["CUDA_VISIBLE_DEVICES"] = devices[rank]
        # Engine logs go to a file: a pipe nobody reads while the child runs would fill and block it.
        with _log_path(store, rank).open("w") as log:
            procs.append((rank, subprocess.Popen([sys.executable, "-m", "code_unlearn_bench.evaluation.replicas",
                                                  str(store.root), str(rank)], env=env,
                                                 stdout=log, stderr=subprocess.STDOUT)))
    t0 = time.perf_counter()
    try:
        _wait(store, procs, totals, ui)
    finally:
        for _, p in procs:  # interrupted (Ctrl-C): stop the children too; their parts stay
            if p.poll() is None:
                p.terminate()
                p.wait()
    elapsed = time.perf_counter() - t0
    for name in totals:
        moved = merge_parts(store, name)
        tstate = manifest["tasks"].setdefault(name, {"generation_s": 0.0, "n_generated": 0})
        tstate["generation_s"] = round(tstate["generation_s"] + (elapsed if moved else 0.0), 3)
        tstate["n_generated"] += moved
    store.write_manifest(manifest)
    for rank in range(n):
        _plan_path(store, rank).unlink(missing_ok=True)
        _log_path(store, rank).unlink(missing_ok=True)


def _wait(store: RunStore, procs: list, totals: dict[str, int], ui) -> None:
    shown = {name: 0 for name in totals}
    errors = []
    while procs:
        time.sleep(0.5)
        for rank, p in list(procs):
            if p.poll() is None:
                continue
            procs.remove((rank, p))
            if p.returncode != 0:
                log = _log_path(store, rank)
                lines = log.read_text(errors="replace").strip().splitlines() if log.exists() else []
                errors.append(f"replica {rank} failed (exit {p.returncode}): {lines[-1] if lines else 'no message'}"
                              f" (log: {log})")
        if ui:  # progress from the part files' line counts
            for name in totals:
                now = sum(_count_lines(f) for f in store.gen_dir.glob(f"{name}.part-*.jsonl"))
                if now > shown[name]:
                    ui.progress.advance(name, now - shown[name])
                    shown[name] = now
    if errors:
        raise CubError("; ".join(errors) + " (finished chunks are kept: run the command again to resume)")


def run_replica(run_dir: str, rank: int) -> None:
    """Child side: load the model once, generate this rank's shard of each task into its part file."""
    from code_unlearn_bench.config import EvalConfig
    from code_unlearn_bench.models.handle import BackendOptions
    from code_unlearn_bench.models.selection import load_backend
    from code_unlearn_bench.evaluation.prepare import prepare_tasks
    from code_unlearn_bench.evaluation.runner import generate_samples

    store = RunStore(run_dir)
    manifest = store.read_manifest()
    config = EvalConfig.from_dict({**manifest["config"], "data_parallel_size": 1}, origin="manifest")
    plan_doc = json.loads(_plan_path(store, rank).read_text())
    plan = plan_doc["tasks"]
    prepared = {pt.task.name: pt for pt in prepare_tasks(config) if pt.task.name in plan}
    options = BackendOptions.from_config(config)
    backend = load_backend(plan_doc.get("backend", config.backend), config.model, revision=config.revision,
                           **options.kwargs())
    try:
        for name, ids in plan.items():
            part = part_name(name, rank)
            wanted = set(ids) - {r["id"] for r in store.read_records(part)}
            pending = [s for s in prepared[name].samples if s.id in wanted]
            generate_samples(store, part, prepared[name], pending, backend, config)
    finally:
        backend.close()


def main(argv: list[str]) -> int:
    try:
        run_replica(argv[0], int(argv[1]))
    except CubError as exc:
        print(f"cub: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except Exception as exc:  # noqa: BLE001 - an OOM becomes the same one-line hint as in-process
        if not out_of_memory(exc):
            raise
        print(f"cub: error: {out_of_memory_message(exc, 'evaluate')}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
