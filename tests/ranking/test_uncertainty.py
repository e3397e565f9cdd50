"""The within-run PDR bootstrap (ranking/uncertainty.py) on synthetic runs with per-sample scores."""

import json

import numpy as np
import pytest

from code_unlearn_bench.errors import CubError
from code_unlearn_bench.ranking import synthetic
from code_unlearn_bench.ranking.runs import load_runs
from code_unlearn_bench.ranking.tradeoff import rank_runs
from code_unlearn_bench.ranking.uncertainty import bootstrap_pdr


def _pool(root, models):
    """models: name -> (method, epoch, forget samples, heldout NLL samples); returns (ranking, runs)."""
    for name, (method, epoch, forget, nll) in models.items():
        synthetic.write_sampled_run(root / name, name, {"copyright": forget, "heldout": nll}, method=method, epoch=epoch)
    runs = load_runs([root])
    return rank_runs(runs, "copyright", "heldout", original="learned").to_dict(), runs


def _random_pool(root, seed=0):
    rng = np.random.default_rng(seed)
    models = {"learned": (None, None, list(rng.uniform(0.2, 0.4, 6)), list(rng.uniform(1.6, 1.9, 5)))}
    for method, shift in (("ga", 0.3), ("npo", 0.1), ("prod", 0.25)):
        for epoch in (1, 2, 3):
            forget = list(np.clip(rng.uniform(0.2, 0.5, 6) + shift * epoch / 3, 0, 1))
            nll = list(rng.uniform(1.6, 1.9, 5) + (0.15 if method == "npo" else 0.1) * epoch)
            models[f"{method}-e{epoch}"] = (method, epoch, forget, nll)
    return _pool(root, models)


def test_point_estimate_is_the_rankings_pooled_pdr(tmp_path):
    ranking, runs = _random_pool(tmp_path)
    boot = bootstrap_pdr(ranking, runs, resamples=200)
    assert boot["n_forget"] == 6 and boot["n_utility"] == 5
    for row in ranking["methods"]:
        assert boot["methods"][row["group"]]["pdr_pooled"] == pytest.approx(row["pdr_pooled"], abs=1e-6), row["group"]
    assert boot["methods"]["learned"]["p_first"] is None  # the original is in the pool, not in the race
    firsts = [m["p_first"] for g, m in boot["methods"].items() if g != "learned"]
    assert sum(firsts) >= 1.0 and all(0 <= p <= 1 for p in firsts)
    assert 0 < max(firsts) < 1  # these noisy methods swap places between draws
    for m in boot["methods"].values():
        assert m["ci95"][0] <= m["pdr_pooled"] + 1e-9 and m["pdr_pooled"] <= m["ci95"][1] + 1e-9
    assert bootstrap_pdr(ranking, runs, resamples=200) == boot  # seeded: the report is reproducible


def test_a_method_better_on_every_sample_is_first_in_every_draw(tmp_path):
    models = {"learned": (None, None, [0.3, 0.2, 0.4], [1.5, 1.7])}
    for epoch in (1, 2):
        models[f"ga-e{epoch}"] = ("ga", epoch, [0.4 + 0.1 * epoch] * 3, [2.0 + epoch] * 2)
        # better forget quality and lower NLL than everyone, sample by sample
        models[f"prod-e{epoch}"] = ("prod", epoch, [0.9 + 0.05 * epoch] * 3, [1.0 - 0.1 * epoch] * 2)
    ranking, runs = _pool(tmp_path, models)
    boot = bootstrap_pdr(ranking, runs, resamples=100)
    assert boot["methods"]["prod"]["p_first"] == 1.0 and boot["methods"]["ga"]["p_first"] == 0.0
    # prod-e2 dominates the other 4, prod-e1 the 3 below it: (4/4 + 3/4) / 2 in every draw
    assert boot["methods"]["prod"]["ci95"] == [0.875, 0.875] and boot["methods"]["prod"]["pdr_pooled"] == 0.875


def test_scores_that_do_not_add_up_are_refused(tmp_path):
    ranking, runs = _random_pool(tmp_path)
    path = tmp_path / "ga-e1" / "generations" / "copyright.jsonl"
    lines = path.read_text().splitlines()
    rec = json.loads(lines[0])
    rec["scores"]["forget_quality"] += 0.5
    path.write_text("\n".join([json.dumps(rec), *lines[1:]]) + "\n")
    with pytest.raises(CubError, match="do not average to the reported"):
        bootstrap_pdr(ranking, runs)
