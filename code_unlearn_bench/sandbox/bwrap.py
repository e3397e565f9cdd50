"""bubblewrap backend: new net/pid/ipc/uts namespaces, read-only system dirs, private tmpfs.

The sandbox: its own network namespace (loopback only, no route out), its own pid namespace,
read-only binds of /usr and the interpreter, a read-only /dev, a size-capped tmpfs as /tmp (the
only writable place, also the working directory) and nothing of the host's home or /tmp. As
root, bwrap runs without a user namespace and keeps only the capabilities the supervisor needs
to drop programs to the slot's uid and to clean up after them.

Persistent mode (the default): one long-lived sandbox per worker slot, started on first use,
whose pid 1 is a warm supervisor (``launcher.py --serve``: interpreter up, common modules
imported). Each program is forked from it into its own process group, with rlimits and, as
root, the slot's unprivileged uid; when it is over the supervisor kills every other process of
the namespace, wipes /tmp and checks that nothing of the program is left (processes, files,
System V IPC objects, its own limits). A program that leaves something it cannot remove, or a
supervisor that dies, gets the slot replaced by a fresh sandbox before the next program. This
costs a fork per program instead of a bwrap set-up plus an interpreter start (~50 ms).

``persistent=False`` starts a fresh bwrap instance per program (when the supervisor exits, the
kernel kills every process left in its pid namespace).
"""

from __future__ import annotations

import functools
import os
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from code_unlearn_bench.errors import SandboxError
from code_unlearn_bench.sandbox.base import (
    LAUNCHER_SOURCE, OUTER_GRACE_S, ExecutionResult, Limits, Sandbox, classify, config_bytes, kill_group,
    launcher_config, parse_launcher_output, run_supervisor, slot_uid,
)

# Merged-/usr layouts make these symlinks; older layouts have real directories.
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32")
# What the dynamic loader and Python's stdlib read from /etc; the rest of /etc stays out.
ETC_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime",
             "/etc/nsswitch.conf", "/etc/alternatives")
WORKDIR = "/tmp"
TMPFS_MIN_BYTES = 64 << 20
# As root (no user namespace) the supervisor keeps only these: drop a program to the slot uid
# (SETUID, SETGID), kill what it left (KILL), wipe what it wrote whatever its modes (DAC_OVERRIDE,
# FOWNER). No CAP_SYS_ADMIN: nothing in the sandbox can remount or unshare.
PRIVILEGED_CAPS = ("CAP_SETUID", "CAP_SETGID", "CAP_KILL", "CAP_DAC_OVERRIDE", "CAP_FOWNER")
START_TIMEOUT_S = 30.0  # a warm supervisor must say hello within this
CLEANUP_GRACE_S = 5.0  # past the program's deadline plus OUTER_GRACE_S: the supervisor's cleanup


def interpreter_paths(python: str) -> list[str]:
    """Directories the interpreter needs that are not under /usr (pyenv, conda, venvs)."""
    paths = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.base_exec_prefix),
             os.path.dirname(os.path.dirname(python))}
    return sorted(p for p in paths if not p.startswith("/usr/") and p != "/usr" and os.path.isdir(p))


class SlotDied(Exception):
    """The warm sandbox went away before it took the program (start it afresh and retry)."""


class WarmSlot:
    """One long-lived bwrap sandbox whose pid 1 is ``launcher.py --serve``; one program at a time."""

    def __init__(self, argv: list[str], env: dict[str, str], spawner: ThreadPoolExecutor | None = None):
        self.argv = argv
        self._err = tempfile.TemporaryFile()
        self._buf = b""
        start = functools.partial(subprocess.Popen, argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=self._err, env=env, start_new_session=True, bufsize=0)
        # started from ``spawner``'s long-lived thread: see BwrapSandbox.__init__
        self.proc = spawner.submit(start).result() if spawner is not None else start()
        self._out = self.proc.stdout.fileno()
        try:
            line = self._readline(time.monotonic() + START_TIMEOUT_S)
        except TimeoutError:
            line = None
        if line != "CUB-HELLO":
            self.close(busy=True)
            why = self.stderr_tail() or (line and f"unexpected output {line[:100]!r}") or "no output from the sandbox"
            self._err.close()
            raise SlotDied(why)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stderr_tail(self) -> str:
        try:
            self._err.seek(0)
            lines = [ln.strip() for ln in self._err.read().decode("utf-8", "replace").splitlines() if ln.strip()]
        except (OSError, ValueError):
            return ""
        return lines[-1][:300] if lines else ""

    def _readline(self, deadline: float) -> str | None:
        """The next line of the supervisor's output; None on EOF; TimeoutError past ``deadline``."""
        while b"\n" not in self._buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            ready, _, _ = select.select([self._out], [], [], remaining)
            if not ready:
                continue
            data = os.read(self._out, 1 << 16)
            if not data:
                return None
            self._buf += data
        line, self._buf = self._buf.split(b"\n", 1)
        return line.decode("utf-8", "replace")

    def run(self, cfg: dict[str, Any], limits: Limits) -> tuple[ExecutionResult, bool]:
        """(result, whether this slot can take another program). SlotDied: program not started."""
        payload = config_bytes(cfg)
        data = memoryview(b"%d\n" % len(payload) + payload)
        try:
            while data:
                data = data[self.proc.stdin.write(data):]
        except (BrokenPipeError, OSError, ValueError):
            raise SlotDied(self.stderr_tail() or "the sandbox exited") from None
        deadline = time.monotonic() + limits.timeout_s + OUTER_GRACE_S + CLEANUP_GRACE_S
        ready = False
        try:
            while True:
                line = self._readline(deadline)
                if line is None:
                    break
                if line.startswith("CUB-READY "):
                    ready = True
                elif line.startswith("CUB-REPORT "):
                    _, report = parse_launcher_output(line)
                    res = classify(report, True, limits)
                    if not report.get("clean", False):
                        res.extra["sandbox_restarted"] = report.get("dirty") or "unclean"
                        return res, False
                    return res, True
        except TimeoutError:
            self.close(busy=True)
            return classify(None, True, limits, outer_timeout=True), False
        # EOF: the supervisor is gone
        self.close(busy=True)
        if not ready:
            raise SlotDied(self.stderr_tail() or "the sandbox exited")
        return classify(None, True, limits, self.stderr_tail()), False

    def close(self, busy: bool = False) -> None:
        _close_proc(self.proc, busy)


