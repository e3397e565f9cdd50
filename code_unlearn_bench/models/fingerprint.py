"""Model fingerprint: sha256 over every byte of the weight files plus the config files.

Weight files are hashed streamed, several files in parallel threads (hashlib releases the GIL on
large buffers), and each file's digest is cached in the user cache dir keyed by (resolved path,
size, mtime_ns): a 7B checkpoint is read once, later runs pay one ``stat`` per file. A rewritten
file gets a new mtime, so a changed middle layer is never served from the cache.
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterable

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")
SKIP_JSON = ("cub_checkpoint.json",)  # lineage metadata: not part of what the model computes
_BLOCK = 8 << 20


def _cache_dir() -> Path:
    from code_unlearn_bench.env import get_env

    return get_env().cache_dir / "fingerprints"


def _cache_entry(path: Path) -> Path:
    return _cache_dir() / (hashlib.sha256(str(path).encode()).hexdigest()[:32] + ".json")


def _stamp(path: Path) -> dict:
    st = path.stat()
    return {"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def file_sha256(path: Path, use_cache: bool = True) -> str:
    """Hex sha256 of the whole file (cached by path, size and mtime_ns)."""
    path = Path(path).resolve()  # HF cache snapshots are symlinks into blobs/
    stamp = _stamp(path)
    entry = _cache_entry(path)
    if use_cache:
        try:
            cached = json.loads(entry.read_text())
            if {k: cached.get(k) for k in stamp} == stamp:
                return cached["sha256"]
        except (OSError, ValueError, KeyError):
            pass
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(_BLOCK), b""):
            h.update(block)
    digest = h.hexdigest()
    if use_cache and _stamp(path) == stamp:  # not modified while we read it
        try:
            from code_unlearn_bench.jsonio import atomic_write_text

            atomic_write_text(entry, json.dumps({**stamp, "sha256": digest}))
        except OSError:
            pass  # a read-only cache only costs speed
    return digest


def _files(roots: Iterable[Path]) -> list[tuple[str, Path]]:
    """(label, path): the label is the root's index and the file name, never the directory name, so
    the same weights copied elsewhere keep their fingerprint."""
    out = []
    for i, root in enumerate(roots):
        if root.is_file():
            out.append((f"{i}:{root.name}", root))
            continue
        for f in sorted(root.iterdir()):
            if f.is_file() and (f.suffix in WEIGHT_SUFFIXES or (f.suffix == ".json" and f.name not in SKIP_JSON)):
                out.append((f"{i}:{f.name}", f))
    return out


def fingerprint_paths(roots: Iterable[Path], use_cache: bool = True, workers: int | None = None) -> str:
    """``sha256:<hex>`` over (name, size, full sha256) of every weight and JSON config file."""
    files = _files(roots)
    workers = workers or min(8, os.cpu_count() or 1, max(1, len(files)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        digests = list(pool.map(lambda nf: file_sha256(nf[1], use_cache), files))
    h = hashlib.sha256()
    for (label, path), digest in zip(files, digests):
        h.update(f"{label}:{path.stat().st_size}:{digest}\n".encode())
    return "sha256:" + h.hexdigest()
