"""The only place where model output is executed.

    from code_unlearn_bench.sandbox import get_sandbox, Limits
    with get_sandbox("auto") as sb:
        results = sb.run(programs, Limits(timeout_s=10), workers=4)   # -> [ExecutionResult]

Backends, tried in this order by ``auto``: ``docker`` (locked-down container), ``bwrap``
(bubblewrap namespaces), ``process`` (rlimits only; needs allow_unsafe_execution).
Each result has a status in passed / failed / timeout / oom / sandbox_error and a reason.
"""

from __future__ import annotations

import sys

from code_unlearn_bench.errors import SandboxError
from code_unlearn_bench.plugins import SANDBOXES
from code_unlearn_bench.registry import did_you_mean
from code_unlearn_bench.sandbox.base import STATUSES, ExecutionResult, Limits, Sandbox, default_workers
from code_unlearn_bench.sandbox.selfcheck import self_check


__all__ = ["SANDBOXES", "choices", "STATUSES", "ExecutionResult", "Limits", "Sandbox", "default_workers",
           "get_sandbox", "self_check"]


def choices() -> list[str]:
    """``auto`` and every sandbox, plug-ins (entry point ``cub.sandboxes``) included."""
    return ["auto", *SANDBOXES.names()]


def get_sandbox(name: str = "auto", allow_unsafe_execution: bool = False, quiet: bool = False) -> Sandbox:
    """The named backend, or for ``auto`` the first of docker -> bwrap -> process that works.

    A forced backend that is unavailable raises SandboxError; ``auto`` says on stderr why it
    skipped each backend (unless ``quiet``), and raises with all the reasons when none works.
    """
    if name != "auto":
        if name not in SANDBOXES:
            raise SandboxError(f"unknown sandbox '{name}' {did_you_mean(name, choices())}")
        return SANDBOXES.load(name).create(allow_unsafe_execution=allow_unsafe_execution)
    reasons = []
    for backend in SANDBOXES.names():
        if backend == "process" and not allow_unsafe_execution:
            reasons.append("process: refused without --allow-unsafe-execution")
            break
        try:
            return SANDBOXES.load(backend).create(allow_unsafe_execution=allow_unsafe_execution)
        except SandboxError as exc:
            reasons.append(f"{backend}: {exc}")
            if not quiet:
                print(f"cub: sandbox {backend} unavailable: {exc}; trying the next backend", file=sys.stderr)
    raise SandboxError("no usable sandbox (" + "; ".join(reasons) + ")")
