"""Robustness columns: synthetic `cub attack` results joined to the ranking (library and `cub rank --attacks`)."""

from __future__ import annotations

import io
import json
import math

import pandas as pd
import pytest

from code_unlearn_bench.errors import CubError
from code_unlearn_bench.ranking import robustness, synthetic
from code_unlearn_bench.ranking.runs import load_attack_run, load_attack_runs, load_run, load_runs
from code_unlearn_bench.ranking.tradeoff import rank_runs

INELIGIBLE = "skipped: humaneval pass@1 0.02 vs original 0.3 keeps 7% of the original utility (< 60%)"


@pytest.fixture
def demo(tmp_path):
    """The demo set, prod-e3 attacked (largest effect at k=8, not at the headline k=32), ga-e3
    skipped as ineligible, prod-e2 attacked twice by different attacks, and a stray attack run."""
    synthetic.write_demo_set(tmp_path / "runs")
    atk = tmp_path / "attacks"
    synthetic.write_run(atk / "prod-e3", synthetic.attack_results("prod-e3", {"k=0": 0.85, "k=8": 0.70, "k=32": 0.75}))
    synthetic.write_run(atk / "prod-e2", synthetic.attack_results("prod-e2", {"k=0": 0.75, "k=32": 0.70}))
    synthetic.write_run(atk / "prod-e2-quant", synthetic.attack_results(
        "prod-e2", {"unquantised": 0.75, "int8": 0.75, "int4": 0.55}, attack="quant"))
    synthetic.write_run(atk / "ga-e3", synthetic.attack_results("ga-e3", skipped=INELIGIBLE.removeprefix("skipped: ")))
    synthetic.write_run(atk / "stranger", synthetic.attack_results("stranger"))
    return tmp_path


def _ranked(demo):
    runs = load_runs([demo / "runs"])
    ranking = rank_runs(runs, "copyright", "humaneval")
    return ranking, robustness.attach(ranking, runs, load_attack_runs([demo / "attacks"]))


def test_figures_join_by_fingerprint_and_keep_every_model(demo):
    plain, r = _ranked(demo)
    assert r.attacks == ["prefix", "quant"] and plain.attacks == []
    assert len(r.models) == len(plain.models) == 7  # no row dropped or added
    m = r.models.set_index("model")
    prod = m.loc["prod e3"]
    assert prod["prefix_headline"] == pytest.approx(0.75) and prod["prefix_headline_metric"] == "forget_quality@k=32"
    assert prod["prefix_effect"] == pytest.approx(0.15) and prod["prefix_effect_setting"] == "k=8"
    assert (prod["prefix_effect_ci_low"], prod["prefix_effect_ci_high"]) == pytest.approx((0.10, 0.20))
    assert prod["prefix_missing"] == ""
    assert m.loc["ga e3", "prefix_missing"] == INELIGIBLE and math.isnan(m.loc["ga e3", "prefix_effect"])
    assert m.loc["ga e1", "prefix_missing"] == "missing: no prefix attack run of this model"
    assert m.loc["prod e2", "quant_effect"] == pytest.approx(0.20)
    assert m.loc["prod e2", "quant_effect_setting"] == "int4"
    assert m.loc["prod e3", "quant_missing"] == "missing: no quant attack run of this model"
    # the base columns are untouched
    assert r.models[plain.models.columns].equals(plain.models)
    assert any("stranger" in note and "matches no ranked model" in note for note in r.notes)
    assert "prefix: 5 of 7 model(s) have no attack figures (the reason is in their prefix columns)" in r.notes


def test_per_method_mean_effect(demo):
    _, r = _ranked(demo)
    meth = r.methods.set_index("group")
    assert meth.loc["prod", "prefix_mean_effect"] == pytest.approx((0.15 + 0.05) / 2)
    assert meth.loc["prod", "prefix_attacked"] == 2 and meth.loc["prod", "prefix_skipped"] == 0
    assert math.isnan(meth.loc["ga", "prefix_mean_effect"])
    assert meth.loc["ga", "prefix_attacked"] == 0 and meth.loc["ga", "prefix_skipped"] == 1
    doc = r.to_dict()
    assert doc["attacks"] == ["prefix", "quant"] and "robustness" in doc["readings"]
    assert "attacks" not in _ranked(demo)[0].to_dict()


def test_other_data_and_other_task_are_missing_not_compared(tmp_path):
    runs = load_runs(synthetic.write_demo_set(tmp_path / "runs"))
    other = synthetic.attack_results("prod-e3")
    other["tasks"]["copyright"]["task"]["data_hash"] = synthetic.sha256("my own data")
    insecure = synthetic.attack_results("ga-e3", task="insecure")
    attacks = [load_attack_run(synthetic.write_run(tmp_path / "a1", other)),
               load_attack_run(synthetic.write_run(tmp_path / "a2", insecure))]
    r = robustness.attach(rank_runs(runs, "copyright", "humaneval"), runs, attacks)
    m = r.models.set_index("model")
    assert m.loc["prod e3", "prefix_missing"].startswith("missing: the prefix run used another data on 'copyright'")
    assert math.isnan(m.loc["prod e3", "prefix_headline"])
    assert m.loc["ga e3", "prefix_missing"] == "missing: the prefix run has no 'copyright' result"


