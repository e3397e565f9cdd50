"""Submissions re-generated from the weights (issue 21): a run whose completion was replaced and then
re-scored with `cub score` passes re-scoring, and is refused because the weights it names do not
produce that completion."""

from __future__ import annotations

import json
import shutil
import sysconfig
from pathlib import Path

import pytest

from code_unlearn_bench.leaderboard import submit as submit_mod
from code_unlearn_bench.leaderboard.regenerate import choose, first_difference


def problems(err):
    return [line[4:] for line in err.splitlines() if line.startswith("  - ")]


@pytest.fixture(scope="module")
def small(tiny_model_dir, tmp_path_factory):
    """A complete copyright run of the tiny model on two stdlib files, and that data's registration."""
    from code_unlearn_bench.cli import main
    from code_unlearn_bench.samples import data_hash
    from code_unlearn_bench.tasks.spec import get_task

    root = tmp_path_factory.mktemp("regenerate")
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    rows = [{"task_id": name, "content": (stdlib / name).read_text(encoding="utf-8")[:600]}
            for name in ("bisect.py", "colorsys.py")]
    data = root / "two.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    run = root / "run"
    assert main(["evaluate", "--model", str(tiny_model_dir), "--tasks", "copyright", "--data", str(data),
                 "--output-dir", str(run), "--quiet"]) == 0
    task = get_task("copyright")
    samples = task.load_samples(str(data))
    reg = submit_mod.Registered(str(task.version), data_hash(samples), len(samples),
                                tuple(s.id for s in samples), task.canonical_settings())
    return run, reg


@pytest.fixture
def registered(small, monkeypatch):
    monkeypatch.setattr(submit_mod, "registered_task", lambda name: small[1])
    return small[0]


def test_sample_choice_is_seeded_and_first_difference():
    ids = [f"s{i}" for i in range(10)]
    assert choose(ids, 3, 5, "copyright") == choose(list(reversed(ids)), 3, 5, "copyright")
    assert choose(ids, 3, 5, "copyright") != choose(ids, 3, 6, "copyright") and len(choose(ids, 3, 5, "x")) == 3
    assert choose(ids[:2], 3, 5, "copyright") == ids[:2]
    assert first_difference([1, 2, 3], [1, 2, 3]) is None
    assert first_difference([1, 2, 3], [1, 4, 3]) == 1 and first_difference([1, 2], [1, 2, 3]) == 2


def test_a_replaced_completion_is_refused_by_regeneration(registered, tmp_path, cub):
    # the genuine run: both items re-generated (seeded, recorded) and accepted
    code, _, err = cub("leaderboard", "submit", registered, "--to", tmp_path / "subs", "--require", "copyright",
                       "--regenerate-samples", "2", "--regenerate-seed", "11")
    assert code == 0, err
    stored = json.loads(next((tmp_path / "subs").glob("*.json")).read_text())
    done = stored["submission"]["regenerated"]
    assert done["seed"] == 11 and done["per_task"] == 2 and done["samples"] == {"copyright": ["bisect.py", "colorsys.py"]}
    assert done["backend"] in ("hf", "auto") and done["dtype"]

    # one completion replaced, then re-scored with `cub score`: re-scoring alone now agrees
    run = Path(shutil.copytree(registered, tmp_path / "forged"))
    path = run / "generations" / "copyright.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    records[0]["completion"] = "    return sorted(a)[lo:hi]\n"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    code, _, err = cub("score", "--output-dir", run, "--quiet")
    assert code == 0, err
    code, _, err = cub("leaderboard", "submit", run, "--to", tmp_path / "subs2", "--require", "copyright",
                       "--regenerate-samples", "2")
    assert code == 2 and not (tmp_path / "subs2").exists()
    found = problems(err)
    assert len(found) == 1, found
    assert found[0].startswith(f"task 'copyright': sample '{records[0]['id']}' re-generated from the weights differs "
                               f"at token 0: submitted token "), found
    assert "re-generated token " in found[0]

    # --no-regenerate accepts it, marked (the site shows "not re-generated": test_build.py)
    code, _, err = cub("leaderboard", "submit", run, "--to", tmp_path / "subs3", "--require", "copyright",
                       "--no-regenerate")
    assert code == 0, err
    assert json.loads(next((tmp_path / "subs3").glob("*.json")).read_text())["submission"]["regenerated"] is False


def test_bad_sample_count_is_one_line(cub, tmp_path):
    code, _, err = cub("leaderboard", "submit", tmp_path, "--regenerate-samples", "0")
    assert code == 2 and err.strip() == "cub: error: --regenerate-samples must be >= 1 (got 0)"
