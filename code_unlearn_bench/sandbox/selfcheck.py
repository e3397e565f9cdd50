"""Pre-run self-check: a sandbox that cannot pass canonical solutions must not score anything.

Without it, a broken sandbox (missing interpreter, a mount that hides the stdlib, a C extension
that cannot load its shared library) would silently report pass@1 = 0 for every model.
"""

from __future__ import annotations

from typing import Any

from code_unlearn_bench.errors import SandboxError
from code_unlearn_bench.sandbox.base import Limits, Sandbox

# 0: plain Python; 32: math; 162: hashlib (a C extension linked against libssl)
CANONICAL_IDS = ("HumanEval/0", "HumanEval/32", "HumanEval/162")

MUST_FAIL = {
    "failing assertion": "assert 1 + 1 == 3\n",
    "syntax error": "def broken(:\n    pass\n",
    "early exit": "import sys\nsys.exit(0)\nassert False\n",
    # exit status 0 without the harness's completion token (see launcher._child)
    "exit trick": "import os\nos._exit(0)\nassert False\n",
}
# Only meaningful for backends that claim isolation.
MUST_FAIL_ISOLATED = {
    "network access": "import socket\nsocket.create_connection(('1.1.1.1', 53), timeout=3)\n",
    "write outside the workdir": "open('/cub-selfcheck-write', 'w').write('x')\n",
}


def self_check(sandbox: Sandbox, workers: int | None = None, limits: Limits | None = None) -> dict[str, Any]:
    """Run canonical solutions (must pass) and must-fail programs; raise SandboxError otherwise."""
    from code_unlearn_bench.loaders import humaneval

    samples = humaneval.load(None, {"task_ids": list(CANONICAL_IDS), "prompt_format": "raw"})
    programs = [humaneval.check_program(s, s.reference) for s in samples]
    bad = dict(MUST_FAIL)
    if sandbox.isolated:
        bad.update(MUST_FAIL_ISOLATED)
    limits = limits or Limits(timeout_s=10)
    results = sandbox.run(programs + list(bad.values()), limits, workers)
    for sample, res in zip(samples, results):
        if not res.passed:
            raise SandboxError(f"sandbox self-check failed ({sandbox.name}): the canonical solution of "
                               f"{sample.id} did not pass ({res.status}: {res.reason})")
    for name, res in zip(bad, results[len(programs):]):
        if res.passed:
            raise SandboxError(f"sandbox self-check failed ({sandbox.name}): a must-fail program "
                               f"({name}) passed")
    return {"backend": sandbox.name, "canonical_passed": len(programs), "must_fail_failed": len(bad)}
