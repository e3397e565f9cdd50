"""`cub reproduce` at scale without running it: the paper presets' settings, --dry-run, the
forget-set requirement, and the multi-task / multi-seed summary."""

import json
import re
from pathlib import Path

import pytest

from code_unlearn_bench.reproduce.multi import summarise, variants
from code_unlearn_bench.reproduce.presets import METHODS, PRESETS

CODELLAMA = Path(__file__).resolve().parent.parent / "fixtures" / "model_configs" / "codellama-7b"


def test_paper_preset_carries_the_paper_settings_with_their_sources():
    p = PRESETS["paper"]
    assert p.unlearn["lr"] == 5e-6 and p.unlearn["grad_accum"] == 32 and p.unlearn["epochs"] == 10
    assert p.unlearn["max-length"] == 1024 and p.unlearn["seed"] == 42
    assert p.method_flags["prod"] == {"p": 0.8, "alpha": 0.0} and p.method_flags["npo"]["beta"] == 0.1
    assert "max-new-tokens" not in p.eval_flags  # HumanEval keeps its spec's 300 new tokens
    assert p.utility_options["humaneval"]["prompt_format"] == "raw"
    assert p.tasks == ("copyright", "insecure", "deprecated")
    assert p.attack_last_epoch_only is False and p.attack_utility_share == 0.6  # every eligible checkpoint
    assert PRESETS["paper-lora"].unlearn["lora"] is True and PRESETS["cpu-demo-all"].tasks == p.tasks


def test_paper_needs_the_100_file_forget_set(cub, tmp_path):
    code, _, err = cub("reproduce", "--preset", "paper", "--model", CODELLAMA, "--output-dir", tmp_path, "--dry-run")
    assert code == 2 and "--data" in err and "forget_100.jsonl" in err and len(err.strip().splitlines()) == 1


def test_dry_run_prints_steps_memory_gpu_hours_and_disk(cub, tmp_path):
    code, out, _ = cub("reproduce", "--preset", "paper", "--model", CODELLAMA, "--output-dir", tmp_path,
                       "--data", "forget_100.jsonl", "--dry-run", "--gpus", "0,1,2,3", "--gpu-memory", "80",
                       "--seeds", "2", "--tasks", "copyright,insecure")
    assert code == 0, out
    assert "4 pipeline(s)" in out and "[insecure, seed 43]" in out and "unlearn/prod" in out
    assert "fits" in out and "GPU-h" in out and "total: ~" in out and "disk ~" in out
    assert "[sourced] method_flags.prod.p = 0.8: paper: Ablation Study" in out and "'lr': 5e-06" in out
    assert not any(tmp_path.iterdir())  # nothing ran
    code, out, _ = cub("reproduce", "--preset", "paper", "--model", CODELLAMA, "--output-dir", tmp_path,
                       "--data", "x.jsonl", "--dry-run", "--gpu-memory", "80", "--tasks", "copyright")
    assert code == 0 and "does NOT fit" in out and "--lora" in out  # one 80 GB GPU, full fine-tune


def test_variants_and_the_seed_summary():
    runs = variants(PRESETS["cpu-demo-all"], ("copyright", "insecure"), 2)
    assert [(t, s) for t, s, _ in runs] == [("copyright", 42), ("copyright", 43), ("insecure", 42), ("insecure", 43)]
    assert runs[1][2].unlearn["seed"] == 43 and runs[2][2].forget_task == "insecure"
    assert runs[2][2].forget_options == {}  # copyright's max_chars does not leak into other tasks
    rows = {"copyright": {42: {"ga": 0.1, "prod": 0.5}, 43: {"ga": 0.3, "prod": 0.7}},
            "insecure": {42: {"ga": 0.6, "prod": 0.5}, 43: {"ga": 0.2, "prod": 0.9}}}
    s = summarise(rows)
    assert s["copyright"]["methods"]["prod"]["mean"] == 0.6
    sd = s["copyright"]["methods"]["prod"]
    assert abs(sd["sd"] - 0.2 / 2 ** 0.5) < 1e-12  # sample sd (n - 1) of 0.5 and 0.7
    assert (sd["min"], sd["max"]) == (0.5, 0.7)
    assert s["copyright"]["order_holds"] and s["copyright"]["best"] == ["prod"]
    assert s["copyright"]["prod_first_in_every_seed"] and not s["insecure"]["prod_first_in_every_seed"]
    assert not s["insecure"]["order_holds"] and not s["insecure"]["best_holds"]


