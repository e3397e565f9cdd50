"""Session-scoped fixtures: real data paths and tiny Llama models trained from scratch in seconds."""

from __future__ import annotations

import json
import os
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


def pytest_configure(config):
    # Keep every test's caches out of the user's real cache dir.
    os.environ.setdefault("CUB_CACHE_DIR", str(Path(config.rootpath) / ".pytest_cache" / "cub-cache"))
    # Tiny models run fastest on one thread (and a busy 2-core machine slows multi-threaded torch
    # ~40x); OMP_NUM_THREADS reaches the subprocesses that crash/resume tests start.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared benchmark data not found at {SHARED_DATA}")
    return SHARED_DATA


def _snippet(rel: str, chars: int = 420) -> str:
    """The first ``chars`` characters of a stdlib file, cut at a line end."""
    text = (Path(sysconfig.get_paths()["stdlib"]) / rel).read_text(encoding="utf-8")
    cut = text[:chars]
    return cut[: cut.rfind("\n") + 1] if "\n" in cut else cut


@dataclass
class TinyMemorised:
    path: Path  # HF model dir
    seen: list[str]  # memorised texts
    unseen: list[str]  # never trained on
    seen_jsonl: Path  # copyright-format JSONL of the seen texts
    unseen_jsonl: Path
    all_jsonl: Path  # seen + unseen, ids seen-* / unseen-*


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="session")
def tiny_memorised(tmp_path_factory) -> TinyMemorised:
    """A ~1M-parameter Llama that has memorised two stdlib snippets (and never saw two others)."""
    from code_unlearn_bench.models import tiny

    root = tmp_path_factory.mktemp("tiny_memorised")
    seen = [_snippet("bisect.py"), _snippet("json/scanner.py")]
    unseen = [_snippet("secrets.py"), _snippet("signal.py")]
    tiny.make_tiny_model_dir(root / "model", memorise=seen, steps=400, seed=0)
    rows_seen = [{"task_id": f"seen-{i}", "content": t} for i, t in enumerate(seen)]
    rows_unseen = [{"task_id": f"unseen-{i}", "content": t} for i, t in enumerate(unseen)]
    return TinyMemorised(root / "model", seen, unseen, _write_jsonl(root / "seen.jsonl", rows_seen),
                         _write_jsonl(root / "unseen.jsonl", rows_unseen),
                         _write_jsonl(root / "all.jsonl", rows_seen + rows_unseen))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """An untrained tiny Llama with a BPE tokenizer (fast CLI/runner tests)."""
    from code_unlearn_bench.models import tiny

    return tiny.make_tiny_model_dir(tmp_path_factory.mktemp("tiny_random") / "model", hidden=64, layers=2)


@pytest.fixture
def cub(capsys):
    """Run the CLI in-process: returns (exit code, stdout, stderr)."""
    from code_unlearn_bench.cli import main

    def _run(*argv: str):
        code = main([str(a) for a in argv])
        out = capsys.readouterr()
        return code, out.out, out.err

    return _run


FORGET_SNIPPETS = ["def add(a, b):\n    return a + b\n", "import os\nprint(os.getcwd())\n",
                   "class Point:\n    def __init__(self, x, y):\n        self.x = x\n        self.y = y\n"]


@pytest.fixture
def forget_jsonl(tmp_path) -> Path:
    """Three short code snippets as a copyright-format forget set (cub learn/unlearn tests)."""
    return _write_jsonl(tmp_path / "forget.jsonl",
                        [{"task_id": f"s{i}", "content": t} for i, t in enumerate(FORGET_SNIPPETS)])


@pytest.fixture
def crash_ga(monkeypatch):
    """``crash_ga(n)`` makes GA's loss raise at its n-th call from now (a run dying mid-epoch);
    ``crash_ga(None)`` puts the real loss back (the resume)."""
    from code_unlearn_bench.unlearn.methods import ga as ga_module

    real = ga_module.GradientAscent.loss

    def arm(n: int | None) -> None:
        calls = []

        def crashing(self, model, seqs, state):
            calls.append(1)
            if len(calls) == n:
                raise RuntimeError("simulated crash")
            return real(self, model, seqs, state)

        monkeypatch.setattr(ga_module.GradientAscent, "loss", real if n is None else crashing)

    return arm
