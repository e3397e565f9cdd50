"""The warm (persistent) bwrap sandbox: nothing of one program reaches the next in the same slot.

Each test runs programs one after another with ``workers=1`` (so in the same slot) and checks,
from inside the later program, that the earlier one left nothing behind: no file, no process,
no environment or module change, no IPC object, no change to the supervisor. Where a program
leaves something the supervisor cannot remove, the slot must be replaced by a fresh sandbox
(the later program sees another pid namespace).
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

import pytest

from code_unlearn_bench.sandbox.base import Limits

if shutil.which("bwrap") is None:
    if os.environ.get("CI"):
        raise RuntimeError("CI must install bubblewrap (apt-get install -y bubblewrap)")
    pytest.skip("bubblewrap not installed", allow_module_level=True)

from code_unlearn_bench.sandbox.bwrap import BwrapSandbox  # noqa: E402



FAST = Limits(timeout_s=3, memory_mb=256, nproc=16)
# prints the sandbox's pid namespace and its pid 1's start time: equal in two programs = the same
# warm sandbox (a namespace's inode number alone is reused once the old namespace is freed)
NS = ("import os\nprint('NS', os.readlink('/proc/self/ns/pid'), "
      "open('/proc/1/stat').read().rsplit(')', 1)[1].split()[19])\n")


@pytest.fixture
def sb():
    sandbox = BwrapSandbox()
    yield sandbox
    sandbox.close()


def ns_of(res) -> str:
    assert res.passed, (res.status, res.reason, res.stderr[-500:])
    return [ln for ln in res.stdout.splitlines() if ln.startswith("NS ")][-1]


def in_order(sb, *programs, limits: Limits = FAST):
    return sb.run(list(programs), limits, workers=1)


def test_programs_reuse_the_warm_sandbox(sb):
    a, b = in_order(sb, NS, NS)
    assert ns_of(a) == ns_of(b)
    # and the supervisor is pid 1 of that namespace, the program its child
    res = in_order(sb, "import os\nassert os.getppid() == 1, os.getppid()\n")[0]
    assert res.passed, res.reason


def test_warm_sandboxes_outlive_the_run_call_that_started_them(sb):
    # Each run() call has its own worker threads; bwrap's --die-with-parent fires when the
    # *thread* that started it exits, which used to kill every warm sandbox when its run()
    # returned, and sometimes mid-program in the next run() ("the program killed its sandbox
    # supervisor" for a correct program). Slots are started from a thread that lives as long as
    # the sandbox object.
    first = sb.run([NS, NS], FAST, workers=2)
    time.sleep(0.5)  # time for a death signal to arrive
    for _ in range(3):
        again = sb.run([NS + "import time\ntime.sleep(0.3)\n"] * 2, FAST, workers=2)
        assert sorted(map(ns_of, again)) == sorted(map(ns_of, first))


def test_files_of_one_program_are_gone_for_the_next(sb):
    writer = NS + (
        "import os\n"
        "open('a.txt', 'w').write('secret')\n"
        "open('/tmp/.hidden', 'w').write('secret')\n"
        "os.makedirs('sub/deep')\n"
        "open('sub/deep/f', 'w').write('secret')\n"
        "os.symlink('/usr', 'link')\n"
        "os.mkfifo('fifo')\n"
        "os.chmod('sub/deep', 0)\n"
        "os.chmod('sub', 0)\n"
        "assert sorted(os.listdir('/tmp')) == ['.hidden', 'a.txt', 'fifo', 'link', 'sub']\n"
    )
    reader = NS + "import os\nassert os.getcwd() == '/tmp'\nassert os.listdir('/tmp') == [], os.listdir('/tmp')\n"
    a, b = in_order(sb, writer, reader)
    assert ns_of(a) == ns_of(b)  # wiped in place, not by starting over


def test_background_processes_of_one_program_are_gone_for_the_next(sb, mark, no_leftovers):
    starter = NS + (
        "import os, subprocess\n"
        f"subprocess.Popen(['/bin/sleep', '{mark}'])\n"
        "if os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
        f"        os.execv('/bin/sleep', ['sleep', '{mark}'])\n    os._exit(0)\n"
        "os.wait()\n"
    )
    # nothing in the namespace but the supervisor and this program
    checker = NS + (
        "import os\n"
        "pids = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())\n"
        "assert pids == [1, os.getpid()], pids\n"
    )
    a, b = in_order(sb, starter, checker)
    assert ns_of(a) == ns_of(b)
    no_leftovers(mark)


def test_environment_and_module_state_do_not_leak(sb):
    mutator = NS + (
        "import builtins, math, os, signal, sys, random\n"
        "os.environ['CUB_LEAK'] = '1'\n"
        "os.environ['PATH'] = '/nowhere'\n"
        "math.pi = 3\n"
        "builtins.cub_leak = 1\n"
        "sys.modules['cub_leak'] = math\n"
        "sys.path.insert(0, '/tmp')\n"
        "sys.setrecursionlimit(50)\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "os.umask(0o777)\n"
        "open('cub_leak_mod.py', 'w').write('X = 1')\n"
        "random.seed(1234)\n"
        "print('RAND', random.random())\n"
    )
    checker = NS + (
        "import builtins, math, os, signal, sys, random\n"
        "assert 'CUB_LEAK' not in os.environ\n"
        "assert os.environ['PATH'] != '/nowhere'\n"
        "assert math.pi > 3.14\n"
        "assert not hasattr(builtins, 'cub_leak')\n"
        "assert 'cub_leak' not in sys.modules\n"
        "assert '/tmp' not in sys.path\n"
        "assert sys.getrecursionlimit() >= 1000\n"
        "assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL\n"
        "assert os.umask(0o022) == 0o022\n"
        "try:\n    import cub_leak_mod\nexcept ImportError:\n    pass\nelse:\n    raise AssertionError('leak')\n"
        "print('RAND', random.random())\n"
    )
    a, b = in_order(sb, mutator, checker)
    assert ns_of(a) == ns_of(b)
    rand = [[ln for ln in r.stdout.splitlines() if ln.startswith("RAND")] for r in (a, b)]
    assert rand[0] != rand[1]  # each program gets its own random state, not the supervisor's


def test_system_v_ipc_left_behind_gets_a_fresh_sandbox(sb):
    creator = NS + (
        "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        "shm = libc.shmget(0xC0B, 4096, 0o1600)\n"  # IPC_CREAT | 0600
        "assert shm >= 0, ctypes.get_errno()\n"
    )
    checker = NS + (
        "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        "assert libc.shmget(0xC0B, 4096, 0o600) == -1\n"
        "assert open('/proc/sysvipc/shm').read().count('\\n') == 1\n"
    )
    a, b = in_order(sb, creator, checker)
    assert "System V IPC" in a.extra.get("sandbox_restarted", "")
    assert ns_of(a) != ns_of(b)


def test_posix_message_queues_are_refused(sb):
    res = in_order(sb, "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
                       "assert libc.mq_open(b'/cubq', os.O_CREAT | os.O_RDWR, 0o600, None) == -1\n")[0]
    assert res.passed, res.reason


def test_tampering_with_the_supervisor_does_not_reach_the_next_program(sb):
    probe = "import resource\nprint('STACK', resource.getrlimit(resource.RLIMIT_STACK))\n"
    # as root the program runs under another uid and is refused; in user-namespace mode it has
    # the supervisor's uid, may lower its limits, and the slot must then be replaced
    tamper = ("import os, resource\n"
              "for call in (lambda: resource.prlimit(1, resource.RLIMIT_STACK, (1 << 20, 1 << 20)),\n"
              "             lambda: os.setpriority(os.PRIO_PROCESS, 1, 19),\n"
              "             lambda: os.sched_setaffinity(1, {0}),\n"
              "             lambda: os.kill(1, 9)):\n"
              "    try:\n        call()\n    except OSError:\n        pass\n")
    before, t, after = in_order(sb, probe, tamper, probe + "import os\nprint('NICE', os.getpriority(os.PRIO_PROCESS, 0))\n")
    assert t.passed and before.passed and after.passed, (t.reason, after.reason)
    stack = [[ln for ln in r.stdout.splitlines() if ln.startswith("STACK")] for r in (before, after)]
    assert stack[0] == stack[1]
    assert "NICE 0" in after.stdout


def test_only_the_workdir_is_writable(sb):
    code = ("import os\nfound = []\nfor root, dirs, files in os.walk('/'):\n"
            "    if root in ('/proc', '/sys'):\n        dirs[:] = []\n        continue\n"
            "    if os.access(root, os.W_OK):\n        found.append(root)\n"
            # devpts (user-namespace mode: owned by the sandbox user) only holds ptys, no files
            "if '/dev/pts' in found:\n    found.remove('/dev/pts')\n"
            "    try:\n        open('/dev/pts/cub', 'w')\n    except OSError:\n        pass\n"
            "    else:\n        raise AssertionError('file created in /dev/pts')\n"
            "print(found)\nassert found == ['/tmp'], found\n")
    res = in_order(sb, code, limits=Limits(timeout_s=20))[0]
    assert res.passed, (res.reason, res.stdout)


def test_a_sandbox_that_dies_is_replaced(sb):
    a = in_order(sb, NS)[0]
    warm = sb._slots[0]
    os.killpg(warm.proc.pid, signal.SIGKILL)  # e.g. the OOM killer took it while idle
    warm.proc.wait(timeout=5)
    b = in_order(sb, NS)[0]
    assert ns_of(a) != ns_of(b)


def test_close_leaves_no_process():
    sandbox = BwrapSandbox()
    assert sandbox.run([NS, NS], FAST, workers=2)[0].passed
    pids = [w.proc.pid for w in sandbox._slots.values()]
    # the sandboxes' pid 1 (the warm supervisor) is bwrap's child
    inner = [int(c) for p in pids for c in Path(f"/proc/{p}/task/{p}/children").read_text().split()]
    assert pids and inner
    sandbox.close()
    deadline = time.monotonic() + 5
    while any(Path(f"/proc/{p}").exists() for p in pids + inner) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [p for p in pids + inner if Path(f"/proc/{p}").exists()]


def test_warm_and_per_program_modes_agree():
    programs = ["print(1)", "assert False", "x = bytearray(8 << 30)", "while True:\n    pass\n",
                "import sys\nsys.exit(0)\n", "print('x' * (2 << 20))"]
    statuses = []
    for persistent in (True, False):
        sandbox = BwrapSandbox(persistent=persistent)
        try:
            statuses.append([r.status for r in sandbox.run(programs, Limits(timeout_s=1.5, memory_mb=256), workers=2)])
        finally:
            sandbox.close()
    assert statuses[0] == statuses[1] == ["passed", "failed", "oom", "timeout", "failed", "failed"]


def test_a_sandbox_that_cannot_start_says_why():
    from code_unlearn_bench.errors import SandboxError

    with pytest.raises(SandboxError, match="execvp /nonexistent/python3"):
        BwrapSandbox(python="/nonexistent/python3")


def test_serve_mode_refuses_to_run_outside_a_pid_namespace():
    # the warm supervisor's cleanup is kill(-1): it must never start where that reaches the host
    import subprocess
    import sys

    from code_unlearn_bench.sandbox.base import LAUNCHER_SOURCE

    proc = subprocess.run([sys.executable, "-I", "-S", "-c", LAUNCHER_SOURCE, "--serve"], input=b"",
                          capture_output=True, timeout=30)
    assert proc.returncode == 125 and b"pid 1" in proc.stderr and b"CUB-HELLO" not in proc.stdout