def _whoami(tag):
    import os

    return tag, os.getpid(), os.environ.get("CUDA_VISIBLE_DEVICES")


def test_fan_out_runs_each_job_in_a_fresh_child_pinned_to_its_gpu():
    import os

    from code_unlearn_bench.reproduce.parallel import fan_out

    results = {}
    fan_out([(f"job{i}", _whoami, (i,)) for i in range(4)], ("3", "5"), lambda k, v: results.update({k: v}))
    assert sorted(results) == ["job0", "job1", "job2", "job3"]
    pids = {pid for _, pid, _ in results.values()}
    assert os.getpid() not in pids and len(pids) == 4  # a new process per job: engines torn down
    assert {gpu for _, _, gpu in results.values()} == {"3", "5"}


def _disk(out):
    m = re.search(r"disk ~([\d.]+) GiB of checkpoints at the peak, ([\d.]+) GiB kept at the end", out)
    return float(m.group(1)), float(m.group(2))


def test_dry_run_disk_counts_the_learned_checkpoint_only_while_needed():
    from dataclasses import replace

    from code_unlearn_bench.reproduce.plan import dry_run

    p = replace(PRESETS["paper"], model=str(CODELLAMA), forget_data="x.jsonl")
    runs = variants(p, ("copyright", "insecure"), 1)
    out = dry_run(p, runs, 4, 80, None)
    peak, kept = _disk(out)
    peak_keep, kept_keep = _disk(dry_run(p, runs, 4, 80, None, keep_learned=True))
    # the learn line counts its kept last epoch plus one being written
    learned = float(re.search(r"learn   learn .* checkpoints ([\d.]+) GiB", out).group(1)) / 2
    assert kept_keep - kept == pytest.approx(2 * learned, abs=0.02)  # one learned model per pipeline
    assert peak_keep - peak == pytest.approx(learned, abs=0.02)  # the first is gone when the second learns


def test_release_weights_keeps_the_metadata(tmp_path):
    from code_unlearn_bench.reproduce.pipeline import release_weights

    epoch = tmp_path / "learned" / "epoch-01"
    (epoch).mkdir(parents=True)
    for name, size in (("model-00001-of-00002.safetensors", 100), ("model-00002-of-00002.safetensors", 50),
                       ("model.safetensors.index.json", 5), ("config.json", 2), ("cub_checkpoint.json", 2)):
        (epoch / name).write_bytes(b"x" * size)
    (tmp_path / "learned" / "resume" / "weights-01").mkdir(parents=True)
    (tmp_path / "learned" / "resume" / "weights-01" / "w.pt").write_bytes(b"x" * 10)
    assert release_weights(tmp_path / "learned") == {"freed_bytes": 165}
    assert sorted(p.name for p in epoch.iterdir()) == ["WEIGHTS_DELETED.md", "config.json", "cub_checkpoint.json"]
    assert not (tmp_path / "learned" / "resume").exists()


