"""Sandbox interface: limits, per-program results, parallel execution, verdict classification.

Every backend runs the same supervisor (``launcher.py``) inside its isolation layer; the backend
only decides how the supervisor is started (bwrap namespaces, a docker container, a bare
process). The supervisor's one-line JSON report is turned into a status here, so all backends
classify identically.
"""

from __future__ import annotations

import ast
import math
import os
import queue
import signal
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

LAUNCHER_SOURCE = (Path(__file__).with_name("launcher.py")).read_text(encoding="utf-8")
EXIT_OOM = 3  # keep in sync with launcher.py
EXIT_EARLY = 4
EXIT_SETUP = 125

STATUSES = ("passed", "failed", "timeout", "oom", "sandbox_error")
# Programs run under dedicated uids (one per worker slot) when cub runs as root: the kernel
# never enforces RLIMIT_NPROC for root, and one uid per slot keeps the per-uid process count
# (what RLIMIT_NPROC limits) per program. Far above any uid a distribution hands out.
SANDBOX_UID_BASE = 2_000_000_000
# Seconds the outer side waits past the program's own deadline before killing the supervisor.
OUTER_GRACE_S = 5.0


@dataclass(frozen=True)
class Limits:
    """Per-program limits. ``cpu_s`` defaults to the wall-clock limit rounded up, plus one."""

    timeout_s: float = 10.0
    memory_mb: int = 1024
    cpu_s: int | None = None
    nproc: int = 64
    fsize_mb: int = 16
    nofile: int = 64
    output_bytes: int = 1 << 20

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["cpu_s"] = self.cpu_seconds
        return d

    @property
    def cpu_seconds(self) -> int:
        return self.cpu_s if self.cpu_s is not None else math.ceil(self.timeout_s) + 1


@dataclass
class ExecutionResult:
    status: str  # one of STATUSES
    reason: str = ""
    exit_code: int | None = None
    signal: int | None = None
    stdout: str = ""
    stderr: str = ""
    wall_s: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def to_json(self, with_output: bool = False) -> dict[str, Any]:
        out = {"status": self.status, "reason": self.reason}
        if with_output:
            out.update(stdout=self.stdout, stderr=self.stderr)
        return out


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1][:300] if lines else ""


def _signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


def parse_launcher_output(stdout: str) -> tuple[int | None, dict | None]:
    """(program pid from CUB-READY, report dict from CUB-REPORT) of the supervisor's stdout."""
    pid = report = None
    for line in stdout.splitlines():
        if line.startswith("CUB-READY "):
            pid = int(line.split()[1])
        elif line.startswith("CUB-REPORT "):
            report = ast.literal_eval(line[len("CUB-REPORT "):])
    return pid, report


def classify(report: dict | None, ready: bool, limits: Limits, sandbox_stderr: str = "",
             outer_timeout: bool = False) -> ExecutionResult:
    """Turn the supervisor's report (or its absence) into a status and a one-line reason."""
    if outer_timeout:
        return ExecutionResult("timeout", f"wall-clock limit of {limits.timeout_s:g}s exceeded (supervisor killed)")
    if not ready:
        why = _last_line(sandbox_stderr) or "no output from the sandbox"
        return ExecutionResult("sandbox_error", f"sandbox did not start the program: {why}")
    if report is None:
        # the supervisor vanished mid-run: only the program can have killed it
        return ExecutionResult("failed", "the program killed its sandbox supervisor",
                               stderr=sandbox_stderr[-2000:])
    res = ExecutionResult("failed", exit_code=report["exit"], signal=report["signal"],
                          stdout=report["stdout"], stderr=report["stderr"], wall_s=report["wall_s"],
                          extra={k: report.get(k) for k in ("cpu_s", "maxrss_kb", "output_bytes")})
    sig, code = report["signal"], report["exit"]
    if report["timed_out"]:
        res.status, res.reason = "timeout", f"wall-clock limit of {limits.timeout_s:g}s exceeded"
    elif report["output_exceeded"]:
        res.reason = f"output limit of {limits.output_bytes} bytes exceeded"
    elif sig is not None:
        if sig == signal.SIGXCPU or (sig == signal.SIGKILL and (report.get("cpu_s") or 0) >= limits.cpu_seconds):
            res.status, res.reason = "timeout", f"CPU time limit of {limits.cpu_seconds}s exceeded"
        elif sig == signal.SIGXFSZ:
            res.reason = f"file size limit of {limits.fsize_mb} MB exceeded"
        else:
            res.reason = f"killed by {_signal_name(sig)}"
    elif code == 0 and report.get("completed"):
        res.status, res.reason = "passed", ""
    elif code == 0:
        # exit status 0 without the harness's completion token: the program left (os._exit,
        # exec, a signal handler, a hijacked stream) before it returned, so its tests did not all run
        res.reason = ("the program exited with status 0 before its tests ran to the end "
                      "(no completion token from the harness: os._exit, exec or a similar exit trick)")
    elif code == EXIT_OOM:
        res.status, res.reason = "oom", f"memory limit of {limits.memory_mb} MB reached"
    elif code == EXIT_SETUP:
        res.status = "sandbox_error"
        res.reason = "sandbox setup failed: " + (_last_line(report["stderr"]) or "unknown error")
    else:
        res.reason = _last_line(report["stderr"]) or f"exit code {code}"
    return res


