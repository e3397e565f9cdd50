"""`cub reproduce --preset test`: the whole pipeline on a tiny model, and its resumability."""

import importlib.util
import json
import signal
import subprocess
import sys
import time

import pytest


METHODS = ("ga", "gradiff", "simnpo", "rmu", "prod")
REPRODUCE = ["reproduce", "--preset", "test", "--methods", ",".join(METHODS)]


@pytest.fixture(scope="module")
def reproduced(tmp_path_factory):
    """The test preset with the paper's GA and PROD and the three added baselines, tracked in an
    offline W&B run (under work-wandb/)."""
    from code_unlearn_bench.cli import main

    out = tmp_path_factory.mktemp("repro") / "work"
    wandb = "--wandb" if importlib.util.find_spec("wandb") else None
    extra = [wandb, "--wandb-args", f"mode=offline,dir={out.parent / 'work-wandb'}"] if wandb else []
    assert main([*REPRODUCE, "--output-dir", str(out), *extra]) == 0
    return out


def test_pipeline_outputs(reproduced):
    state = json.loads((reproduced / "state.json").read_text())
    done = state["done"]
    for step in ("learn", *(f"unlearn/{m}" for m in METHODS), "evaluate/original", "evaluate/learned",
                 *(f"evaluate/{m}-epoch-02" for m in METHODS), "rank", "attack", "leaderboard", "report"):
        assert step in done, step
    # the learned weights are gone once unlearned from and evaluated (no --keep-learn-checkpoint);
    # its metadata stays, and test_rerun_is_a_no_op shows a resumed run does not need them
    assert done["release/learned"]["freed_bytes"] > 0
    learned = reproduced / "learned"
    assert not list(learned.rglob("*.safetensors")) and (learned / "epoch-40" / "WEIGHTS_DELETED.md").exists()
    assert (learned / "epoch-40" / "config.json").exists()
    report = (reproduced / "REPORT.md").read_text()
    assert "| task | GA | GradDiff | SimNPO | RMU | PROD |" in report
    # the test preset learns stdlib files, not the paper's 100: its paper row says so
    assert "(paper, CodeLlama-7B; NOT comparable: the default stdlib files" in report
    assert "forget_100.jsonl)) | 15.3 | - | - | - | 41.8 |" in report
    # each pooled PDR with its within-run uncertainty (paired bootstrap over the samples)
    boot = json.loads((reproduced / "state.json").read_text())["done"]["rank"]["bootstrap"]
    assert boot["n_forget"] == 3 and set(boot["methods"]) >= set(METHODS)
    assert "(this run, pooled: 95% paired-bootstrap interval)" in report and "(this run: P(highest pooled PDR)" in report
    assert (reproduced / "rank" / "tradeoff-copyright.png").stat().st_size > 1000
    models_csv = (reproduced / "rank" / "rank-models.csv").read_text()
    assert "prefix_effect" in models_csv and "mia_effect" in models_csv  # robustness columns
    # MIA against the model before learning (never trained on the forget set): PrivLeak
    mia = json.loads((reproduced / "attack" / "prod-epoch-02-mia" / "results.json").read_text())
    task = mia["tasks"]["copyright"]
    if task["status"] == "completed":
        assert "privleak@min_k" in task["metrics"] and task["attack"]["retain_model"]["model"] == done["base_model"]
        assert ">PrivLeak (mia)</th>" in (reproduced / "site" / "index.html").read_text()
    ranking = done["rank"]
    assert {m["group"] for m in ranking["methods"]} >= set(METHODS)
    # the learned model memorised the forget files: unlearning must raise forget quality
    fq = {m["label"] if "label" in m else m["model"]: m["forget"] for m in ranking["models"]}
    learned = [v for k, v in fq.items() if k.startswith("learn")][0]
    assert max(v for k, v in fq.items() if k.startswith(("ga", "prod"))) > learned + 0.2, fq
    for name, res in done["attack"].items():
        assert "forget_quality@k=0" in res or "skipped" in res, (name, res)


