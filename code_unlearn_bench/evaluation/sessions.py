"""The sessions of a run: every `cub evaluate` invocation that worked on it, in order.

A resumed run was generated in several sessions, possibly on other machines, backends, devices or
batch sizes; ``manifest["sessions"]`` (copied to results.json) lists each one instead of only
the last one's settings.
"""

from __future__ import annotations

from typing import Any

from code_unlearn_bench.results import environment_info, now_iso


def generated(manifest: dict[str, Any]) -> int:
    """Samples generated so far, over all tasks of the run."""
    return sum(int(t.get("n_generated", 0)) for t in manifest.get("tasks", {}).values())


def start(manifest: dict[str, Any], config, threads: int | None = None) -> dict[str, Any]:
    """Append this invocation to ``manifest["sessions"]`` and return its entry; ``threads``: the
    CPU threads it runs with (threads.apply)."""
    env = environment_info()
    session = {"start": now_iso(), "end": None, "backend": config.backend, "device": config.device,
               "batch_size": config.batch_size, "dtype": config.dtype, "threads": threads, "samples_generated": 0,
               "versions": {"python": env["python"], **{k: v for k, v in env["packages"].items() if v}}}
    manifest.setdefault("sessions", []).append(session)
    return session


def end(session: dict[str, Any], model, samples_generated: int) -> None:
    """Close ``session``: what "auto" resolved to and the device the model ran on (when this
    session loaded it), how many samples it generated, when it ended."""
    backend = getattr(model, "loaded_backend", None)
    if backend is not None:
        session["backend"] = getattr(backend, "name", session["backend"])
        session["device"] = str(getattr(backend, "device", None) or session["device"])
    session["samples_generated"] = samples_generated
    session["end"] = now_iso()
