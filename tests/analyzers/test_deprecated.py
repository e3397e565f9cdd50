"""Deprecated-API analyzer: exact-match normalisation, forget/retain metrics, per-package breakdown."""

from __future__ import annotations

import pytest

from code_unlearn_bench.analyzers.deprecated import DeprecatedApi, exact_match
from code_unlearn_bench.samples import Sample
from code_unlearn_bench.tasks.spec import get_task


@pytest.mark.parametrize("completion, answer, hit", [
    ("float)", "float", True),
    ("  append(new_row, ignore_index=True)", "append", True),
    ("float64)", "float", False),          # a different, longer identifier
    ("floa", "float", False),
    ("Mapping.register(X)", "Mapping", True),
    ("", "float", False),
    ("\nfloat", "float", True),            # leading whitespace is ignored
])
def test_exact_match(completion, answer, hit):
    assert exact_match(completion, answer) is hit


def sample(i, pkg, split, answer):
    return Sample(id=f"{pkg}/{i}", prompt="x.", reference=answer, meta={"package": pkg, "split": split})


def test_forget_quality_and_retained_split():
    samples = [sample(1, "numpy", "forget", "float"), sample(2, "numpy", "retain", "float64"),
               sample(3, "pandas", "forget", "append"), sample(4, "pandas", "retain", "concat")]
    completions = ["float)", "float64)", "concat([df])", "concat([df])"]
    a = DeprecatedApi()
    scores = a.score(samples, [{"completion": c} for c in completions])
    agg = a.aggregate(samples, scores)
    m = agg["metrics"]
    assert m["forget_exact_match"]["value"] == 0.5 and m["forget_quality"]["value"] == 0.5
    assert m["retain_exact_match"]["value"] == 1.0
    assert agg["breakdown"]["package"]["pandas"] == {"forget_n": 1, "forget_exact_match": 0.0, "forget_quality": 1.0,
                                                     "retain_n": 1, "retain_exact_match": 1.0}


def test_task_spec_runs_on_the_embedded_set():
    task = get_task("deprecated")
    assert task.generation["stop"] == ["\n"]
    samples = task.load_samples(None, {}, limit=50)
    assert {s.meta["split"] for s in samples} == {"forget", "retain"} and len({s.meta["package"] for s in samples}) >= 20
    # answering with the reference (the model still knows every API) gives forget quality 0, retain 1
    a = task.make_analyzer({})
    agg = a.aggregate(samples, a.score(samples, [{"completion": s.reference + "("} for s in samples]))
    assert agg["metrics"]["forget_quality"]["value"] == 0.0 and agg["metrics"]["retain_exact_match"]["value"] == 1.0
