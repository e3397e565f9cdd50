"""Membership inference as MUSE computes it (holdout = positive class, Min-40%, PrivLeak in percent):
the arithmetic against values worked out by hand from MUSE's formula, and on a tiny model that
memorised two files, AUC near 0 for memorised vs never-seen, near 0.5 between two never-seen
sets, and a strongly negative PrivLeak against a model that never learnt them."""

import json
import sysconfig
from pathlib import Path

import pytest

from code_unlearn_bench.attacks import mia_scores
from code_unlearn_bench.attacks.mia import MiaSettings
from code_unlearn_bench.errors import CubError


@pytest.fixture(scope="module")
def mem(tiny_memorised):
    return tiny_memorised


def snippets(n, skip):
    """First ~420 characters (cut at a line end) of ``n`` stdlib modules the tiny model never
    trained on (the tokenizer saw them; both sides of every comparison equally)."""
    root = Path(sysconfig.get_paths()["stdlib"])
    out = []
    for p in sorted(root.glob("*.py")):
        text = p.read_text(encoding="utf-8", errors="replace")[:420]
        text = text[:text.rfind("\n") + 1]
        if len(text) > 200 and text not in skip:
            out.append(text)
        if len(out) == n:
            break
    return out


def jsonl(path, texts, prefix):
    path.write_text("".join(json.dumps({"task_id": f"{prefix}{i}", "content": t}) + "\n" for i, t in enumerate(texts)))
    return path


# -- units --------------------------------------------------------------------------------------
def test_auc_is_the_mann_whitney_statistic():
    assert mia_scores.auc([3, 4], [1, 2]) == 1.0
    assert mia_scores.auc([1, 2], [3, 4]) == 0.0
    assert mia_scores.auc([1, 1], [1, 1]) == 0.5  # ties count one half
    assert mia_scores.auc([3, 1], [2, 0]) == 0.75  # 3 of 4 member/non-member pairs ordered
    with pytest.raises(CubError):
        mia_scores.auc([], [1.0])


def test_auc_ci_is_deterministic_and_brackets_the_estimate():
    members, others = [0.9, 0.8, 0.3, 0.7, 0.6], [0.1, 0.5, 0.4, 0.2, 0.65]
    ci = mia_scores.auc_ci(members, others)
    assert ci == mia_scores.auc_ci(members, others)
    assert ci[0] <= mia_scores.auc(members, others) <= ci[1]
    assert mia_scores.auc_ci([1.0], [0.0]) is None


def test_min_k_and_zlib_scores():
    lps = [-0.1] * 8 + [-5.0, -3.0]
    assert mia_scores.min_k_prob(lps, 0.2) == pytest.approx(-4.0)  # the two least likely tokens
    assert mia_scores.min_k_prob(lps, 0.01) == -5.0  # at least one token
    assert mia_scores.min_k_prob(lps[:9], 0.2) == -5.0  # floor(0.2 x 9) = 1, MUSE's int(len * ratio)
    # same loss, more compressible text -> less member-like (the loss is explained by redundancy)
    assert mia_scores.zlib_ratio(lps, "ab" * 50) < mia_scores.zlib_ratio(lps, "qzj4 x9!k Lm2@ p0v#")
    assert set(mia_scores.all_scores(lps, "x = 1")) == set(mia_scores.SCORES)
    assert MiaSettings().k == 0.4 and mia_scores.DEFAULT_K == 0.4  # MUSE's 'forget_holdout_Min-40%'


# Token log-probs of 3 forget and 2 holdout samples (6 tokens each) under an unlearned model and a
# retain (never trained) model. MUSE (metrics/privleak.py, eval.py): Min-40% keeps int(6 x 0.4) = 2
# tokens, ppl = -mean of them, ROC of -ppl with holdout labelled 1.
FORGET = [[-0.1, -0.2, -2.0, -0.3, -1.0, -0.1],   # Min-40%: mean(-2, -1)    = -1.5 ; loss -3.7/6
          [-0.5] * 6,                             #                          = -0.5 ; loss -0.5
          [-3.0, -0.1, -0.1, -0.1, -0.1, -0.1]]   #          mean(-3, -0.1)  = -1.55; loss -3.5/6