def _close_proc(proc: subprocess.Popen, busy: bool = False) -> None:
    """Stop a warm sandbox: EOF asks an idle supervisor to exit; a kill makes sure."""
    try:
        proc.stdin.close()
    except OSError:
        pass
    if not busy:
        try:
            proc.wait(timeout=1)
        except subprocess.TimeoutExpired:
            pass
    # bwrap's session; --die-with-parent takes the sandbox (and its pid namespace) along
    kill_group(proc.pid)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
    for f in (proc.stdout,):
        try:
            f.close()
        except OSError:
            pass


def _close_slots(slots: dict, spawner: ThreadPoolExecutor | None = None) -> None:
    for slot in list(slots.values()):
        slot.close()
    slots.clear()
    if spawner is not None:
        spawner.shutdown(wait=False)


class BwrapSandbox(Sandbox):
    name = "bwrap"

    def __init__(self, bwrap: str | None = None, python: str | None = None, probe: bool = True,
                 persistent: bool = True):
        self.bwrap = bwrap or shutil.which("bwrap")
        if not self.bwrap:
            raise SandboxError("bubblewrap (bwrap) not found; install it (apt-get install -y bubblewrap)")
        self.python = os.path.realpath(python or sys.executable)
        # As root, bwrap runs privileged without a user namespace and the supervisor drops to a
        # per-slot uid; otherwise bwrap needs an unprivileged user namespace.
        self.privileged = os.geteuid() == 0
        self.persistent = persistent
        self._slots: dict[int, WarmSlot] = {}
        self._lock = threading.Lock()
        # bwrap's --die-with-parent fires when the *thread* that started it exits: warm sandboxes
        # are started from this one long-lived thread, never from run()'s short-lived workers
        # (whose exit used to kill them after each run(), sometimes mid-program)
        self._spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cub-bwrap-spawn")
        # warm sandboxes go when this object does (or at exit); they also exit on their own
        # when cub's end of their pipe closes
        self._finalizer = weakref.finalize(self, _close_slots, self._slots, self._spawner)
        if probe:
            res = self.run_one("pass", Limits(timeout_s=10), 0)
            if not res.passed:
                raise SandboxError(f"bwrap cannot create a sandbox here ({res.reason})")

    def argv(self, limits: Limits, serve: bool = False) -> list[str]:
        a = [self.bwrap, "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
             "--unshare-cgroup-try", "--hostname", "sandbox", "--die-with-parent", "--new-session"]
        if self.privileged:
            a += ["--cap-drop", "ALL"]
            for cap in PRIVILEGED_CAPS:
                a += ["--cap-add", cap]
        else:
            a += ["--unshare-user", "--disable-userns"]
        if serve:
            a += ["--as-pid-1"]  # the supervisor is pid 1: its cleanup reaches the whole namespace
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
              # /dev is a tmpfs owned by the sandbox user in user-namespace mode: read-only, so
              # that /tmp stays the only writable place (device nodes remain usable)
              "--remount-ro", "/dev", "--remount-ro", "/", "--chdir", WORKDIR,
              "--clearenv", "--setenv", "PATH", "/usr/local/bin:/usr/bin:/bin",
              "--setenv", "HOME", WORKDIR, "--setenv", "LANG", "C.UTF-8",
              "--", self.python, "-I", "-S", "-c", LAUNCHER_SOURCE]
        if serve:
            a.append("--serve")
        return a

    def _env(self) -> dict[str, str]:
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}

    def run_one(self, code: str, limits: Limits, slot: int) -> ExecutionResult:
        cfg = launcher_config(code, limits, WORKDIR, slot_uid(slot))
        if not self.persistent:
            # the pid namespace dies with the supervisor, so nothing to sweep afterwards
            result, _ = run_supervisor(self.argv(limits), cfg, limits, env=self._env())
            return result
        argv = self.argv(limits, serve=True)
        for attempt in (0, 1):
            with self._lock:
                warm = self._slots.pop(slot, None)
            fresh = False
            if warm is not None and (warm.argv != argv or not warm.alive()):
                warm.close()  # other limits (tmpfs size), or it died while idle
                warm = None
            if warm is None:
                try:
                    warm = WarmSlot(argv, self._env(), self._spawner)
                except SlotDied as exc:
                    return ExecutionResult("sandbox_error", f"sandbox did not start the program: {exc}")
                fresh = True
            try:
                result, reusable = warm.run(cfg, limits)
            except SlotDied as exc:
                warm.close()
                if fresh or attempt:
                    return ExecutionResult("sandbox_error", f"sandbox did not start the program: {exc}")
                continue  # an idle sandbox that died since its last program: once more, afresh
            if reusable:
                with self._lock:
                    self._slots[slot] = warm
            else:
                warm.close()
            return result
        raise AssertionError("unreachable")

    def close(self) -> None:
        with self._lock:
            _close_slots(self._slots)  # the spawner stays: a closed sandbox may be used again

    def describe(self):
        return {"backend": self.name, "privileged": self.privileged, "python": self.python,
                "persistent": self.persistent}
