"""Seconds per GB of the full-weight model fingerprint: cold (every byte hashed), serial vs
parallel files, and cached (a later run: one stat per file).

The files are read once before timing, so "cold" measures hashing from the page cache, not the
disk; on a first run from disk add the disk's read time. Without --model a synthetic checkpoint of
--size-gb GB in --files safetensors-named files is written to a temp dir.

    python bench/fingerprint.py [--model smollm2-135m | PATH] [--size-gb 1] [--files 4]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path


def synthetic(root: Path, size_gb: float, files: int) -> Path:
    root.mkdir(parents=True)
    per = int(size_gb * (1 << 30) / files)
    block = os.urandom(1 << 20)
    for i in range(files):
        with (root / f"model-{i:05d}-of-{files:05d}.safetensors").open("wb") as f:
            for _ in range(per >> 20):
                f.write(block)
    (root / "config.json").write_text("{}")
    return root


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="model spec (default: a synthetic checkpoint)")
    ap.add_argument("--size-gb", type=float, default=1.0)
    ap.add_argument("--files", type=int, default=4)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cub-fp-bench-"))
    try:
        from code_unlearn_bench.models import fingerprint as fp

        fp._cache_dir = lambda: tmp / "cache"  # a private digest cache: cold means cold
        if args.model:
            from code_unlearn_bench.models.loading import resolve_model

            r = resolve_model(args.model)
            roots = [r.path] + ([r.base_path] if r.base_path else [])
        else:
            roots = [synthetic(tmp / "model", args.size_gb, args.files)]
        files = fp._files(roots)
        gb = sum(p.stat().st_size for _, p in files) / (1 << 30)
        for _, p in files:  # page cache warm: time the hashing, not the disk
            with p.open("rb") as f:
                while f.read(8 << 20):
                    pass
        serial = timed(lambda: fp.fingerprint_paths(roots, use_cache=False, workers=1))
        parallel = timed(lambda: fp.fingerprint_paths(roots, use_cache=False))
        fp.fingerprint_paths(roots)  # fills the digest cache
        cached = timed(lambda: fp.fingerprint_paths(roots))
        n = len(files)
        print(f"checkpoint: {args.model or 'synthetic'}  {gb:.2f} GB in {n} files  cpus={os.cpu_count()}")
        print(f"cold, 1 thread        : {serial:8.3f} s  {serial / gb:7.3f} s/GB")
        print(f"cold, parallel files  : {parallel:8.3f} s  {parallel / gb:7.3f} s/GB  "
              f"({min(8, os.cpu_count() or 1, n)} threads)")
        print(f"cached (later runs)   : {cached:8.4f} s  {cached / gb:7.4f} s/GB")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
