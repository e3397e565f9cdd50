"""Last-resort backend: the supervisor as a plain child process, rlimits and group kill only.

No namespaces: the program sees the host's network and files with cub's permissions (or, when
cub runs as root, a dedicated unprivileged uid's). It refuses to run unless the user passed
``--allow-unsafe-execution``, and warns loudly when it does.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile

from code_unlearn_bench.errors import SandboxError
from code_unlearn_bench.sandbox.base import (
    LAUNCHER_SOURCE, ExecutionResult, Limits, Sandbox, kill_group, launcher_config, run_supervisor, slot_uid,
)

WARNING = ("WARNING: executing model-generated code with the 'process' sandbox: NO network or "
           "filesystem isolation, only resource limits. Use bwrap or docker for untrusted code.")


class ProcessSandbox(Sandbox):
    name = "process"
    isolated = False

    @classmethod
    def create(cls, allow_unsafe_execution: bool = False) -> "ProcessSandbox":
        return cls(allow_unsafe_execution=allow_unsafe_execution)

    def __init__(self, allow_unsafe_execution: bool = False, python: str | None = None, warn: bool = True):
        if not allow_unsafe_execution:
            raise SandboxError("the 'process' sandbox does not isolate model-generated code; "
                               "pass --allow-unsafe-execution to use it anyway")
        self.python = os.path.realpath(python or sys.executable)
        if warn:
            print(WARNING, file=sys.stderr, flush=True)
        if os.geteuid() == 0:
            # programs run as an unprivileged slot uid, which must be able to read the stdlib
            res = self.run_one("import json, math", Limits(timeout_s=10), 0)
            if not res.passed:
                raise SandboxError(f"the 'process' sandbox runs programs as an unprivileged uid, which cannot "
                                   f"use the interpreter {self.python} ({res.reason}); use bwrap, or a Python "
                                   f"installed outside a private home directory")

    def run_one(self, code: str, limits: Limits, slot: int) -> ExecutionResult:
        uid = slot_uid(slot)
        workdir = tempfile.mkdtemp(prefix="cub-exec-")
        try:
            if uid is not None:
                os.chown(workdir, uid, uid)
            env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": workdir, "LANG": "C.UTF-8"}
            argv = [self.python, "-I", "-S", "-c", LAUNCHER_SOURCE]
            result, pid = run_supervisor(argv, launcher_config(code, limits, workdir, uid, no_new_privs=True), limits,
                                         env=env, cwd=workdir)
            if pid is not None:
                kill_group(pid)  # the program's own group, in case it outlived its supervisor
            if uid is not None:
                kill_uid(uid)  # anything that left the group (setsid) still has the slot's uid
            return result
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


def kill_uid(uid: int) -> int:
    """SIGKILL every process whose real uid is ``uid`` (a slot uid nothing else uses)."""
    killed = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status", encoding="ascii", errors="replace") as fh:
                for line in fh:
                    if line.startswith("Uid:"):
                        if int(line.split()[1]) == uid:
                            os.kill(int(entry), signal.SIGKILL)
                            killed += 1
                        break
        except (OSError, ValueError):
            continue
    return killed