HOLDOUT = [[-1.0, -2.0, -3.0, -0.5, -0.5, -0.2],  #          mean(-3, -2)    = -2.5 ; loss -1.2
           [-1.5, -1.54, -0.4, -0.4, -0.4, -0.4]]  #         mean(-1.54,-1.5) = -1.52; loss -4.64/6
RETAIN_FORGET = [[-1.0] * 6, [-2.0] * 6, [-0.5] * 6]  # Min-40% = loss = -1, -2, -0.5
RETAIN_HOLDOUT = [[-1.5] * 6, [-0.7] * 6]             # -1.5, -0.7


def by_group(forget, holdout):
    return {"forget": [mia_scores.all_scores(lp, "x = 1\n") for lp in forget],
            "holdout": [mia_scores.all_scores(lp, "x = 1\n") for lp in holdout]}


def test_auc_and_privleak_equal_muses_formula_on_fixed_scores():
    from code_unlearn_bench.attacks.mia import _auc_metric, _privleak_metrics

    mine, ref = by_group(FORGET, HOLDOUT), by_group(RETAIN_FORGET, RETAIN_HOLDOUT)
    auc = _auc_metric([s["min_k"] for s in mine["holdout"]], [s["min_k"] for s in mine["forget"]])
    # holdout outscores forget in 1 of 6 (holdout, forget) pairs: -1.52 > -1.55
    assert auc["value"] == pytest.approx(1 / 6, abs=1e-6) and auc["n"] == 5
    records = [{"group": g, "scores": sc} for g in ("forget", "holdout") for sc in ref[g]]
    m = _privleak_metrics(mine, records)
    # retain: -1.5 > -2 and -0.7 > -1, -2: 3 of 6 pairs -> 0.5
    assert m["mia_auc_retain@min_k"]["value"] == pytest.approx(0.5)
    # MUSE: (AUC - AUC_retrain) / AUC_retrain * 100 = (1/6 - 1/2) / (1/2) * 100
    assert m["privleak@min_k"]["value"] == pytest.approx(-200 / 3, abs=1e-4)
    # loss (MUSE's PPL): no holdout sample outscores a forget one -> AUC 0, retain as above -> -100 %
    assert m["privleak@loss"]["value"] == pytest.approx(-100.0)
    assert m["privleak@min_k"]["ci95"][0] <= m["privleak@min_k"]["value"] <= m["privleak@min_k"]["ci95"][1]
    assert mia_scores.privleak(0.25, 0.5) == pytest.approx(-50.0)


# -- end to end ---------------------------------------------------------------------------------
def run_mia(cub, model, data, holdout, out):
    code, _, err = cub("attack", "mia", "--model", model, "--data", data, "--holdout-data", holdout,
                       "--output-dir", out, "--quiet")
    assert code == 0, err
    return json.loads((out / "results.json").read_text())["tasks"]["copyright"]


def test_memorised_vs_never_seen_auc_near_zero(mem, cub, tmp_path):
    unseen = jsonl(tmp_path / "unseen.jsonl", mem.unseen + snippets(6, set(mem.seen) | set(mem.unseen)), "u")
    task = run_mia(cub, mem.path, mem.seen_jsonl, unseen, tmp_path / "mia")
    m = task["metrics"]
    # MUSE's orientation: holdout positive, so a memorised forget set drives the AUC to 0
    assert m["mia_auc@min_k"]["value"] <= 0.1, m
    assert m["mia_auc@zlib"]["value"] <= 0.1, m
    assert m["mia_auc@loss"]["n"] == 2 + 8 and task["primary_metric"] == "mia_auc@min_k"
    groups = task["attack"]["settings"]
    assert groups["forget"]["n"] == 2 and groups["holdout"]["n"] == 8
    assert groups["forget"]["mean_loss"] > groups["holdout"]["mean_loss"]
    saved = [json.loads(line) for line in (tmp_path / "mia" / "settings" / "mia" / "generations" /
                                           "copyright.jsonl").read_text().splitlines()]
    assert len(saved) == 10 and all("min_k" in r["scores"] for r in saved)


