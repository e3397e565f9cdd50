"""PDR, Pareto front and the ranking tables: properties and hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from code_unlearn_bench.errors import CubError
from code_unlearn_bench.ranking import curves, pdr, synthetic
from code_unlearn_bench.ranking.runs import load_runs
from code_unlearn_bench.ranking.tradeoff import find_original, rank_runs

# Coarse grid values so that ties and equal coordinates actually occur.
coord = st.integers(min_value=0, max_value=5).map(lambda v: v / 5)
point_sets = st.lists(st.tuples(coord, coord), min_size=1, max_size=9)


def brute_force_pdr(points):
    """The paper's eq. 6, written as literally as possible."""
    out = []
    for i, (fi, ui) in enumerate(points):
        others = [p for j, p in enumerate(points) if j != i]
        dominated = [1 for fj, uj in others if fi >= fj and ui >= uj and (fi > fj or ui > uj)]
        out.append(len(dominated) / len(others) if others else 0.0)
    return out


@settings(max_examples=150, deadline=None)
@given(point_sets)
def test_pdr_matches_the_papers_definition(points):
    assert pdr.pdr(points).tolist() == pytest.approx(brute_force_pdr(points))


@settings(max_examples=100, deadline=None)
@given(point_sets, st.randoms(use_true_random=False))
def test_pdr_and_front_are_invariant_to_order(points, rnd):
    order = list(range(len(points)))
    rnd.shuffle(order)
    shuffled = [points[i] for i in order]
    assert pdr.pdr(shuffled).tolist() == pytest.approx(pdr.pdr(points)[order].tolist())
    assert pdr.pareto_front(shuffled).tolist() == pdr.pareto_front(points)[order].tolist()


@settings(max_examples=100, deadline=None)
@given(point_sets)
def test_dominated_points_score_zero_against_their_dominator_and_leave_the_front(points):
    scores = pdr.pdr(points)
    front = pdr.pareto_front(points)
    d = pdr.dominance_matrix(points)
    for j in range(len(points)):
        if d[:, j].any():
            assert not front[j]
    # A point dominated by everybody else scores 0; add one below-left of all points to check.
    worst = (min(p[0] for p in points) - 1, min(p[1] for p in points) - 1)
    assert pdr.pdr([*points, worst])[-1] == 0.0
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert front.any()  # a finite set always has a non-dominated point


def test_single_point_scores_zero():
    assert pdr.pdr([(0.5, 0.5)]).tolist() == [0.0]
    assert pdr.pareto_front([(0.5, 0.5)]).tolist() == [True]


def test_ties_dominate_neither_way():
    points = [(0.5, 0.5), (0.5, 0.5), (0.2, 0.2)]
    assert pdr.pdr(points).tolist() == [0.5, 0.5, 0.0]
    assert pdr.tie_matrix(points).sum(axis=1).tolist() == [1, 1, 0]
    assert pdr.pareto_front(points).tolist() == [True, True, False]


def test_hand_made_sets():
    # a dominates b and c; b and c are incomparable; d is incomparable with everyone but c
    points = {"a": (0.9, 0.9), "b": (0.5, 0.8), "c": (0.8, 0.5), "d": (0.95, 0.1)}
    scores = dict(zip(points, pdr.pdr(list(points.values()))))
    assert scores == {"a": pytest.approx(2 / 3), "b": 0.0, "c": 0.0, "d": 0.0}
    # Equal forget quality, better utility: strictly better on one, no worse on the other.
    assert pdr.dominates((0.5, 0.6), (0.5, 0.5)) and not pdr.dominates((0.5, 0.5), (0.5, 0.6))


def test_orientation_flips_lower_is_better():
    nll = [2.0, 1.0]  # lower NLL is better: the second model is better
    assert pdr.orient(nll, higher_is_better=False).tolist() == [-2.0, -1.0]
    assert pdr.pdr(np.column_stack([[0.5, 0.5], pdr.orient(nll, False)])).tolist() == [0.0, 1.0]