def launcher_config(code: str, limits: Limits, workdir: str, uid: int | None,
                    no_new_privs: bool = False) -> dict[str, Any]:
    """What the supervisor needs; ``no_new_privs`` where the backend has not set it already."""
    return {"code": code, "limits": limits.to_json(), "workdir": workdir, "uid": uid, "no_new_privs": no_new_privs}


def config_bytes(cfg: dict[str, Any]) -> bytes:
    # a dict literal: the supervisor reads it without importing json (see launcher.py)
    return repr(cfg).encode("utf-8", "surrogatepass")


def encode_config(cfg: dict[str, Any]) -> str:
    """The config as one argv-safe word (docker exec has no stdin)."""
    return config_bytes(cfg).hex()


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


class Sandbox:
    """Executes untrusted Python programs; subclasses implement :meth:`run_one`.

    ``isolated`` is False only for the ``process`` backend (no namespaces), so the self-check
    does not demand isolation from it.
    """

    name = "base"
    isolated = True

    @classmethod
    def create(cls, allow_unsafe_execution: bool = False) -> "Sandbox":
        """Build the backend from the run's settings; raises SandboxError when it cannot work here."""
        return cls()

    def run_one(self, code: str, limits: Limits, slot: int) -> ExecutionResult:
        raise NotImplementedError

    def run(self, programs: Sequence[str], limits: Limits | None = None, workers: int | None = None) -> list[ExecutionResult]:
        """Run every program (in parallel, ``workers`` at a time); results in input order."""
        limits = limits or Limits()
        workers = max(1, min(workers or default_workers(), len(programs) or 1))
        slots: queue.SimpleQueue[int] = queue.SimpleQueue()
        for i in range(workers):
            slots.put(i)

        def one(code: str) -> ExecutionResult:
            slot = slots.get()
            try:
                return self.run_one(code, limits, slot)
            except OSError as exc:  # e.g. the sandbox binary vanished mid-run
                return ExecutionResult("sandbox_error", f"could not start the sandbox: {exc}")
            finally:
                slots.put(slot)

        # threads are enough: each program is a separate process, the threads only wait on it
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cub-sandbox") as pool:
            return list(pool.map(one, programs))

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name}

    def close(self) -> None:
        """Release long-lived resources (the docker backend's container)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def slot_uid(slot: int) -> int | None:
    """The uid a program drops to when cub runs as root; None otherwise (already unprivileged)."""
    return SANDBOX_UID_BASE + slot if os.geteuid() == 0 else None


def run_supervisor(argv: list[str], cfg: dict[str, Any], limits: Limits, *, env: dict[str, str],
                   cwd: str | None = None) -> tuple[ExecutionResult, int | None]:
    """Start the supervisor in a new session, feed it the config on stdin, and classify.

    Returns the result and the program's pid (its process group id) as the supervisor saw it,
    so that backends without a pid namespace can clean up after it.
    """
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, cwd=cwd, start_new_session=True)
    outer_timeout = False
    try:
        out, err = proc.communicate(config_bytes(cfg), timeout=limits.timeout_s + OUTER_GRACE_S)
    except subprocess.TimeoutExpired:
        outer_timeout = True
        kill_group(proc.pid)
        out, err = proc.communicate()
    finally:
        kill_group(proc.pid)  # anything the supervisor's session still holds
    text = out.decode("utf-8", "replace")
    pid, report = parse_launcher_output(text)
    result = classify(report, pid is not None, limits, err.decode("utf-8", "replace"), outer_timeout)
    return result, pid


def kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
