"""A plain (non-editable) wheel install finds task specs and analyzers under our own namespace."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                        "-w", str(out), str(REPO)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    [whl] = out.glob("code_unlearn_bench-*.whl")
    return whl


def test_wheel_contents_use_our_namespace_only(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert top == {"code_unlearn_bench"}, top
    assert "code_unlearn_bench/task_specs/copyright.yaml" in names
    assert "code_unlearn_bench/analyzers/copyright_bleu.py" in names
    assert "code_unlearn_bench/schemas/results.schema.json" in names


def test_installed_wheel_finds_specs_and_analyzers(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    py = venv / "bin" / "python"
    r = subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    code = ("import code_unlearn_bench, json\n"
            "from code_unlearn_bench.tasks_registry import list_tasks, get_task\n"
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