def test_two_never_seen_sets_auc_near_half(mem, cub, tmp_path):
    # 60 vs 60: the AUC's null spread is then ~0.05 (with 20 vs 20 it is ~0.09: 0.26 was measured)
    texts = snippets(120, set(mem.seen) | set(mem.unseen))
    a = jsonl(tmp_path / "a.jsonl", texts[0::2], "a")  # interleaved: the same distribution
    b = jsonl(tmp_path / "b.jsonl", texts[1::2], "b")
    m = run_mia(cub, mem.path, a, b, tmp_path / "mia")["metrics"]
    for score in mia_scores.SCORES:
        assert 0.3 <= m[f"mia_auc@{score}"]["value"] <= 0.7, m


def test_holdout_overlapping_the_forget_set_is_refused(mem, cub, tmp_path):
    code, _, err = cub("attack", "mia", "--model", mem.path, "--data", mem.all_jsonl, "--holdout-data",
                       mem.seen_jsonl, "--output-dir", tmp_path / "o")
    assert code == 2 and "--holdout-data shares 2 sample(s) with the forget set" in err
    assert len(err.strip().splitlines()) == 1


# -- PrivLeak (MUSE) ----------------------------------------------------------------------------
def test_privleak_paired_ci():
    with pytest.raises(CubError, match="PrivLeak is undefined"):
        mia_scores.privleak(0.5, 0.0)
    forget, holdout = [0.9, 0.8, 0.3, 0.7, 0.6], [0.1, 0.5, 0.4, 0.2, 0.65]
    # the same scores under both models: every paired resample gives exactly 0
    assert mia_scores.privleak_ci(forget, holdout, forget, holdout) == [0.0, 0.0]
    ref_f, ref_h = [0.5, 0.4, 0.6, 0.3, 0.55], [0.45, 0.5, 0.35, 0.6, 0.4]
    ci = mia_scores.privleak_ci(forget, holdout, ref_f, ref_h)
    point = mia_scores.privleak(mia_scores.auc(holdout, forget), mia_scores.auc(ref_h, ref_f))
    assert point < 0 and ci == mia_scores.privleak_ci(forget, holdout, ref_f, ref_h) and ci[0] <= point <= ci[1]


def test_privleak_against_a_retain_model(mem, cub, tmp_path, tiny_model_dir):
    unseen = jsonl(tmp_path / "unseen.jsonl", mem.unseen + snippets(6, set(mem.seen) | set(mem.unseen)), "u")
    # the memorising (learned, not unlearned) model against a never-trained one: MUSE gives about -100 %
    code, out, err = cub("attack", "mia", "--model", mem.path, "--data", mem.seen_jsonl, "--holdout-data", unseen,
                         "--retain-model", tiny_model_dir, "--output-dir", tmp_path / "mia", "--quiet")
    assert code == 0, err
    task = json.loads((tmp_path / "mia" / "results.json").read_text())["tasks"]["copyright"]
    m = task["metrics"]
    for score in mia_scores.SCORES:
        auc, ref = m[f"mia_auc@{score}"]["value"], m[f"mia_auc_retain@{score}"]["value"]
        assert m[f"privleak@{score}"]["value"] == pytest.approx((auc - ref) / ref * 100, abs=1e-3)
    assert m["privleak@min_k"]["value"] < -60 and "privleak@min_k" in out, m
    assert task["attack"]["version"] == "2" and task["attack"]["parameters"]["min_k"] == 0.4
    assert task["attack"]["retain_model"]["model"] == str(tiny_model_dir)
    assert (tmp_path / "mia" / "settings" / "mia-retain" / "generations" / "copyright.jsonl").is_file()
    # a model as its own retain reference leaks nothing (the never-trained one: the memorising model's
    # AUC is 0, where MUSE's ratio is undefined)
    code, _, err = cub("attack", "mia", "--model", tiny_model_dir, "--data", mem.seen_jsonl, "--holdout-data", unseen,
                       "--retain-model", tiny_model_dir, "--output-dir", tmp_path / "self", "--quiet")
    assert code == 0, err
    m = json.loads((tmp_path / "self" / "results.json").read_text())["tasks"]["copyright"]["metrics"]
    assert all(m[f"privleak@{s}"]["value"] == 0 for s in mia_scores.SCORES)
    # a missing retain model: one line, nothing written
    code, _, err = cub("attack", "mia", "--model", mem.path, "--data", mem.seen_jsonl, "--holdout-data", unseen,
                       "--retain-model", tmp_path / "nope", "--output-dir", tmp_path / "bad")
    assert code == 2 and len(err.strip().splitlines()) == 1 and not (tmp_path / "bad" / "results.json").exists()


