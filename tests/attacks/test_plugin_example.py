"""The worked example of docs/architecture.md, run as written: a new attack is one module (here
loaded from the docs) and works through the library entry point with no other change."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"


def _example_module() -> types.ModuleType:
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("### Worked example: a new attack"):text.index("### Worked example: a new model backend")]
    [code] = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    module = types.ModuleType("cub_doc_noise_attack")
    sys.modules[module.__name__] = module  # dataclasses resolve annotations through sys.modules
    exec(compile(code, str(DOC), "exec"), module.__dict__)
    return module


def test_documented_attack_runs(tiny_model_dir, tmp_path):
    from code_unlearn_bench.attacks.attack_run import run_attack
    from code_unlearn_bench.config import EvalConfig
    from code_unlearn_bench.results import schema_errors

    noise = _example_module()
    config = EvalConfig(model=str(tiny_model_dir), tasks=["copyright"], output_dir=str(tmp_path / "noise"), limit=2,
                        max_new_tokens=8, task_options={"copyright": {"max_chars": 200}}, quiet=True)
    results = run_attack(noise.ATTACK, noise.NoiseSettings(0.05), config)
    assert schema_errors(results) == []
    task = results["tasks"]["copyright"]
    assert results["attack"]["parameters"] == {"std": 0.05}
    assert {"forget_quality@clean", "forget_quality@noisy", "effect_of_attack@noisy"} <= set(task["metrics"])
