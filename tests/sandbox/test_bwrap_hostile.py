"""Hostile programs under the bwrap sandbox: each is contained, fails with a reason, leaves nothing.

Every hostile program is bounded even if the sandbox were broken: the fork bomb only runs after
RLIMIT_NPROC is shown to bite, memory bombs stop at a few hundred MB, loops at the time limit.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
import uuid
from pathlib import Path

import pytest

from code_unlearn_bench.sandbox.base import Limits

if shutil.which("bwrap") is None:
    if os.environ.get("CI"):
        raise RuntimeError("CI must install bubblewrap (apt-get install -y bubblewrap)")
    pytest.skip("bubblewrap not installed", allow_module_level=True)

from code_unlearn_bench.sandbox.bwrap import BwrapSandbox  # noqa: E402

FAST = Limits(timeout_s=3, memory_mb=256, nproc=16)


@pytest.fixture(scope="module", params=[True, False], ids=["warm", "per-program"])
def sb(request):
    # warm: one long-lived sandbox per slot, reused by the programs of the module in turn
    sandbox = BwrapSandbox(persistent=request.param)
    yield sandbox
    sandbox.close()




def run1(sb, code: str, limits: Limits = FAST):
    return sb.run([code], limits, workers=1)[0]


def test_network_is_unreachable(sb):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    server.setblocking(False)
    port = server.getsockname()[1]
    try:
        res = run1(sb, f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)\n")
        assert res.status == "failed" and "Connection refused" in res.reason
        res = run1(sb, "import socket\nsocket.create_connection(('1.1.1.1', 53), timeout=2)\n")
        assert res.status == "failed" and "unreachable" in res.reason
        with pytest.raises(BlockingIOError):
            server.accept()  # nothing from the sandbox ever reached the host's loopback
    finally:
        server.close()


def test_writes_outside_the_workdir_fail_and_leave_the_host_untouched(sb, tmp_path):
    target = tmp_path / "escaped.txt"
    res = run1(sb, f"open({str(target)!r}, 'w').write('x')\n")
    assert res.status == "failed" and "No such file or directory" in res.reason
    assert not target.exists()
    res = run1(sb, "open('/usr/cub-escaped.txt', 'w').write('x')\n")
    assert res.status == "failed" and "Read-only file system" in res.reason
    assert not Path("/usr/cub-escaped.txt").exists()
    # the workdir itself is writable (and private)
    res = run1(sb, "open('out.txt', 'w').write('x')\nassert open('out.txt').read() == 'x'\n")
    assert res.passed, res.reason


def test_home_directory_is_not_readable(sb):
    secret = Path.home() / f".cub-sandbox-secret-{uuid.uuid4().hex}"
    secret.write_text("TOPSECRET")
    try:
        res = run1(sb, f"print(open({str(secret)!r}).read())\n")
        assert res.status == "failed" and "No such file or directory" in res.reason
        assert "TOPSECRET" not in res.stdout
    finally:
        secret.unlink()


def test_nproc_limit_bites(sb, mark, no_leftovers):
    code = (f"import os\nn = 0\nfor _ in range(100):\n    try:\n        pid = os.fork()\n"
            f"    except OSError:\n        break\n    if pid == 0:\n"
            f"        os.execv('/bin/sleep', ['sleep', '{mark}'])\n    n += 1\n"
            f"print('forked', n)\nassert n < {FAST.nproc}, n\n")
    res = run1(sb, code)
    assert res.passed, res.reason
    assert 0 < int(res.stdout.split()[1]) < FAST.nproc
    no_leftovers(mark)


def test_fork_bomb_is_contained(sb, mark, no_leftovers):
    test_nproc_limit_bites(sb, mark, no_leftovers)  # never run an unbounded bomb on a sandbox that does not limit it
    bomb = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    # re-exec with the marker in argv so leftovers are recognisable in /proc
    code = f"import os, sys\nos.execv(sys.executable, [sys.executable, '-c', {bomb!r}, '{mark}'])\n"
    start = time.monotonic()
    res = run1(sb, code, Limits(timeout_s=2, memory_mb=256, nproc=16))
    assert res.status == "timeout" and "limit" in res.reason
    assert time.monotonic() - start < 8
    no_leftovers(mark)


def test_memory_bombs_are_oom(sb):
    res = run1(sb, "x = bytearray(8 << 30)\n")
    assert res.status == "oom" and "256 MB" in res.reason
    # touched pages, grown step by step; bounded at 640 MB should the limit not hold
    res = run1(sb, "chunks = []\nfor _ in range(40):\n    chunks.append(b'x' * (16 << 20))\n")
    assert res.status == "oom"


def test_infinite_loop_times_out(sb):
    start = time.monotonic()
    res = run1(sb, "while True:\n    pass\n", Limits(timeout_s=1.5))
    assert res.status == "timeout" and "1.5s" in res.reason
    assert time.monotonic() - start < 5


def test_output_flood_is_cut(sb):
    start = time.monotonic()
    res = run1(sb, "while True:\n    print('spam' * 1000)\n")
    assert res.status == "failed" and "output limit" in res.reason
    assert time.monotonic() - start < 3
    res = run1(sb, "open('big', 'wb').write(b'x' * (64 << 20))\n")
    assert res.status == "failed" and "File too large" in res.reason


def test_killing_the_parent_is_contained(sb, mark, no_leftovers):
    code = (f"import os, signal, subprocess\n"
            f"subprocess.Popen(['/bin/sleep', '{mark}'])\n"
            f"os.kill(os.getppid(), signal.SIGKILL)\nos.kill(1, signal.SIGKILL)\n"
            f"import time\ntime.sleep(30)\n")
    start = time.monotonic()
    res = run1(sb, code)
    assert res.status in ("failed", "timeout") and res.reason
    assert time.monotonic() - start < 10
    no_leftovers(mark)


def test_daemonised_children_do_not_survive(sb, mark, no_leftovers):
    code = (f"import os\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
            f"        os.execv('/bin/sleep', ['sleep', '{mark}'])\n    os._exit(0)\n"
            f"os.wait()\nprint('parent done')\n")
    res = run1(sb, code)
    assert res.passed and "parent done" in res.stdout
    no_leftovers(mark)


def test_parallel_runs_keep_order_and_statuses(sb):
    programs = ["print(1)", "assert False", "x = bytearray(8 << 30)", "print(2)"]
    res = sb.run(programs, FAST, workers=2)
    assert [r.status for r in res] == ["passed", "failed", "oom", "passed"]
    assert [r.stdout.strip() for r in (res[0], res[3])] == ["1", "2"]
