"""`cub check`: the CI gate passes identical runs and fails seeded regressions with a readable diff."""

from __future__ import annotations

import json

import pytest

from code_unlearn_bench.ranking import synthetic

BASE = {"copyright": 0.85, "insecure": 0.60, "humaneval": 0.26, "heldout": 1.20}


def write(tmp_path, name, scores=None, **kwargs):
    return synthetic.write_run(tmp_path / name, synthetic.results(name, {**BASE, **(scores or {})}, **kwargs))


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")


def test_identical_runs_pass(cub, tmp_path):
    base = write(tmp_path, "base")
    code, out, err = cub("check", "--baseline", base, "--candidate", base)
    assert code == 0, out + err
    assert "cub check: passed (4 checks)" in out and "REGRESSION" not in out


def test_seeded_forget_regression_fails_with_a_diff(cub, tmp_path):
    base = write(tmp_path, "base")
    cand = write(tmp_path, "cand", {"copyright": 0.80})
    code, out, _ = cub("check", "--baseline", base, "--candidate", cand)
    assert code == 1
    assert "REGRESSION" in out and "0.8500 [0.830, 0.870]" in out and "0.8000 [0.780, 0.820]" in out
    assert "FAIL copyright: regression: dropped 0.0500 > allowed 0.02" in out
    assert "cub check: FAILED (1 of 4 checks failed)" in out
    # a looser threshold lets the same change through
    assert cub("check", "--baseline", base, "--candidate", cand, "--max-forget-drop", "0.06")[0] == 0


def test_lower_is_better_utility_regresses_when_it_rises(cub, tmp_path):
    base = write(tmp_path, "base")
    worse = write(tmp_path, "worse", {"heldout": 1.30})
    better = write(tmp_path, "better", {"heldout": 1.00})
    code, out, _ = cub("check", "--baseline", base, "--candidate", worse)
    assert code == 1 and "FAIL heldout" in out
    code, out, _ = cub("check", "--baseline", base, "--candidate", better)
    assert code == 0 and "improved" in out
    # a per-task threshold on the NLL's own scale
    assert cub("check", "--baseline", base, "--candidate", worse, "--max-drop", "heldout=0.2")[0] == 0


def test_small_drop_within_threshold_passes(cub, tmp_path):
    base = write(tmp_path, "base")
    cand = write(tmp_path, "cand", {"humaneval": 0.25, "copyright": 0.84})
    assert cub("check", "--baseline", base, "--candidate", cand)[0] == 0


def test_missing_skipped_or_different_data_fails(cub, tmp_path):
    base = write(tmp_path, "base")
    doc = synthetic.results("cand", {k: v for k, v in BASE.items() if k != "insecure"},
                            skipped={"humaneval": "no sandbox"})
    doc["tasks"]["copyright"]["task"]["data_hash"] = synthetic.sha256("other data")
    cand = synthetic.write_run(tmp_path / "cand", doc)
    code, out, _ = cub("check", "--baseline", base, "--candidate", cand)
    assert code == 1
    assert "FAIL copyright: not comparable: made differently (baseline vs candidate): data_hash sha256:" in out
    assert "FAIL insecure: missing: candidate: no 'insecure' result" in out
    assert "FAIL humaneval: missing: candidate: 'humaneval' skipped: no sandbox" in out


def test_require_significant_tolerates_drops_inside_overlapping_cis(cub, tmp_path):
    base = write(tmp_path, "base")
    cand = write(tmp_path, "cand", {"copyright": 0.82})  # CIs [0.83,0.87] and [0.80,0.84] overlap
    assert cub("check", "--baseline", base, "--candidate", cand)[0] == 1
    code, out, _ = cub("check", "--baseline", base, "--candidate", cand, "--require-significant")
    assert code == 0 and "within CI" in out


def test_json_format(cub, tmp_path):
    base = write(tmp_path, "base")
    cand = write(tmp_path, "cand", {"copyright": 0.5})
    code, out, _ = cub("check", "--baseline", base, "--candidate", cand, "--format", "json")
    doc = json.loads(out)
    assert code == 1 and doc["passed"] is False
    row = {c["task"]: c for c in doc["comparisons"]}["copyright"]
    assert row["status"] == "regression" and row["change"] == pytest.approx(-0.35)


def test_pdr_min_against_a_stored_model_set(cub, tmp_path):
    synthetic.write_demo_set(tmp_path / "set")
    good = tmp_path / "set" / "prod-e3"  # dominates 2 of the other 6
    weak = tmp_path / "set" / "ga-e1"
    code, out, _ = cub("check", "--candidate", good, "--model-set", tmp_path / "set", "--pdr-min", "0.3")
    assert code == 0, out
    assert "33.3%" in out  # the candidate is not compared with its own copy in the set
    code, out, _ = cub("check", "--candidate", weak, "--model-set", tmp_path / "set", "--pdr-min", "0.1")
    assert code == 1 and "FAIL copyright: below minimum" in out


@pytest.mark.parametrize("args, message", [
    ([], "nothing to check"),
    (["--pdr-min", "0.5"], "needs --model-set"),
    (["--pdr-min", "50", "--model-set", "{base}"], "fraction in [0, 1]"),
    (["--baseline", "{tmp}/nope"], "no such"),
    (["--baseline", "{base}", "--max-forget-drop", "-1"], "non-negative"),
])
def test_bad_input_is_one_line_error(cub, tmp_path, args, message):
    base = write(tmp_path, "base")
    args = [a.replace("{base}", str(base)).replace("{tmp}", str(tmp_path)) for a in args]
    code, _, err = cub("check", "--candidate", base, *args)
    assert code == 2 and message in err and err.count("\n") == 1


def test_short_budget_run_is_not_comparable_with_its_baseline(cub, tiny_model_dir, tmp_path):
    """`--max-new-tokens 3` makes BLEU ~0 (forget quality ~1) for any model: `cub check` must refuse
    to compare it with a baseline run at the task's budget, naming the setting."""
    content = "".join(f"value_{i} = compute({i}, {i + 1})\n" for i in range(130))  # ~950-token first half
    data = tmp_path / "one.jsonl"
    data.write_text(json.dumps({"task_id": "f", "content": content}) + "\n")
    common = ("evaluate", "--model", tiny_model_dir, "--tasks", "copyright", "--data", data, "--quiet")
    assert cub(*common, "--output-dir", tmp_path / "base")[0] == 0
    assert cub(*common, "--output-dir", tmp_path / "short", "--max-new-tokens", "3")[0] == 0
    code, out, _ = cub("check", "--baseline", tmp_path / "base", "--candidate", tmp_path / "short")
    assert code == 1
    assert ("FAIL copyright: not comparable: made differently (baseline vs candidate): "
            "generation.max_new_tokens 1024 vs 3") in out
    # the written key records the settings too: editing them back is noticed
    path = tmp_path / "short" / "results.json"
    doc = json.loads(path.read_text())
    doc["tasks"]["copyright"]["generation"]["max_new_tokens"] = 1024
    path.write_text(json.dumps(doc))
    code, out, _ = cub("check", "--baseline", tmp_path / "base", "--candidate", tmp_path / "short")
    assert code == 1 and ("FAIL copyright: not comparable: candidate: written comparability key differs from the "
                          "recorded settings: generation.max_new_tokens 3 (written) vs 1024 (recorded)") in out
    assert cub("check", "--baseline", tmp_path / "base", "--candidate", tmp_path / "base")[0] == 0
