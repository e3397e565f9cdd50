"""bubblewrap backend: new net/pid/ipc/uts namespaces, read-only system dirs, private tmpfs.

Each program gets a fresh bwrap instance (~30 ms): its own network namespace (loopback only, no
route out), its own pid namespace (when the supervisor exits, the kernel kills every process
left in it), read-only binds of /usr and the interpreter, a size-capped tmpfs as /tmp (the only
writable place, also the working directory) and nothing of the host's home or /tmp.
"""

from __future__ import annotations

import os
import shutil
import sys

from code_unlearn_bench.errors import SandboxError
from code_unlearn_bench.sandbox.base import (
    LAUNCHER_SOURCE, ExecutionResult, Limits, Sandbox, launcher_config, run_supervisor, slot_uid,
)

# Merged-/usr layouts make these symlinks; older layouts have real directories.
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32")
# What the dynamic loader and Python's stdlib read from /etc; the rest of /etc stays out.
ETC_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime",
             "/etc/nsswitch.conf", "/etc/alternatives")
WORKDIR = "/tmp"
TMPFS_MIN_BYTES = 64 << 20


def interpreter_paths(python: str) -> list[str]:
    """Directories the interpreter needs that are not under /usr (pyenv, conda, venvs)."""
    paths = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.base_exec_prefix),
             os.path.dirname(os.path.dirname(python))}
    return sorted(p for p in paths if not p.startswith("/usr/") and p != "/usr" and os.path.isdir(p))


class BwrapSandbox(Sandbox):
    name = "bwrap"

    def __init__(self, bwrap: str | None = None, python: str | None = None, probe: bool = True):
        self.bwrap = bwrap or shutil.which("bwrap")
        if not self.bwrap:
            raise SandboxError("bubblewrap (bwrap) not found; install it (apt-get install -y bubblewrap)")
        self.python = os.path.realpath(python or sys.executable)
        # As root, bwrap runs privileged without a user namespace and the supervisor drops to a
        # per-slot uid; otherwise bwrap needs an unprivileged user namespace.
        self.privileged = os.geteuid() == 0
        if probe:
            res = self.run_one("pass", Limits(timeout_s=10), 0)
            if not res.passed:
                raise SandboxError(f"bwrap cannot create a sandbox here ({res.reason})")

    def argv(self, limits: Limits) -> list[str]:
        a = [self.bwrap, "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
             "--unshare-cgroup-try", "--hostname", "sandbox", "--die-with-parent", "--new-session"]
        if not self.privileged:
            a += ["--unshare-user", "--disable-userns"]
        for d in SYSTEM_DIRS:
            if os.path.islink(d):
                a += ["--symlink", os.readlink(d), d]
            elif os.path.isdir(d):
                a += ["--ro-bind", d, d]
        for f in ETC_FILES:
            a += ["--ro-bind-try", f, f]
        for p in interpreter_paths(self.python):
            # bwrap creates missing parents 0700 (root-owned): the dropped uid could not reach
            # an interpreter under /root; create them world-traversable first
            parents = []
            parent = os.path.dirname(p)
            while parent not in ("/", ""):
                parents.insert(0, parent)
                parent = os.path.dirname(parent)
            for d in parents:
                a += ["--perms", "0755", "--dir", d]
            a += ["--ro-bind", p, p]
        tmpfs = max(TMPFS_MIN_BYTES, 4 * (limits.fsize_mb << 20))
        a += ["--proc", "/proc", "--dev", "/dev",
              "--perms", "1777", "--size", str(tmpfs), "--tmpfs", WORKDIR,
              "--remount-ro", "/", "--chdir", WORKDIR,
              "--clearenv", "--setenv", "PATH", "/usr/local/bin:/usr/bin:/bin",
              "--setenv", "HOME", WORKDIR, "--setenv", "LANG", "C.UTF-8",
              "--", self.python, "-I", "-S", "-c", LAUNCHER_SOURCE]
        return a

    def run_one(self, code: str, limits: Limits, slot: int) -> ExecutionResult:
        cfg = launcher_config(code, limits, WORKDIR, slot_uid(slot))
        # the pid namespace dies with the supervisor, so nothing to sweep afterwards
        result, _ = run_supervisor(self.argv(limits), cfg, limits, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
        return result

    def describe(self):
        return {"backend": self.name, "privileged": self.privileged, "python": self.python}
