"""Helpers shared by the sandbox tests: find processes a sandboxed program left on the host."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest


def processes_with(text: str) -> list[int]:
    """Pids of live (non-zombie) processes whose command line contains ``text``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text in cmd and state != "Z":
            found.append(int(entry))
    return found


@pytest.fixture
def mark() -> str:
    """A sleep duration nobody else uses (1000.<random digits>), to find a program's processes."""
    return f"1000.{uuid.uuid4().int % 10**12:012d}"


@pytest.fixture
def no_leftovers():
    """Asserts that no process whose command line contains the mark is left on the host."""

    def check(mark: str) -> None:
        deadline = time.monotonic() + 3  # the kernel tears a pid namespace down asynchronously
        while processes_with(mark) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert processes_with(mark) == []

    return check
