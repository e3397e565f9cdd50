"""Exit tricks: a program that ends with exit status 0 before its tests ran to the end must FAIL.

The supervisor passes a program only when the harness, after the whole program (the tests and
``check(entry_point)``) returned, echoes a per-program nonce on a private pipe. Exit status 0
alone (``os._exit(0)``, ``exec``, a hijacked stdout/stderr or ``__import__`` on the failure
path, a thread that exits the process) proves nothing. Every trick runs on a real HumanEval
problem whose tests the completion would fail, under every backend available here.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from code_unlearn_bench.loaders import humaneval
from code_unlearn_bench.sandbox.base import Limits

LIMITS = Limits(timeout_s=5, memory_mb=256, nproc=16)
BODY = "    import os; os._exit(0)\n"
# name -> completion (the function body; module-level code after it where the trick needs it)
TRICKS = {
    "os._exit in the function": BODY,
    "os._exit at module level": "    return None\nimport os\nos._exit(0)\n",
    "exec of /bin/true": "    import os; os.execv('/bin/true', ['true'])\n",
    "SIGKILL to itself": "    import os, signal; os.kill(os.getpid(), signal.SIGKILL)\n",
    "SIGTERM to itself": "    import os, signal; os.kill(os.getpid(), signal.SIGTERM)\n",
    "raise SystemExit(0)": "    raise SystemExit(0)\n",
    "sys.exit(0) at module level": "    return None\nimport sys\nsys.exit(0)\n",
    # the tests fail, and the harness's failure path writes the traceback to a hijacked stderr
    "stderr that exits 0": ("    import os, sys\n"
                            "    class Out:\n"
                            "        def write(self, s): os._exit(0)\n"
                            "        def flush(self): os._exit(0)\n"
                            "    sys.stdout = sys.stderr = Out()\n"
                            "    return None\n"),
    "print replaced": ("    import builtins, os\n"
                       "    builtins.print = lambda *a, **k: os._exit(0)\n"
                       "    return None\n"),
    # the failure path imports traceback: a hijacked __import__ exits 0 there
    "__import__ that exits 0": ("    import builtins, os\n"
                                "    builtins.__import__ = lambda *a, **k: os._exit(0)\n"
                                "    return None\n"),
    "thread that exits 0": ("    import os, threading, time\n"
                            "    threading.Thread(target=lambda: (time.sleep(0.2), os._exit(0))).start()\n"
                            "    time.sleep(3)\n"),
    "atexit handler": ("    import atexit, os\n"
                       "    atexit.register(os._exit, 0)\n"
                       "    raise SystemExit(0)\n"),
    "os._exit replaced before the harness exits": ("    import os\n"
                                                   "    os._exit = lambda code: None\n"
                                                   "    os.write = lambda fd, data: len(data)\n"
                                                   "    return None\n"),
    "fork, parent exits 0": "    import os\n    if os.fork():\n        os._exit(0)\n    return None\n",
}


def backends():
    out = []
    if shutil.which("bwrap"):
        out += [pytest.param(("bwrap", True), id="bwrap-warm"), pytest.param(("bwrap", False), id="bwrap-per-program")]
    python = "/usr/bin/python3" if os.geteuid() == 0 else None
    if python is None or Path(python).exists():
        out.append(pytest.param(("process", python), id="process"))
    return out


@pytest.fixture(scope="module", params=backends())
def sandbox(request):
    kind, arg = request.param
    if kind == "bwrap":
        from code_unlearn_bench.sandbox.bwrap import BwrapSandbox

        sb = BwrapSandbox(persistent=arg)
    else:
        from code_unlearn_bench.sandbox.process import ProcessSandbox

        sb = ProcessSandbox(allow_unsafe_execution=True, python=arg, warn=False)
    yield sb
    sb.close()


@pytest.fixture(scope="module")
def problem():
    return humaneval.load(None, {"task_ids": ["HumanEval/0"], "prompt_format": "raw"})[0]


@pytest.fixture(scope="module")
def results(sandbox, problem):
    programs = [humaneval.check_program(problem, c) for c in TRICKS.values()]
    programs.append(humaneval.check_program(problem, problem.reference))  # the canonical solution
    return dict(zip([*TRICKS, "canonical"], sandbox.run(programs, LIMITS, workers=2)))


def test_canonical_solution_still_passes(results):
    assert results["canonical"].passed, results["canonical"]


@pytest.mark.parametrize("trick", list(TRICKS))
def test_exit_trick_fails_with_a_reason(results, trick):
    res = results[trick]
    assert res.status == "failed", (trick, res)
    assert res.reason


@pytest.mark.parametrize("trick", ["os._exit in the function", "os._exit at module level", "exec of /bin/true",
                                   "stderr that exits 0", "__import__ that exits 0", "thread that exits 0",
                                   "fork, parent exits 0", "print replaced"])
def test_exit_status_zero_without_the_tests_is_named(results, trick):
    # these used to pass: exit status 0 is all the supervisor looked at
    assert results[trick].exit_code == 0
    assert "before its tests ran to the end" in results[trick].reason