def test_missing_scores_are_refused_not_guessed():
    with pytest.raises(CubError, match="finite"):
        pdr.pdr([(0.5, math.nan), (0.1, 0.1)])


def test_curve_interpolation():
    # crossing inside a segment, at a vertex, twice (best one wins), and never
    assert curves.best_value_at([0.2, 0.6], [0.4, 0.0], 0.5) == pytest.approx(0.1)
    assert curves.best_value_at([0.2, 0.5, 0.7], [0.3, 0.2, 0.1], 0.5) == pytest.approx(0.2)
    assert curves.best_value_at([0.2, 0.8, 0.4, 0.9], [0.5, 0.1, 0.4, 0.3], 0.6) == pytest.approx(0.4 + 0.2 / 0.5 * -0.1)
    assert curves.best_value_at([0.2, 0.3], [0.5, 0.4], 0.9) is None
    assert curves.target_forget_quality(0.8, 0.9, True) == pytest.approx(0.72)


@pytest.fixture
def demo_runs(tmp_path):
    return load_runs(synthetic.write_demo_set(tmp_path))


def test_hand_computed_table(demo_runs):
    """DEMO_SET by hand (forget, pass@1):
    original (.30,.30)  ga e1 (.50,.20)  ga e2 (.80,.10)  ga e3 (.95,.02)
    prod e1 (.55,.29)   prod e2 (.75,.28)  prod e3 (.85,.26)
    prod e1 and prod e2 dominate ga e1; prod e3 dominates ga e1 and ga e2; nobody else dominates.
    Pool of 7 -> denominators of 6. Pooled: prod (1+1+2)/3/6 = 2/9, ga 0, original 0.
    Target forget = 0.9 * 0.95 = 0.855: ga crosses it between e2 and e3 at
    0.10 + (0.855-0.80)/0.15 * (0.02-0.10) = 0.070667; prod never reaches it."""
    r = rank_runs(demo_runs, "copyright", "humaneval")
    per_model = dict(zip(r.models["model"], r.models["pdr"]))
    assert per_model == pytest.approx({"original": 0, "ga e1": 0, "ga e2": 0, "ga e3": 0,
                                       "prod e1": 1 / 6, "prod e2": 1 / 6, "prod e3": 2 / 6})
    assert dict(zip(r.models["model"], r.models["dominated_by"])) == {
        "original": 0, "ga e1": 3, "ga e2": 1, "ga e3": 0, "prod e1": 0, "prod e2": 0, "prod e3": 0}
    assert set(r.models.loc[r.models["pareto"], "model"]) == {"original", "ga e3", "prod e1", "prod e2", "prod e3"}
    # ties in PDR share a rank
    assert dict(zip(r.models["model"], r.models["rank"])) == {
        "prod e3": 1, "prod e2": 2, "prod e1": 2, "ga e3": 4, "ga e2": 4, "ga e1": 4, "original": 4}
    methods = r.methods.set_index("group")
    assert methods["pdr_pooled"].to_dict() == pytest.approx({"prod": 2 / 9, "ga": 0.0, "original": 0.0})
    assert list(r.methods["group"])[0] == "prod"
    assert r.target_forget == pytest.approx(0.855)
    assert methods.loc["ga", "utility_at_target"] == pytest.approx(0.070667, abs=1e-6)
    assert math.isnan(methods.loc["prod", "utility_at_target"])
    gains = dict(zip(r.models["model"], r.models["forget_gain"]))
    assert gains["ga e3"] == pytest.approx(0.65) and gains["original"] == 0
    assert dict(zip(r.models["model"], r.models["utility_change"]))["ga e3"] == pytest.approx(-0.28)
    assert r.original == "original" and r.notes == []