def test_unlearning_runs_fan_out_to_children_and_are_marked(tmp_path, tiny_model_dir):
    """With --gpus the methods' unlearning runs go through the same fan-out as the evaluations
    (its GPU pinning: test_fan_out_...); their epochs reach the tracker from run.json."""
    from dataclasses import replace

    from code_unlearn_bench.reproduce.pipeline import Pipeline

    class Recorder:
        def __init__(self):
            self.epochs = []

        def log_epoch(self, entry, prefix):
            self.epochs.append((prefix, entry["epoch"]))

    tracker = Recorder()
    pipe = Pipeline(replace(PRESETS["test"], methods=("ga", "prod")), tmp_path, log=lambda _: None,
                    tracker=tracker, gpus=("3", "5"))
    pipe._load_state()
    pipe._unlearn_in_children(str(tiny_model_dir))
    done = pipe.state["done"]
    for m in ("ga", "prod"):
        assert done[f"unlearn/{m}"] == [str(tmp_path / "unlearn" / m / f"epoch-0{e}") for e in (1, 2)]
        assert Path(done[f"unlearn/{m}"][-1], "cub_checkpoint.json").exists()
    assert sorted(tracker.epochs) == [("ga/", 1), ("ga/", 2), ("prod/", 1), ("prod/", 2)]
    assert json.loads((tmp_path / "state.json").read_text())["done"] == done  # marked as each finished
    pipe._unlearn_in_children(str(tiny_model_dir))  # nothing left to run


def test_each_method_trains_as_its_reference_code_does(tmp_path):
    """PROD.py and baselines/FLAT.py: no clipping, no scheduler; GA/NPO (HF Trainer) and DPO (TRL):
    linear decay, clipping at 1.0 -- in every preset that runs the paper's methods."""
    from code_unlearn_bench.reproduce.pipeline import Pipeline

    for name in ("paper", "paper-lora", "cpu-demo", "cpu-demo-all"):
        pipe = Pipeline(PRESETS[name], tmp_path, log=lambda _: None)
        cfg = {m: pipe.train_config("m", tmp_path, m, PRESETS[name].unlearn_settings(m)) for m in METHODS}
        assert {m: (c.lr_schedule, c.max_grad_norm) for m, c in cfg.items()} == {
            "prod": ("constant", 0.0), "flat": ("constant", 0.0),
            "ga": ("linear", 1.0), "npo": ("linear", 1.0), "dpo": ("linear", 1.0)}, name
        assert {c.lr for c in cfg.values()} == {PRESETS[name].unlearn["lr"]}


def _seed_run(run_root, prod_shift, seed):
    """A finished (copyright, seed) reproduce run: eval dirs with per-sample scores, state with its ranking."""
    import numpy as np

    from code_unlearn_bench.ranking import synthetic
    from code_unlearn_bench.ranking.runs import load_runs
    from code_unlearn_bench.ranking.tradeoff import rank_runs

    rng = np.random.default_rng(seed)
    synthetic.write_sampled_run(run_root / "eval" / "learned", "learned",
                                {"copyright": list(rng.uniform(0.2, 0.3, 4)), "heldout": list(rng.uniform(1.7, 1.8, 3))})
    for method, shift in (("ga", 0.2), ("prod", prod_shift)):
        for epoch in (1, 2):
            synthetic.write_sampled_run(
                run_root / "eval" / f"{method}-e{epoch}", f"{method}-e{epoch}",
                {"copyright": list(rng.uniform(0.3, 0.4, 4) + shift * epoch),
                 "heldout": list(rng.uniform(1.7, 1.8, 3) + (0.3 if method == "ga" else 0.05) * epoch)},
                method=method, epoch=epoch)
    runs = load_runs([run_root / "eval"])
    ranking = rank_runs(runs, "copyright", "heldout", original=str(run_root / "eval" / "learned")).to_dict()
    (run_root / "state.json").write_text(json.dumps({"done": {"rank": ranking},
                                                     "timings": {"learn": 60.0 * seed, "rank": 30.0}}))