def test_holdout_is_a_held_out_split_of_data(mem, cub, tmp_path):
    # --data replaced the forget set: the holdout is the rest of --data (same source), never the stdlib files
    code, _, err = cub("attack", "mia", "--model", mem.path, "--data", mem.all_jsonl, "--limit", "2",
                       "--output-dir", tmp_path / "split", "--quiet")
    assert code == 0, err
    task = json.loads((tmp_path / "split" / "results.json").read_text())["tasks"]["copyright"]
    assert task["attack"]["settings"]["holdout"]["n"] == 2 and task["metrics"]["mia_auc@min_k"]["value"] == 0.0
    assert task["attack"]["holdout"]["source"].startswith(str(mem.all_jsonl))
    saved = (tmp_path / "split" / "settings" / "mia" / "generations" / "copyright.jsonl").read_text()
    assert '"holdout/unseen-' in saved and '"forget/seen-' in saved
    # all of --data is the forget set: nothing to hold out, one line
    code, _, err = cub("attack", "mia", "--model", mem.path, "--data", mem.seen_jsonl, "--output-dir", tmp_path / "o")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "--data has no samples beyond the 2 forget samples to hold out for the MIA; give --holdout-data" in err


def test_holdout_problem_is_found_before_any_model_is_loaded(tmp_path):
    """`cub reproduce` asks this before the MIA step: a --data learned whole has nothing to hold out."""
    import json

    from code_unlearn_bench.attacks.mia import MiaSettings, holdout_problem
    from code_unlearn_bench.config import EvalConfig

    data = tmp_path / "forget.jsonl"
    data.write_text("".join(json.dumps({"task_id": f"f{i}", "content": f"def f{i}():\n    return {i}\n" * 3}) + "\n"
                            for i in range(3)))

    def config(limit=None):
        return EvalConfig(model="m", tasks=["copyright"], data={"copyright": str(data)}, limit=limit)

    assert "no samples beyond the 3 forget samples" in holdout_problem(config(), MiaSettings())
    assert "no samples beyond the 3 forget samples" in holdout_problem(config(limit=5), MiaSettings())
    assert holdout_problem(config(limit=2), MiaSettings()) is None
    assert holdout_problem(config(), MiaSettings(holdout=str(data))) is None
    assert holdout_problem(EvalConfig(model="m", tasks=["copyright"]), MiaSettings()) is None
    # tasks with no shipped disjoint set (cpu-demo-all's insecure and deprecated runs): skipped before
    # the model loads instead of failing the pipeline after its training
    for task in ("insecure", "deprecated"):
        assert "no built-in disjoint data" in holdout_problem(EvalConfig(model="m", tasks=[task], limit=8),
                                                              MiaSettings(retain_model="base"))
        assert holdout_problem(EvalConfig(model="m", tasks=[task], limit=8), MiaSettings(holdout=str(data))) is None


def test_mia_members_and_held_out_split_leave_the_never_trained_retain_split_out():
    """Deprecated evaluates forget and retain samples; only the forget split was trained on."""
    from types import SimpleNamespace

    from code_unlearn_bench.attacks.mia import _held_out_split
    from code_unlearn_bench.tasks.spec import get_task
    from code_unlearn_bench.unlearn.data import trained_split

    full = get_task("deprecated").load_samples()
    evaluated = full[:16]
    m = trained_split(evaluated)
    assert 0 < len(m) < len(evaluated) and {s.meta["split"] for s in m} == {"forget"}
    rest = _held_out_split(SimpleNamespace(samples=evaluated, task=SimpleNamespace(name="deprecated")), full)
    assert len(rest) == len(m) and {s.meta["split"] for s in rest} == {"forget"}
    assert not {s.id for s in rest} & {s.id for s in evaluated}
