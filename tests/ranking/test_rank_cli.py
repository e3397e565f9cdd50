"""`cub rank` end to end on synthetic results files (two methods x three epochs + the original)."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest

from code_unlearn_bench.ranking import synthetic


@pytest.fixture
def demo_dir(tmp_path):
    synthetic.write_demo_set(tmp_path / "runs")
    return tmp_path / "runs"


def test_table_shows_both_readings(cub, demo_dir, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    code, out, err = cub("rank", demo_dir)
    assert code == 0, err
    assert "PDR per model" in out and "PDR pooled" in out
    assert "33.3%" in out  # prod e3 per model
    assert "22.2%" in out  # prod pooled
    assert "0.071" in out  # ga utility at 90% of the best forget quality
    assert "original: original (original model in the pool)" in out


def test_csv_json_and_plot_outputs(cub, demo_dir, tmp_path):
    code, out, err = cub("rank", demo_dir, "--format", "csv", "--out", tmp_path / "out")
    assert code == 0, err
    frame = pd.read_csv(io.StringIO(out))
    assert frame.set_index("model").loc["prod e3", "pdr"] == pytest.approx(1 / 3)
    assert set(frame["task"]) == {"copyright"}
    written = {p.name for p in (tmp_path / "out").iterdir()}
    assert written == {"rank-models.csv", "rank-methods.csv", "rank.json", "tradeoff-copyright.png"}
    png = (tmp_path / "out" / "tradeoff-copyright.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    methods = pd.read_csv(tmp_path / "out" / "rank-methods.csv").set_index("group")
    assert methods.loc["prod", "pdr_pooled"] == pytest.approx(2 / 9)
    assert "wrote" in err and "wrote" not in out  # stdout stays pure CSV

    code, out, _ = cub("rank", demo_dir, "--format", "json")
    doc = json.loads(out)["rankings"][0]
    assert doc["readings"]["pdr_pooled"].startswith("PDR pooled")
    assert doc["original"] == "original" and doc["target_forget"] == pytest.approx(0.855)
    assert {m["group"]: m["pdr_pooled"] for m in doc["methods"]}["prod"] == pytest.approx(2 / 9)


def test_group_by_model_makes_pooled_equal_per_model(cub, demo_dir):
    code, out, _ = cub("rank", demo_dir, "--format", "json", "--group-by", "model")
    doc = json.loads(out)["rankings"][0]
    per_model = {m["model"]: m["pdr"] for m in doc["models"]}
    assert {m["group"]: m["pdr_pooled"] for m in doc["methods"]} == pytest.approx(per_model)


def test_default_utility_falls_back_to_heldout_and_ranks_every_forget_task(cub, tmp_path):
    for name, method, epoch, f, nll in (("orig", None, None, 0.3, 1.0), ("ga-e1", "ga", 1, 0.6, 2.0),
                                        ("ga-e2", "ga", 2, 0.9, 3.0)):
        synthetic.write_run(tmp_path / name, synthetic.results(
            name, {"copyright": f, "insecure": f / 2, "heldout": nll}, method=method, epoch=epoch))
    code, out, err = cub("rank", tmp_path, "--format", "json")
    assert code == 0, err
    docs = json.loads(out)["rankings"]
    assert [d["forget_task"] for d in docs] == ["copyright", "insecure"]
    assert all(d["utility_task"] == "heldout" and d["utility_higher_is_better"] is False for d in docs)
    # trade-off along one curve: nobody dominates anybody
    assert all(m["pdr"] == 0 for d in docs for m in d["models"])


def test_missing_score_is_reported_in_the_table(cub, demo_dir, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    synthetic.write_run(demo_dir / "npo-e1", synthetic.results(
        "npo-e1", {"copyright": 0.7}, method="npo", epoch=1, skipped={"humaneval": "sandbox unavailable"}))
    code, out, _ = cub("rank", demo_dir)
    assert code == 0
    assert "npo e1 left out of the PDR pool" in out and "sandbox unavailable" in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["does-not-exist"], "no such run directory"),
        (["{demo}", "--task", "nope"], "no run has a score for task 'nope'"),
        (["{demo}", "--utility", "copyright"], "cannot be both"),
        (["{demo}", "--forget-fraction", "1.5"], "--forget-fraction"),
        (["{demo}", "--original", "nobody"], "matches none"),
    ],
)
def test_bad_input_is_one_line_error(cub, demo_dir, args, message):
    code, out, err = cub("rank", *[a.replace("{demo}", str(demo_dir)) for a in args])
    assert code == 2
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_invalid_results_file_names_the_schema_problem(cub, tmp_path):
    doc = synthetic.results("m", {"copyright": 0.5, "humaneval": 0.2})
    del doc["model"]["fingerprint"]
    synthetic.write_run(tmp_path / "bad", doc)
    code, _, err = cub("rank", tmp_path / "bad")
    assert code == 2 and "does not match the results schema" in err and "fingerprint" in err


def test_runs_made_differently_are_ranked_in_separate_pools(cub, tmp_path):
    """A 3-token budget makes any model look forgetful: such runs never share a pool with the rest."""
    runs = synthetic.write_demo_set(tmp_path / "runs")
    for run in runs[4:]:  # the prod checkpoints, evaluated with --max-new-tokens 3
        doc = json.loads((run / "results.json").read_text())
        doc["tasks"]["copyright"]["generation"] = {"max_new_tokens": 3, "stop": [], "temperature": 0.0}
        (run / "results.json").write_text(json.dumps(doc))
    code, out, err = cub("rank", tmp_path / "runs", "--format", "json", "--out", tmp_path / "out", "--no-plot")
    assert code == 0, err
    rankings = json.loads(out)["rankings"]
    assert [r["pool"] for r in rankings] == ["pool 1 of 2", "pool 2 of 2"]
    pools = [{m["model"] for m in r["models"]} for r in rankings]
    assert pools == [{"original", "ga e1", "ga e2", "ga e3"}, {"prod e1", "prod e2", "prod e3"}]
    assert all(r["notes"][0].startswith("2 pools: runs whose copyright/humaneval settings differ") for r in rankings)
    assert rankings[1]["notes"][0].endswith("this pool differs from pool 1 in copyright: generation.max_new_tokens "
                                            "null vs 3")
    # PDR counts only the model's own pool: prod e3 dominated ga e3 and the original in one pool (33%),
    # but the three prod checkpoints are a trade-off among themselves
    assert [m["pdr"] for m in rankings[1]["models"]] == [0.0, 0.0, 0.0]
    frame = pd.read_csv(tmp_path / "out" / "rank-models.csv")
    assert set(frame["pool"]) == {"pool 1 of 2", "pool 2 of 2"}
