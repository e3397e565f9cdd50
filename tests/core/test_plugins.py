"""A researcher's own package plugs a method and a task into cub without touching this repository:
a tiny plugin package is built into a wheel, installed by pip, and found through its entry points
(`cub.methods`, `cub.tasks`, `cub.loaders`, `cub.analyzers`) by `cub tasks`, `cub unlearn` and
`cub evaluate` run as a user runs them (a fresh process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PYPROJECT = """
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "cub-plugin-demo"
version = "0.1"

[tool.setuptools]
packages = ["cub_plugin_demo", "cub_plugin_demo.tasks"]

[tool.setuptools.package-data]
"cub_plugin_demo.tasks" = ["*.yaml"]

[project.entry-points."cub.methods"]
half_ascent = "cub_plugin_demo.method:METHOD"

[project.entry-points."cub.tasks"]
cub_plugin_demo = "cub_plugin_demo.tasks"

[project.entry-points."cub.loaders"]
demo_lines = "cub_plugin_demo.loader:load"

[project.entry-points."cub.analyzers"]
demo_prefix_match = "cub_plugin_demo.analyzer:ANALYZER"
"""

FILES = {
    "cub_plugin_demo/__init__.py": "",
    "cub_plugin_demo/method.py": '''
        from code_unlearn_bench.unlearn.method import Method
        from code_unlearn_bench.unlearn.tokens import forward_logits, mean_nll


        class HalfAscent(Method):
            """Gradient ascent at half strength: minimise -scale * NLL(y_f | x_f)."""
            name = "half_ascent"
            defaults = {"scale": 0.5}

            def loss(self, model, seqs, state):
                seq = seqs["forget"]
                return -self.hp["scale"] * mean_nll(forward_logits(model, seq), seq)


        METHOD = HalfAscent
    ''',
    "cub_plugin_demo/loader.py": '''
        from code_unlearn_bench.samples import Sample

        SNIPPETS = ["def add(a, b):\\n    return a + b\\n", "def sub(a, b):\\n    return a - b\\n",
                    "def mul(a, b):\\n    return a * b\\n"]


        def load(source, options):
            """Each snippet: its first line is the prompt, the rest the reference."""
            out = []
            for i, text in enumerate(SNIPPETS):
                head, _, rest = text.partition("\\n")
                out.append(Sample(id=f"demo-{i}", prompt=head + "\\n", reference=rest, meta={}))
            return out
    ''',
    "cub_plugin_demo/analyzer.py": '''
        from code_unlearn_bench.analyzers.base import Analyzer, metric


        class PrefixMatch(Analyzer):
            name = "demo_prefix_match"
            primary_metric = "forget_quality"

            def score(self, samples, records):
                return [{"match": rec["completion"].strip()[:8] == s.reference.strip()[:8]}
                        for s, rec in zip(samples, records)]

            def aggregate(self, samples, scores):
                return {"metrics": {"forget_quality": metric([0.0 if s["match"] else 1.0 for s in scores])}}


        ANALYZER = PrefixMatch
    ''',
    "cub_plugin_demo/tasks/__init__.py": "",
    "cub_plugin_demo/tasks/demo_lines.yaml": '''
        name: demo_lines
        version: "1.0"
        kind: forget
        description: a plug-in task (one-line prompts, the function body as reference)
        loader: demo_lines
        analyzer: demo_prefix_match
        default_source: three toy functions shipped in the plug-in
        generation:
          max_new_tokens: 8
    ''',
}


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory) -> Path:
    """The plug-in built into a wheel and installed by pip into a folder (on the child's path)."""
    root = tmp_path_factory.mktemp("plugin")
    src = root / "src"
    for rel, text in FILES.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(textwrap.dedent(text).lstrip())
    (src / "pyproject.toml").write_text(PYPROJECT)
    wheels, site = root / "wheels", root / "site"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(wheels), str(src)], check=True, capture_output=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target", str(site),
                    *map(str, wheels.glob("*.whl"))], check=True, capture_output=True)
    assert list(site.glob("cub_plugin_demo-0.1.dist-info/entry_points.txt"))
    return site


def cub(site: Path, *argv) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])),
           "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "code_unlearn_bench", *map(str, argv)], capture_output=True,
                          text=True, env=env, timeout=600)


def test_plugin_method_and_task_are_listed(plugin_path):
    tasks = cub(plugin_path, "tasks")
    assert tasks.returncode == 0 and "demo_lines" in tasks.stdout, tasks.stderr
    help_ = cub(plugin_path, "unlearn", "--help")
    assert "half_ascent" in help_.stdout
    # without the plug-in installed neither exists
    assert "demo_lines" not in cub(Path("/nonexistent"), "tasks").stdout


def test_plugin_names_get_did_you_mean(plugin_path, tiny_model_dir, tmp_path):
    r = cub(plugin_path, "unlearn", "--model", tiny_model_dir, "--method", "half_ascnt", "--task", "demo_lines",
            "--output-dir", tmp_path / "u")
    assert r.returncode == 2 and "did you mean 'half_ascent'" in r.stderr and "Traceback" not in r.stderr
    r = cub(plugin_path, "evaluate", "--model", tiny_model_dir, "--tasks", "demo_line", "--output-dir", tmp_path / "e")
    assert r.returncode == 2 and "did you mean 'demo_lines'" in r.stderr and "Traceback" not in r.stderr


def test_plugin_method_unlearns_the_plugin_task_and_the_task_evaluates(plugin_path, tiny_model_dir, tmp_path):
    out = tmp_path / "unlearned"
    r = cub(plugin_path, "unlearn", "--model", tiny_model_dir, "--method", "half_ascent", "--task", "demo_lines",
            "--method-args", "scale=0.25", "--epochs", "1", "--grad-accum", "1", "--max-length", "32", "--output-dir", out)
    assert r.returncode == 0, r.stderr[-2000:]
    run = json.loads((out / "run.json").read_text())
    assert run["method"] == "half_ascent" and run["hyperparameters"] == {"scale": 0.25}
    assert run["data"]["n_examples"] == 3 and run["status"] == "complete"
    ev = tmp_path / "eval"
    r = cub(plugin_path, "evaluate", "--model", out / "epoch-01", "--tasks", "demo_lines", "--output-dir", ev)
    assert r.returncode == 0, r.stderr[-2000:]
    result = json.loads((ev / "results.json").read_text())["tasks"]["demo_lines"]
    assert result["metrics"]["forget_quality"]["n"] == 3
    assert result["protocol"]["analyzer"] == "demo_prefix_match"