def test_reproduce_is_tracked(reproduced):
    """The offline W&B run holds the per-epoch losses, every evaluation, the PDR and the plot."""
    pytest.importorskip("wandb")
    [run_dir] = list((reproduced.parent / "work-wandb" / "wandb").glob("offline-run-*"))
    media = run_dir / "files" / "media"
    assert list((media / "images" / "rank").glob("tradeoff-copyright_*.png"))
    assert {p.name for p in (media / "table").iterdir()} >= {f"{m}-epoch-02" for m in METHODS}
    from code_unlearn_bench.tracking import read_offline_run

    config, summary, history, _ = read_offline_run(reproduced.parent / "work-wandb")
    assert config["preset"]["methods"] == list(METHODS)
    assert set(summary) >= {f"pdr_pooled/{m}" for m in METHODS} | {"rmu-epoch-02/copyright/forget_quality"}
    assert sum(1 for row in history if "rmu/epoch_mean_loss" in row) == 2


def test_rerun_is_a_no_op(reproduced, cub):
    before = (reproduced / "state.json").read_text()
    code, out, err = cub(*REPRODUCE, "--output-dir", reproduced)
    assert code == 0, err
    assert json.loads((reproduced / "state.json").read_text())["done"] == json.loads(before)["done"]


def test_killed_run_resumes_to_the_same_steps(reproduced, tmp_path):
    work = tmp_path / "work"
    # the preset's own methods (ga, prod): the steps must be the fixture's minus the added baselines'
    cmd = [sys.executable, "-m", "code_unlearn_bench", "reproduce", "--preset", "test", "--output-dir", str(work)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = work / "state.json"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if state.exists() and "unlearn/ga" in state.read_text():
            break
        time.sleep(0.05)
    assert proc.poll() is None, "finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert "report" not in json.loads(state.read_text())["done"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    resumed = json.loads(state.read_text())["done"]
    straight = json.loads((reproduced / "state.json").read_text())["done"]
    assert set(resumed) == {k for k in straight if not any(m in k for m in ("gradiff", "simnpo", "rmu"))}
    assert len(resumed["unlearn/prod"]) == len(straight["unlearn/prod"]) == 2


def test_bad_preset_and_method(cub, tmp_path):
    code, _, err = cub("reproduce", "--preset", "papr", "--output-dir", tmp_path)
    assert code == 2 and "invalid choice" in err
    code, _, err = cub("reproduce", "--preset", "test", "--methods", "prodd", "--output-dir", tmp_path)
    assert code == 2 and "prodd" in err and len(err.strip().splitlines()) == 1
    code, _, err = cub("reproduce", "--preset", "paper", "--output-dir", tmp_path)
    assert code == 2 and "--model" in err


def test_rank_and_check_on_real_evaluate_outputs(reproduced, cub, tmp_path):
    """`cub rank` / `cub check` on results written by `cub evaluate` (two methods, two epochs)."""
    evals = reproduced / "eval"
    code, out, err = cub("rank", evals, "--original", evals / "learned", "--out", tmp_path / "rank")
    assert code == 0, err
    assert "PDR" in out
    assert (tmp_path / "rank" / "tradeoff-copyright.png").exists()
    models = (tmp_path / "rank" / "rank-models.csv").read_text()
    assert "prod e2" in models and "ga e1" in models
    assert models.count("\n") >= 6  # header, learned, 2 methods x 2 epochs
    code, out, err = cub("check", "--baseline", evals / "prod-epoch-02", "--candidate", evals / "prod-epoch-02")
    assert code == 0, out + err
    # the learned model forgot nothing: as a candidate against an unlearned baseline it regresses
    code, out, err = cub("check", "--baseline", evals / "prod-epoch-02", "--candidate", evals / "learned")
    assert code == 1 and "copyright" in out and "FAIL" in out
