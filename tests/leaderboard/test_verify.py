"""Verified submissions on real runs: `cub leaderboard submit` re-scores the generations and refuses
a tampered or subset run (issue 12: a `--limit 2` run with `config.limit` deleted and forget_quality
edited to 0.99 used to be accepted)."""

from __future__ import annotations

import json
import shutil

import pytest

from code_unlearn_bench.leaderboard import submit as submit_mod
from code_unlearn_bench.leaderboard.verify import verify


def load(run):
    return json.loads((run / "results.json").read_text())


def save(run, doc):
    (run / "results.json").write_text(json.dumps(doc, indent=2))


def problems(err):
    return [line[4:] for line in err.splitlines() if line.startswith("  - ")]


def evaluate(tiny_model_dir, tmp_path_factory, name, *args):
    from code_unlearn_bench.cli import main

    out = tmp_path_factory.mktemp("verify") / name
    assert main(["evaluate", "--model", str(tiny_model_dir), *args, "--output-dir", str(out), "--quiet"]) == 0
    return out


@pytest.fixture(scope="module")
def limited_run(tiny_model_dir, tmp_path_factory):
    return evaluate(tiny_model_dir, tmp_path_factory, "limited", "--tasks", "copyright,heldout", "--limit", "2")


@pytest.fixture(scope="module")
def heldout_run(tiny_model_dir, tmp_path_factory):
    return evaluate(tiny_model_dir, tmp_path_factory, "heldout", "--tasks", "heldout", "--batch-size", "16")


def copy_run(run, tmp_path, name="run"):
    return shutil.copytree(run, tmp_path / name)


def test_tampered_subset_run_is_refused(limited_run, tmp_path, cub):
    run = copy_run(limited_run, tmp_path)
    doc = load(run)
    del doc["config"]["limit"]
    doc["tasks"]["copyright"]["metrics"]["forget_quality"]["value"] = 0.99
    save(run, doc)
    code, _, err = cub("leaderboard", "submit", run, "--to", tmp_path / "subs")
    assert code == 2 and not (tmp_path / "subs").exists()
    found = problems(err)
    assert "task 'copyright': n=2 but the registered data has 20 samples; a submission must cover every sample " \
           "(subset runs are refused)" in found
    assert any(p.startswith("task 'heldout': n=2 but the registered data has 164 samples") for p in found)


def test_rescoring_catches_edited_numbers_and_a_deleted_limit(limited_run, tmp_path):
    # beyond the n check: verification itself re-scores the (copyright: BLEU) generations
    lookup = submit_mod.registered_task
    run = copy_run(limited_run, tmp_path)
    doc = load(run)
    doc["tasks"]["copyright"]["metrics"]["forget_quality"]["value"] = 0.99
    errors, _ = verify(run, doc, lambda name: None)
    real = load(limited_run)["tasks"]["copyright"]["metrics"]["forget_quality"]["value"]
    assert errors == [f"task 'copyright': forget_quality value is 0.99 in the submission but {json.dumps(real)} "
                      f"when its generations are re-scored"]
    del doc["config"]["limit"]
    errors, _ = verify(run, doc, lambda name: None)
    assert len(errors) == 1 and errors[0].startswith("re-scoring the generations failed: task 'copyright': 18 samples "
                                                     "have no generation"), errors
    # every sample id of the registered data must be present, once
    errors, _ = verify(run, load(limited_run), lookup)
    assert "task 'copyright': 18 sample(s) of the registered data have no generation (first: stdlib/" \
           "asyncio/coroutines.py)" in errors
    # re-scoring happens in a scratch copy: the submitted run is never modified
    for rel in ("generations/copyright.jsonl", "generations/heldout.jsonl"):
        assert (run / rel).read_bytes() == (limited_run / rel).read_bytes()


def test_full_run_is_verified_and_tampering_is_refused(heldout_run, tmp_path, cub):
    code, out, err = cub("leaderboard", "submit", heldout_run, "--to", tmp_path / "subs", "--require", "heldout")
    assert code == 0, err
    stored = json.loads(next((tmp_path / "subs").glob("*.json")).read_text())
    assert stored["submission"]["verified"]["tasks"] == ["heldout"]
    assert stored["tasks"]["heldout"]["metrics"] == load(heldout_run)["tasks"]["heldout"]["metrics"]

    def refused(edit, name):
        run = copy_run(heldout_run, tmp_path, name)
        doc = load(run)
        edit(doc, run)
        save(run, doc)
        code, _, err = cub("leaderboard", "submit", run, "--to", tmp_path / "subs2", "--require", "heldout")
        assert code == 2, err
        return problems(err)

    def edit_value(doc, run):
        doc["tasks"]["heldout"]["metrics"]["heldout_nll"]["value"] -= 0.5

    found = refused(edit_value, "value")
    assert len(found) == 1 and found[0].startswith("task 'heldout': heldout_nll value is ") and \
        found[0].endswith("when its generations are re-scored")

    def edit_ci(doc, run):
        doc["tasks"]["heldout"]["metrics"]["heldout_nll"]["ci95"][1] -= 0.01

    assert refused(edit_ci, "ci")[0].startswith("task 'heldout': heldout_nll ci95 is ")

    def duplicate(doc, run):
        path = run / "generations" / "heldout.jsonl"
        lines = path.read_text().splitlines(keepends=True)
        path.write_text("".join(lines + lines[:1]))

    first = json.loads((heldout_run / "generations" / "heldout.jsonl").read_text().splitlines()[0])["id"]
    assert refused(duplicate, "dup") == ["task 'heldout': 1 sample id(s) appear more than once in the generations "
                                         f"(first: {first})"]

    def edit_config(doc, run):
        doc["config"]["seed"] = 7

    assert refused(edit_config, "config")[0].startswith("config_hash sha256:")

    def edit_setting(doc, run):  # the recorded settings must be the config's
        doc["tasks"]["heldout"]["options"]["max_chars"] = 200
        doc["tasks"]["heldout"].pop("comparability")

    found = refused(edit_setting, "setting")
    assert any("not run with the canonical settings of the task spec: options.max_chars 0 (canonical) vs 200 "
               "(submitted)" in p for p in found), found