def test_summary_of_finished_seeds_with_spread_and_bootstrap(cub, tmp_path):
    _seed_run(tmp_path / "copyright" / "seed-42", 0.2, 1)
    _seed_run(tmp_path / "copyright" / "seed-43", 0.25, 2)
    code, out, err = cub("reproduce", "--preset", "cpu-demo", "--seeds", "3", "--output-dir", tmp_path,
                         "--methods", "ga,prod", "--summary-only")
    assert code == 0, err
    summary = json.loads((tmp_path / "summary.json").read_text())
    s = summary["tasks"]["copyright"]
    assert summary["not_finished"] == ["copyright/seed-44"] and s["seeds"] == [42, 43]
    assert s["prod_first_in_every_seed"] and s["methods"]["prod"]["min"] > s["methods"]["ga"]["max"]
    boot = s["bootstrap"]["42"]["methods"]["prod"]
    assert boot["p_first"] == 1.0 and boot["ci95"][0] <= boot["pdr_pooled"] <= boot["ci95"][1]
    text = (tmp_path / "SUMMARY.md").read_text()
    assert "| copyright | 2 | " in text and "| PROD | yes |" in text
    assert "Not finished (rerun the same command to continue): copyright/seed-44" in text
    cell = r"[\d.]+ \[[\d.]+, [\d.]+\] P1"
    assert re.search(rf"\| copyright \| 42 \| {cell} 0\.00 \| {cell} 1\.00 \|", text), text
    assert s["step_seconds"] == {"42": 90.0, "43": 150.0}
    assert "| copyright | 42: 1.5, 43: 2.5 | 4.0 |" in text


def test_no_pool_of_10_checkpoints_per_method_gives_table_1s_copyright_row():
    """Why ranking/tradeoff.py no longer says the pooled reading matches Table 1: pooled PDR with k
    checkpoints per method in a pool of N is (dominance count) / (k (N - 1)), and for the paper's
    k = 10, N = 50 or 51, no count rounds to both 15.3 (GA) and 3.6 (DPO)."""
    from code_unlearn_bench.reproduce.summary import PAPER_TABLE1

    def reachable(value, den):
        return any(round(100 * i / den, 1) == value for i in range(den + 1))

    row = PAPER_TABLE1["copyright"]
    for n in (50, 51):
        assert not (reachable(row["ga"], 10 * (n - 1)) and reachable(row["dpo"], 10 * (n - 1)))
    assert reachable(row["ga"], 14 * 70) and reachable(row["dpo"], 14 * 70)  # a larger pool could


@pytest.mark.parametrize("name", ["paper", "paper-lora"])
def test_every_paper_setting_names_its_source_or_is_marked_ours(name):
    from code_unlearn_bench.reproduce.sources import kind, settings

    p = PRESETS[name]
    for key, value in settings(p).items():
        source = p.sources.get(key)
        assert kind(source) != "UNSOURCED", f"{name}: {key} = {value} has no source"
        for part in source.split("; "):
            assert part.startswith(("paper: ", "reference: ", "assumption: ")), (key, part)
            if part.startswith("reference: "):  # a file and line of jiangxxxue/PROD
                assert re.search(r"\w+\.(py|sh):\d+", part), (key, part)
    assert kind(p.sources["learn.lr"]) == kind(p.sources["attack_k"]) == "OUR ASSUMPTION"
    assert kind(p.sources["method_train.prod.max-grad-norm"]) == "sourced"


def test_dry_run_marks_each_setting_sourced_or_ours_and_counts_the_data(cub, tmp_path):
    code, out, _ = cub("reproduce", "--preset", "paper", "--model", CODELLAMA, "--output-dir", tmp_path,
                       "--data", tmp_path / "absent.jsonl", "--dry-run", "--tasks", "copyright,deprecated")
    assert code == 0, out
    assert "[OUR ASSUMPTION] learn.lr = 5e-05: assumption:" in out and "[UNSOURCED]" not in out
    assert "[sourced] method_train.prod.max-grad-norm = 0.0: reference: PROD.py:108-145" in out
    assert "[sourced] method_train.ga.lr-schedule = linear: reference: GA.py:156" in out
    assert "[OUR ASSUMPTION] task_data.deprecated" in out
    # the curated deprecated set is counted, not sized as the paper's 3,449 VersiCode snippets
    assert "[deprecated, seed 42] forget set: 198 samples trained on, 396 evaluated (counted in the default data)" in out
    assert "[copyright, seed 42] forget set: 100 samples trained on, 100 evaluated (the paper's size" in out


