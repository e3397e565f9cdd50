"""Hugging Face hub model IDs (``org/name[@revision]``): resolved to a local snapshot directory.

The snapshot comes from the HF cache (``HF_HUB_CACHE`` / ``HF_HOME``), downloaded first unless
``HF_HUB_OFFLINE=1``. Everything downstream (transformers, vLLM, the fingerprint) then reads that
directory, so a hub model behaves exactly like a local one; the repo id and the resolved commit
are recorded beside the fingerprint.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from code_unlearn_bench.errors import ModelError

# org/name: one slash, no leading dot or slash (so ./runs/x and /abs/path never look like one)
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")
# Alternative serialisations and non-PyTorch weights: never needed to run the model.
_IGNORE = ["*.msgpack", "*.h5", "*.ot", "*.onnx", "*.onnx_data", "*.tflite", "*.gguf", "original/*",
           "onnx/*", "openvino/*", "coreml/*"]


@dataclass(frozen=True)
class HubSnapshot:
    repo_id: str
    revision: str  # the resolved commit hash
    path: Path


def split_spec(spec: str, revision: str | None = None) -> tuple[str, str | None]:
    """``org/name@rev`` -> (``org/name``, ``rev``); a --revision given as well must agree."""
    name, at, rev = spec.partition("@")
    if not at:
        return spec, revision
    if not rev:
        raise ModelError(f"--model '{spec}': empty revision after '@'")
    if revision and revision != rev:
        raise ModelError(f"--model '{spec}' names revision '{rev}' but --revision is '{revision}'")
    return name, rev


def looks_like_repo_id(spec: str) -> bool:
    return bool(_REPO_ID.match(spec))


def snapshot(repo_id: str, revision: str | None = None) -> HubSnapshot:
    """The local snapshot of ``repo_id`` at ``revision`` (default: main), fetched unless offline."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (HfHubHTTPError, LocalEntryNotFoundError, RepositoryNotFoundError,
                                        RevisionNotFoundError)

    from code_unlearn_bench.env import get_env

    env = get_env()
    where = f"{repo_id}@{revision}" if revision else repo_id
    try:
        path = snapshot_download(repo_id, revision=revision, cache_dir=str(env.hf_hub_cache),
                                 local_files_only=env.hf_offline, ignore_patterns=_IGNORE)
    except RevisionNotFoundError:
        raise ModelError(f"hub model '{repo_id}' has no revision '{revision}'") from None
    except RepositoryNotFoundError:
        raise ModelError(f"hub model '{repo_id}' does not exist (or needs a token: HF_TOKEN)") from None
    except LocalEntryNotFoundError:
        if env.hf_offline:
            raise ModelError(f"hub model '{where}' is not in the Hugging Face cache ({env.hf_hub_cache}) and "
                             f"HF_HUB_OFFLINE=1 forbids downloading it; download it first or unset "
                             f"HF_HUB_OFFLINE") from None
        raise ModelError(f"cannot download hub model '{where}': the hub is unreachable and it is not "
                         f"in the cache ({env.hf_hub_cache})") from None
    except (HfHubHTTPError, OSError, ValueError) as exc:
        raise ModelError(f"cannot fetch hub model '{where}': {str(exc).splitlines()[0]}") from None
    path = Path(path)
    return HubSnapshot(repo_id, path.name, path)
