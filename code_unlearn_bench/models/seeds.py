"""Per-completion seeds: stable across runs, backends and resumes; distinct per sample and copy."""

from __future__ import annotations

import hashlib


def sample_seed(run_seed: int, sample_id: str, index: int) -> int:
    digest = hashlib.sha256(f"{run_seed}:{sample_id}:{index}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF
