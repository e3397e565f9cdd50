"""Verdict classification and the self-check, independent of any backend."""

from __future__ import annotations

import signal

import pytest

from code_unlearn_bench.errors import SandboxError
from code_unlearn_bench.sandbox import get_sandbox, self_check
from code_unlearn_bench.sandbox.base import (EXIT_OOM, ExecutionResult, Limits, Sandbox, classify,
                                             parse_launcher_output)

LIM = Limits(timeout_s=2, memory_mb=128)


def report(**kw):
    base = {"completed": True, "exit": 0, "signal": None, "timed_out": False, "output_exceeded": False, "output_bytes": 0,
            "stdout": "", "stderr": "", "wall_s": 0.1, "cpu_s": 0.1, "maxrss_kb": 1000}
    return {**base, **kw}


@pytest.mark.parametrize("rep, status, reason", [
    (report(), "passed", ""),
    (report(completed=False), "failed", "the program exited with status 0 before its tests ran to the end "
                                        "(no completion token from the harness: os._exit, exec or a similar exit trick)"),
    (report(exit=1, stderr="Traceback...\nAssertionError: x\n"), "failed", "AssertionError: x"),
    (report(exit=EXIT_OOM), "oom", "memory limit of 128 MB reached"),
    (report(exit=None, timed_out=True), "timeout", "wall-clock limit of 2s exceeded"),
    (report(exit=None, signal=int(signal.SIGXCPU)), "timeout", "CPU time limit of 3s exceeded"),
    (report(exit=None, signal=int(signal.SIGSEGV)), "failed", "killed by SIGSEGV"),
    (report(exit=None, signal=int(signal.SIGKILL), output_exceeded=True), "failed", "output limit of 1048576 bytes exceeded"),
    (report(exit=125, stderr="sandbox setup failed: PermissionError()"), "sandbox_error",
     "sandbox setup failed: sandbox setup failed: PermissionError()"),
])
def test_classify(rep, status, reason):
    res = classify(rep, True, LIM)
    assert (res.status, res.reason) == (status, reason)


def test_classify_without_report():
    assert classify(None, False, LIM, "bwrap: Can't mount proc\n").status == "sandbox_error"
    assert "killed its sandbox supervisor" in classify(None, True, LIM).reason
    assert classify(None, True, LIM, outer_timeout=True).status == "timeout"


def test_parse_launcher_output_ignores_noise():
    pid, rep = parse_launcher_output("noise\nCUB-READY 12\nCUB-REPORT {'exit': 0, 'stderr': '\\u00e9'}\n")
    assert pid == 12 and rep == {"exit": 0, "stderr": "\u00e9"}


class Canned(Sandbox):
    """A 'sandbox' that returns one fixed status: what a broken mount or interpreter looks like."""

    def __init__(self, status):
        self.status = status

    def run_one(self, code, limits, slot):
        return ExecutionResult(self.status, "canned")


def test_self_check_rejects_a_sandbox_that_fails_everything():
    with pytest.raises(SandboxError, match="canonical solution of HumanEval/0 did not pass"):
        self_check(Canned("failed"))


def test_self_check_rejects_a_sandbox_that_passes_everything():
    with pytest.raises(SandboxError, match="must-fail program"):
        self_check(Canned("passed"))


def test_unknown_backend():
    with pytest.raises(SandboxError, match="unknown sandbox 'firejail'"):
        get_sandbox("firejail")
