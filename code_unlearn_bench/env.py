"""Environment variables, parsed once at first use (no import-time side effects)."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Env:
    cache_dir: Path  # CUB_CACHE_DIR, else the platform user cache dir
    data_dir: Path | None  # CUB_DATA_DIR: where shared benchmark data lives (CyberSecEval, ...)
    no_color: bool  # NO_COLOR
    sandbox_image: str  # CUB_SANDBOX_IMAGE: docker image of the code sandbox
    cyberseceval_path: Path | None  # CUB_CYBERSECEVAL_PATH: CyberSecEval autocomplete.json
    hf_hub_cache: Path  # HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub
    hf_offline: bool  # HF_HUB_OFFLINE=1 (or TRANSFORMERS_OFFLINE=1): never contact the hub


def _parse() -> Env:
    cache = os.environ.get("CUB_CACHE_DIR") or _user_cache_dir()
    data = os.environ.get("CUB_DATA_DIR")
    cse = os.environ.get("CUB_CYBERSECEVAL_PATH")
    hf_home = os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface")
    hub_cache = os.environ.get("HF_HUB_CACHE") or os.path.join(hf_home, "hub")
    offline = any(os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on")
                  for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))
    return Env(cache_dir=Path(cache).expanduser(), data_dir=Path(data).expanduser() if data else None,
               no_color=bool(os.environ.get("NO_COLOR")),
               sandbox_image=os.environ.get("CUB_SANDBOX_IMAGE") or "python:3.11-slim",
               cyberseceval_path=Path(cse).expanduser() if cse else None,
               hf_hub_cache=Path(hub_cache).expanduser(), hf_offline=offline)


def _user_cache_dir() -> str:
    # imported only when needed: a machine with CUB_CACHE_DIR set may lack platformdirs (the GPU check)
    from platformdirs import user_cache_dir

    return user_cache_dir("code-unlearn-bench")


@functools.lru_cache(maxsize=1)
def get_env() -> Env:
    return _parse()


def shared_data_dir() -> Path | None:
    """Benchmark data for loaders whose upstream cannot be downloaded here: CUB_DATA_DIR, else a
    ``shared/data`` folder beside a source checkout (how development machines and CI lay it out)."""
    env = get_env()
    if env.data_dir is not None:
        return env.data_dir
    here = Path(__file__).resolve().parent.parent
    candidate = here.parent / "shared" / "data"
    return candidate if candidate.is_dir() else None
