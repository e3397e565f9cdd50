"""The comparability key: what must be equal for two task results to be compared.

:func:`key` is a pure function of one task's section of results.json (``tasks.<name>``), so any
reader of an old or a new results file computes it the same way; ``cub evaluate`` also writes it
(``tasks.<name>.comparability``) and :func:`written_mismatch` tells when the written one was edited.

The key holds the task version, the data hash (of the whole data, before ``--limit``), the number
of samples scored, the mode, every generation setting that can change a completion (budget, stop
strings, temperature, top-p, samples per prompt, chat template and system prompt, prompt-inclusive
budget) and the task's loader and analyzer options (prompt format, BLEU protocol, time limits...).
The seed is not in it: two sampled runs with different seeds estimate the same thing. Settings a
file does not record take their defaults (no chat template, no system prompt, no total budget).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Mapping

# The definition each attack's results follow; results of another version are not compared with
# them (ranking.robustness reports them missing). mia 2: MUSE's AUC orientation and PrivLeak (issue 21).
ATTACK_VERSIONS = {"mia": "2"}

# Generation settings in the key, with the value an older file that lacks one is read as.
GENERATION_DEFAULTS: dict[str, Any] = {
    "max_new_tokens": None, "stop": [], "temperature": 0.0, "top_p": 1.0, "num_samples": 1,
    "apply_chat_template": False, "system_prompt": None, "max_total_tokens": None,
}


def generation_key(recorded: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if recorded is None:
        return None
    out = {name: recorded.get(name, default) for name, default in GENERATION_DEFAULTS.items()}
    out["stop"] = list(out["stop"] or [])
    for name in ("temperature", "top_p"):
        out[name] = None if out[name] is None else float(out[name])
    out["apply_chat_template"] = bool(out["apply_chat_template"])
    return out


def generation_record(settings, num_samples: int, max_total_tokens: int | None = None) -> dict[str, Any]:
    """The ``generation`` block results.json records (``settings``: a GenerationSettings, whose JSON
    has the chat-template fields only when a template is applied): every setting that can change a
    completion, the seed included (it is left out of the key)."""
    out = {**settings.to_json(), "num_samples": int(num_samples)}
    if max_total_tokens:
        out["max_total_tokens"] = int(max_total_tokens)
    return out


def key(result: Mapping[str, Any]) -> dict[str, Any]:
    """The comparability key of one task result (``results["tasks"][name]``)."""
    info = result.get("task") or {}
    return {
        "task": info.get("name"),
        "version": None if info.get("version") is None else str(info.get("version")),
        "data_hash": info.get("data_hash"),
        "n": info.get("n"),
        "mode": result.get("mode"),
        "analyzer": (result.get("protocol") or {}).get("analyzer"),
        "generation": generation_key(result.get("generation") or ({} if result.get("mode") == "generate" else None)),
        "options": dict(sorted((result.get("options") or {}).items())),
        # log-likelihood tasks scored through a chat template record it here (generate tasks: in generation)
        "prompt_format": dict(result.get("prompt_format") or {}),
    }


def key_hash(k: Mapping[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(json.dumps(k, sort_keys=True, default=str).encode()).hexdigest()


def record(result: Mapping[str, Any]) -> dict[str, Any]:
    """What results.json stores under ``tasks.<name>.comparability``."""
    k = key(result)
    return {"key": k, "hash": key_hash(k)}


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for name, sub in value.items():
            out.update(_flat(sub, f"{prefix}.{name}" if prefix else str(name)))
        return out if out or not prefix else {prefix: {}}
    return {prefix: value}


_MISSING = object()


def _show(value: Any) -> str:
    if value is _MISSING:
        return "(absent)"
    if isinstance(value, str) and value.startswith("sha256:"):
        return value[:19] + "…"  # a hash: enough to tell two apart on one line
    return json.dumps(value, default=str)


def differences(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """(setting, value in a, value in b) for every setting of two keys that differs."""
    fa, fb = _flat(a), _flat(b)
    names = list(fa) + [n for n in fb if n not in fa]
    return [(n, fa.get(n, _MISSING), fb.get(n, _MISSING)) for n in names if fa.get(n, _MISSING) != fb.get(n, _MISSING)]


def describe(diffs: list[tuple[str, Any, Any]], left: str = "", right: str = "") -> str:
    """One readable line: ``generation.max_new_tokens 1024 vs 3; options.protocol "a" vs "b"``."""
    lt = f" ({left})" if left else ""
    rt = f" ({right})" if right else ""
    return "; ".join(f"{name} {_show(x)}{lt} vs {_show(y)}{rt}" for name, x, y in diffs)


def mismatch(a: Mapping[str, Any], b: Mapping[str, Any]) -> str:
    """Empty when task results ``a`` and ``b`` are comparable, else which settings differ (one line)."""
    return describe(differences(key(a), key(b)))


def written_mismatch(result: Mapping[str, Any]) -> str:
    """Empty when the written key (if any) is the one the task section implies, else why not.
    Only fields the written key has are compared: a key written before a field existed is not
    "edited" for lacking it."""
    written = result.get("comparability")
    if not written:
        return ""
    k = key(result)
    diffs = [d for d in differences(written.get("key") or {}, k) if d[1] is not _MISSING]
    if diffs:
        return "written comparability key differs from the recorded settings: " + \
            describe(diffs, "written", "recorded")
    if written.get("key") == k and written.get("hash") != key_hash(k):
        return "written comparability hash is not the hash of its key"
    return ""