def test_attack_without_effect_metric_keeps_its_headline(tmp_path):
    runs = load_runs(synthetic.write_demo_set(tmp_path / "runs"))
    doc = synthetic.mia_results("prod-e3", 0.55)
    r = robustness.attach(rank_runs(runs, "copyright", "humaneval"), runs,
                          [load_attack_run(synthetic.write_run(tmp_path / "mia", doc))])
    row = r.models.set_index("model").loc["prod e3"]
    assert row["mia_headline"] == pytest.approx(0.55) and math.isnan(row["mia_effect"]) and row["mia_missing"] == ""


def test_mia_privleak_is_its_effect(tmp_path):
    # with a retain model the MIA run carries PrivLeak; it fills the effect columns (setting "PrivLeak")
    runs = load_runs(synthetic.write_demo_set(tmp_path / "runs"))
    mia = [load_attack_run(synthetic.write_run(tmp_path / n, synthetic.mia_results(n, 0.8, leak)))
           for n, leak in (("prod-e3", 0.6), ("prod-e2", 0.2))]
    r = robustness.attach(rank_runs(runs, "copyright", "humaneval"), runs, mia)
    rows = r.models.set_index("model")
    assert rows.loc["prod e3", "mia_effect"] == pytest.approx(0.6) and rows.loc["prod e3", "mia_effect_setting"] == "PrivLeak"
    assert rows.loc["prod e3", "mia_headline"] == pytest.approx(0.8)
    assert r.methods.set_index("group").loc["prod", "mia_mean_effect"] == pytest.approx(0.4)


def test_loaders_keep_the_kinds_apart(demo):
    with pytest.raises(CubError, match="not an attack result"):
        load_attack_run(demo / "runs" / "prod-e3")
    with pytest.raises(CubError, match=r"not an evaluate result \(attack runs go to `cub rank --attacks`\)"):
        load_run(demo / "attacks" / "prod-e3")
    twice = demo / "attacks" / "prod-e3-again"
    synthetic.write_run(twice, synthetic.attack_results("prod-e3"))
    runs = load_runs([demo / "runs"])
    with pytest.raises(CubError, match="2 prefix attack runs of model sha256:"):
        robustness.attach(rank_runs(runs, "copyright", "humaneval"), runs, load_attack_runs([demo / "attacks"]))


def test_rank_cli_attacks(cub, demo, monkeypatch, tmp_path):
    monkeypatch.setenv("COLUMNS", "400")
    code, plain, err = cub("rank", demo / "runs", "--format", "csv")
    assert code == 0, err
    code, out, err = cub("rank", demo / "runs", "--format", "csv", "--attacks", demo / "attacks" / "prod-e3",
                         "--attacks", demo / "attacks" / "ga-e3", demo / "attacks" / "prod-e2")
    assert code == 0, err
    before, after = pd.read_csv(io.StringIO(plain)), pd.read_csv(io.StringIO(out))
    pd.testing.assert_frame_equal(after[before.columns], before)  # only columns added
    assert {"prefix_headline", "prefix_effect", "prefix_effect_setting", "prefix_missing"} <= set(after.columns)
    row = after.set_index("model").loc["prod e3"]
    assert row["prefix_effect"] == pytest.approx(0.15) and row["prefix_effect_setting"] == "k=8"

    code, out, err = cub("rank", demo / "runs", "--attacks", demo / "attacks", "--out", tmp_path / "o", "--no-plot")
    assert code == 0, err
    assert "prefix: effect of attack (max)" in out and "+0.150 (k=8)" in out and "0.750 [0.700, 0.800] (k=32)" in out
    assert INELIGIBLE in out and "missing: no prefix attack run of this model" in out
    assert "prefix: mean effect of attack" in out and "+0.100 (2 attacked, 0 skipped)" in out
    assert "stranger" in out and "robustness: effect of attack" in out
    methods = pd.read_csv(tmp_path / "o" / "rank-methods.csv").set_index("group")
    assert methods.loc["ga", "prefix_skipped"] == 1
    assert json.loads((tmp_path / "o" / "rank.json").read_text())["rankings"][0]["attacks"] == ["prefix", "quant"]


@pytest.mark.parametrize("which, message", [
    ("runs/prod-e3", "is an 'evaluate' result, not an attack result"),
    ("nowhere", "no such run directory"),
])
def test_rank_cli_bad_attacks_is_one_line_error(cub, demo, which, message):
    code, _, err = cub("rank", demo / "runs", "--attacks", demo / which)
    assert code == 2 and message in err and err.count("\n") == 1 and "Traceback" not in err
    code, _, err = cub("rank", demo / "runs", demo / "attacks" / "prod-e3")
    assert code == 2 and "--attacks" in err and err.count("\n") == 1


def test_an_mia_run_of_the_old_definition_is_not_shown(tmp_path):
    # issue 21: before MUSE's definition the AUC had the other orientation and PrivLeak was a fraction
    from code_unlearn_bench.ranking.robustness import figures

    doc = synthetic.mia_results("prod-e3", 0.8, 0.6)
    del doc["tasks"]["copyright"]["attack"]["version"]
    fig = figures(load_attack_run(synthetic.write_run(tmp_path / "old", doc)), "copyright")
    assert fig.headline is None and fig.effect is None
    assert fig.missing.startswith("missing: the mia run predates its current definition (version 1 vs 2)")