def test_task_data_feeds_other_tasks_and_the_paper_row_says_when_it_is_not_comparable(cub, tmp_path):
    from code_unlearn_bench.reproduce.summary import not_comparable

    runs = variants(PRESETS["paper"], ("copyright", "deprecated"), 1, {"deprecated": "versicode.json"})
    assert [p.forget_data for _, _, p in runs] == [None, "versicode.json"]
    assert "VersiCode" in not_comparable("deprecated", None) and not_comparable("deprecated", "v.json") is None
    assert not_comparable("insecure", None) is None and "forget_100" in not_comparable("copyright", None)
    code, _, err = cub("reproduce", "--preset", "paper", "--model", CODELLAMA, "--output-dir", tmp_path, "--data",
                       "f.jsonl", "--tasks", "copyright", "--task-data", "deprecated=v.json", "--dry-run")
    assert code == 2 and err.count("\n") == 1 and "cub: error: --task-data takes TASK=PATH" in err


@pytest.mark.parametrize("last_only", [True, False])
def test_attacks_reach_every_checkpoint_unless_last_epoch_only(tmp_path, monkeypatch, last_only):
    """The paper attacks every checkpoint that keeps >= 60% of utility (eligibility is checked per
    checkpoint by the attack itself); the CPU presets attack the last epoch only."""
    from dataclasses import replace

    from code_unlearn_bench.reproduce import pipeline as reproduce

    calls = []

    def fake_attack(attack, config, settings, eligibility):
        calls.append((attack, Path(config.output_dir).name, Path(eligibility.candidate_results).name))
        return {"tasks": {"copyright": {"status": "skipped", "reason": "not eligible"}}}

    monkeypatch.setattr(reproduce, "attack_step", fake_attack)
    pipe = reproduce.Pipeline(replace(PRESETS["test"], attack_last_epoch_only=last_only), tmp_path, log=lambda _: None)
    ckpts = {m: [str(tmp_path / m / f"epoch-0{e}") for e in (1, 2)] for m in ("ga", "prod")}
    summary = pipe.attack(ckpts, "base")
    epochs = (2,) if last_only else (1, 2)
    names = [f"{m}-epoch-0{e}" for m in ("ga", "prod") for e in epochs]
    assert sorted(summary) == names
    assert sorted(calls) == sorted([("mia", f"{n}-mia", n) for n in names] + [("prefix", n, n) for n in names])


def test_cpu_estimate_matches_the_measured_learn_and_sizes_cpu_demo_all_to_about_an_hour():
    from code_unlearn_bench.reproduce.cpu_estimate import estimate_s

    demo = estimate_s(PRESETS["cpu-demo"], 8, 8, 1000)  # 8 stdlib files cut at 1,000 characters
    assert abs(demo["learn"] - 6 * 55) < 0.1 * 6 * 55  # measured: 55 s per learn epoch, unloaded
    assert 15 * 60 < sum(demo.values()) < 30 * 60  # the measured run bounds it at ~17.5 min
    every = variants(PRESETS["cpu-demo-all"], PRESETS["cpu-demo-all"].tasks, 1)
    assert len(every) == 3 and all(p.methods == METHODS for _, _, p in every)
    total = sum(sum(estimate_s(p, 8, 8, 600).values()) for _, _, p in every)
    assert 45 * 60 < total < 65 * 60


def test_cpu_demo_all_evaluates_and_attacks_every_trained_deprecated_sample(tmp_path):
    from code_unlearn_bench.reproduce.pipeline import Pipeline
    from code_unlearn_bench.unlearn.data import load_forget_set

    (_, _, p), = variants(PRESETS["cpu-demo-all"], ("deprecated",), 1)
    pipe = Pipeline(p, tmp_path)
    n = pipe.eval_config("m", tmp_path / "e").task_limits["deprecated"]
    assert n > p.forget_limit and pipe.attack_config("m", tmp_path / "a").limit == n
    assert pipe.train_config("m", tmp_path / "u", "ga", p.unlearn).limit == p.forget_limit
    assert len(load_forget_set("deprecated", limit=p.forget_limit).pairs) == 8