def test_last_epoch_reading_and_excluding_the_original(demo_runs):
    r = rank_runs(demo_runs, "copyright", "humaneval", exclude_original=True)
    # pool of 6: denominators of 5; the original is listed but not scored
    per_model = dict(zip(r.models["model"], r.models["pdr"]))
    assert per_model["prod e3"] == pytest.approx(2 / 5) and math.isnan(per_model["original"])
    # last-epoch reading: ga e3 (.95,.02) vs prod e3 (.85,.26): incomparable
    assert r.methods.set_index("group")["pdr_last_epoch"].to_dict()["prod"] == 0.0
    # drop ga e3: prod e3 (.85,.26) now dominates ga's last epoch e2 (.80,.10)
    r2 = rank_runs([run for run in demo_runs if run.name != "ga-e3"], "copyright", "humaneval")
    assert r2.methods.set_index("group")["pdr_last_epoch"].to_dict() == pytest.approx(
        {"prod": 0.5, "ga": 0.0, "original": 0.0})


def test_missing_scores_are_reported_and_left_out_of_the_pool(tmp_path):
    dirs = synthetic.write_demo_set(tmp_path / "set")
    synthetic.write_run(tmp_path / "set" / "npo-e1", synthetic.results(
        "npo-e1", {"copyright": 0.99}, method="npo", epoch=1, skipped={"humaneval": "needs --allow-code-execution"}))
    r = rank_runs(load_runs([tmp_path / "set"]), "copyright", "humaneval")
    row = r.models.set_index("model").loc["npo e1"]
    assert "humaneval' skipped: needs --allow-code-execution" in row["missing"]
    assert not row["in_pool"] and math.isnan(row["pdr"])
    assert any("npo e1 left out of the PDR pool" in n for n in r.notes)
    # the other PDRs are as if npo were absent (denominator 6, not 7)
    assert dict(zip(r.models["model"], r.models["pdr"]))["prod e3"] == pytest.approx(2 / 6)
    assert len(dirs) == 7


def test_lower_is_better_utility(tmp_path):
    # heldout NLL: lower is better. b has lower NLL at the same forget quality -> b dominates a.
    for name, f, nll in (("a", 0.5, 2.0), ("b", 0.5, 1.5), ("c", 0.4, 2.5)):
        synthetic.write_run(tmp_path / name, synthetic.results(name, {"copyright": f, "heldout": nll}))
    r = rank_runs(load_runs([tmp_path]), "copyright", "heldout", original="c")
    assert dict(zip(r.models["model"], r.models["pdr"])) == pytest.approx({"a": 0.5, "b": 1.0, "c": 0.0})
    # utility change is oriented: lower NLL than the original is a positive change
    assert dict(zip(r.models["model"], r.models["utility_change"]))["b"] == pytest.approx(1.0)


def test_original_is_found_from_lineage_and_by_reference(demo_runs):
    assert find_original(demo_runs).name == "original"
    assert find_original(demo_runs, "ga-e2").name == "ga-e2"
    with pytest.raises(CubError, match="matches none"):
        find_original(demo_runs, "nope")


def test_learned_model_with_lineage_is_the_original(tmp_path):
    # pretrained -> `cub learn` -> learned (lineage method "learn") -> unlearned checkpoints
    docs = [synthetic.results("pretrained", {"copyright": 0.5, "humaneval": 0.3}),
            synthetic.results("learned", {"copyright": 0.1, "humaneval": 0.3}, method="learn", epoch=2,
                              base_model="pretrained"),
            synthetic.results("ga-e1", {"copyright": 0.6, "humaneval": 0.2}, method="ga", epoch=1, base_model="learned"),
            synthetic.results("ga-e2", {"copyright": 0.8, "humaneval": 0.1}, method="ga", epoch=2, base_model="learned")]
    for doc in docs:
        synthetic.write_run(tmp_path / doc["model"]["name"], doc)
    runs = load_runs([tmp_path])
    assert find_original(runs).name == "learned"
    r = rank_runs(runs, "copyright", "humaneval")
    assert r.original == "learn e2"
    assert dict(zip(r.models["model"], r.models["forget_gain"]))["ga e2"] == pytest.approx(0.7)
