"""process backend: refuses without the unsafe opt-in; rlimits and cleanup still apply."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from code_unlearn_bench.errors import SandboxError
from code_unlearn_bench.sandbox import get_sandbox
from code_unlearn_bench.sandbox.base import Limits
from code_unlearn_bench.sandbox.process import ProcessSandbox


def test_refuses_without_unsafe_opt_in():
    with pytest.raises(SandboxError, match="--allow-unsafe-execution"):
        get_sandbox("process")


@pytest.fixture(scope="module")
def psb():
    # as root, programs run as an unprivileged uid that cannot read an interpreter under /root
    python = "/usr/bin/python3" if os.geteuid() == 0 else None
    if python and not Path(python).exists():
        pytest.skip("no system python3 readable by an unprivileged uid")
    return ProcessSandbox(allow_unsafe_execution=True, python=python, warn=False)


def test_warns_loudly(capsys):
    python = "/usr/bin/python3" if os.geteuid() == 0 else None
    if python and not Path(python).exists():
        pytest.skip("no system python3")
    ProcessSandbox(allow_unsafe_execution=True, python=python)
    assert "NO network or filesystem isolation" in capsys.readouterr().err


def test_statuses_and_cleanup(psb):
    mark = "1000.424242123"
    daemon = (f"import os\nif os.fork() == 0:\n    os.setsid()\n"
              f"    os.execv('/bin/sleep', ['sleep', '{mark}'])\nprint('ok')\n")
    res = psb.run(["print('hi')", "raise ValueError('bad')", "x = bytearray(8 << 30)",
                   "while True:\n    pass\n", daemon], Limits(timeout_s=1.5, memory_mb=256), workers=2)
    assert [r.status for r in res] == ["passed", "failed", "oom", "timeout", "passed"]
    assert res[1].reason == "ValueError: bad"
    alive = [p for p in os.listdir("/proc") if p.isdigit() and _cmd(p).find(mark) >= 0]
    if os.geteuid() == 0:  # the slot uid sweep kills what escaped the process group
        assert alive == []


def _cmd(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""
