"""A plain (non-editable) wheel install finds task specs and analyzers under our own namespace."""

import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _can_build(python: str) -> bool:
    """setuptools builds wheels itself from 70.1 on; before that it needs the `wheel` package
    (a fresh virtualenv ships an old setuptools without it)."""
    code = ("import setuptools, importlib.util as u; v = tuple(int(x) for x in setuptools.__version__.split('.')[:2]);"
            "raise SystemExit(0 if v >= (70, 1) or u.find_spec('wheel') else 1)")
    return subprocess.run([python, "-c", code], capture_output=True).returncode == 0


def _builder() -> str:
    base = getattr(sys, "_base_executable", sys.executable)
    return sys.executable if _can_build(sys.executable) or not _can_build(base) else base


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    r = subprocess.run([_builder(), "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                        "-w", str(out), str(REPO)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    [whl] = out.glob("code_unlearn_bench-*.whl")
    return whl


def test_wheel_contents_use_our_namespace_only(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert top == {"code_unlearn_bench"}, top
    assert "code_unlearn_bench/tasks/copyright.yaml" in names
    assert "code_unlearn_bench/analyzers/copyright_bleu.py" in names
    assert "code_unlearn_bench/schemas/results.schema.json" in names
    # the pinned default data (same on every Python) and its PSF licence
    for name in ("copyright_forget.jsonl", "disjoint.jsonl", "LICENSE.txt", "README.md"):
        assert f"code_unlearn_bench/data/stdlib/{name}" in names


def test_installed_wheel_finds_specs_and_analyzers(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    py = venv / "bin" / "python"
    # Inside a virtualenv, `--system-site-packages` shows the nested venv the BASE interpreter's
    # packages, not this one's: point it at ours too (a plain path line, so the editable
    # install's own .pth finder is not activated and cannot shadow the wheel).
    nested_site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                 capture_output=True, text=True, check=True).stdout.strip()
    ours = [p for p in site.getsitepackages() if p.startswith(sys.prefix)]
    Path(nested_site, "cub-test-parent-site.pth").write_text("".join(p + "\n" for p in ours))
    r = subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    code = ("import code_unlearn_bench, json\n"
            "from code_unlearn_bench.tasks.spec import list_tasks, get_task\n"
            "t = get_task('copyright'); a = t.make_analyzer()\n"
            "print(json.dumps({'file': code_unlearn_bench.__file__, 'tasks': [x.name for x in list_tasks()],"
            " 'analyzer': type(a).__module__}))\n")
    # Run from an empty dir so the source checkout cannot shadow the installed package.
    r = subprocess.run([str(py), "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    import json

    info = json.loads(r.stdout)
    assert str(venv) in info["file"], info
    assert "copyright" in info["tasks"] and info["analyzer"] == "code_unlearn_bench.analyzers.copyright_bleu"
    r = subprocess.run([str(venv / "bin" / "cub"), "tasks", "--json"], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
