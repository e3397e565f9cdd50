"""The default copyright forget set and the attacks' default disjoint (relearn / MIA holdout) set
are package data, not the running Python's standard library: same samples, same data hash on
every Python (they used to differ between 3.11.2 and 3.11.7)."""

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from code_unlearn_bench.attacks import related_data
from code_unlearn_bench.loaders import copyright as loader
from code_unlearn_bench.samples import data_hash

REPO = Path(__file__).resolve().parents[2]
# The hash the default set had under CPython 3.11.7 before it was shipped: results made then
# stay comparable.
COPYRIGHT_DEFAULT_HASH = "sha256:8b71e32be1fc5127ea31e097d31a3c205b3d269cb97fc2936d91eff7575f554d"
DISJOINT_DEFAULT_HASH = "sha256:173fb0830efca363f5c2edcc582dbb62ebc7883e881499a453ee04193bad2c1e"

HASH_SCRIPT = """
import json, sys
from code_unlearn_bench.loaders.copyright import load
from code_unlearn_bench.attacks.related_data import packaged_rows
from code_unlearn_bench.samples import data_hash
print(json.dumps({"python": sys.version.split()[0], "copyright": data_hash(load(None, {})),
                  "disjoint": packaged_rows([], 32)}))
"""


def rows_hash(rows) -> str:
    return "sha256:" + hashlib.sha256(json.dumps(rows).encode()).hexdigest()


def test_default_copyright_hash_is_a_constant(monkeypatch):
    import sysconfig

    assert data_hash(loader.load(None, {})) == COPYRIGHT_DEFAULT_HASH
    # no dependence on the running Python's stdlib: a Python whose stdlib is elsewhere (or gone)
    # loads the same set
    real = sysconfig.get_paths

    monkeypatch.setattr(sysconfig, "get_paths", lambda *a, **k: {**real(*a, **k), "stdlib": "/nonexistent"})
    assert data_hash(loader.load(None, {})) == COPYRIGHT_DEFAULT_HASH
    assert len(related_data.packaged_rows([], 8)) == 8


def test_default_disjoint_set_is_pinned_and_disjoint():
    rows = related_data.packaged_rows([], 32)
    assert len(rows) == 32 and len({r["task_id"] for r in rows}) == 32
    assert rows_hash(rows) == DISJOINT_DEFAULT_HASH
    forget = loader.load(None, {})
    assert not {s.meta["content"].strip() for s in forget} & {r["content"].strip() for r in rows}
    assert not {s.id for s in forget} & {r["task_id"] for r in rows}
    # texts given as excluded (e.g. a user's forget set) are skipped
    assert rows[0] not in related_data.packaged_rows([rows[0]["content"]], 32)


def _other_pythons() -> list[str]:
    found = []
    for name in ("python3.10", "python3.11", "python3.12", "python3.13"):
        path = shutil.which(name, path="/usr/bin:/usr/local/bin")
        if path and Path(path).resolve() != Path(sys.executable).resolve():
            found.append(path)
    return found


@pytest.mark.parametrize("python", _other_pythons() or [pytest.param(None, marks=pytest.mark.skip("no second Python"))])
def test_same_hash_under_another_interpreter(python):
    # the loader needs nothing but the stdlib, so a bare interpreter can import it from the source tree
    r = subprocess.run([python, "-c", HASH_SCRIPT], capture_output=True, text=True, cwd=REPO,
                       env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr[-2000:]
    other = json.loads(r.stdout)
    assert other["copyright"] == COPYRIGHT_DEFAULT_HASH
    assert rows_hash(other["disjoint"]) == DISJOINT_DEFAULT_HASH
