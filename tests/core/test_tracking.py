"""--wandb with the real wandb library in offline mode: the run directory it writes is read back
with wandb's own record reader and must hold the config, the metrics with CIs, the generations
and the per-epoch losses of the command."""

import json
import sys

import pytest

pytest.importorskip("wandb")

from code_unlearn_bench.tracking import read_offline_run  # noqa: E402

TEXTS = ["def add(a, b):\n    return a + b\n", "import os\nprint(os.getcwd())\n"]


@pytest.fixture
def wandb_env(tmp_path, monkeypatch):
    # keep wandb's settings, cache and artifacts out of the user's home; never try the network
    for var in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_ARTIFACT_DIR"):
        monkeypatch.setenv(var, str(tmp_path / "wandb-home"))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    return tmp_path / "wb"


@pytest.fixture
def forget_jsonl(tmp_path):
    path = tmp_path / "forget.jsonl"
    path.write_text("".join(json.dumps({"task_id": f"s{i}", "content": t}) + "\n" for i, t in enumerate(TEXTS)))
    return path


def test_evaluate_logs_metrics_with_cis_and_generations(cub, tmp_path, tiny_model_dir, forget_jsonl, wandb_env):
    code, _, err = cub("evaluate", "--model", tiny_model_dir, "--tasks", "copyright", "--data", forget_jsonl,
                       "--max-new-tokens", "8", "--output-dir", tmp_path / "run", "--quiet",
                       "--wandb", "--wandb-args", f"project=cub-test,mode=offline,dir={wandb_env},tags=a;b")
    assert code == 0, err
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    config, summary, history, run_dir = read_offline_run(wandb_env)
    assert config["model"] == str(tiny_model_dir) and config["tasks"] == ["copyright"]
    for metric, m in results["tasks"]["copyright"]["metrics"].items():
        assert summary[f"copyright/{metric}"] == pytest.approx(m["value"])
        assert [summary[f"copyright/{metric}/ci_low"], summary[f"copyright/{metric}/ci_high"]] == \
            pytest.approx(m["ci95"])
    logged = {k for row in history for k in row}
    assert {"metrics", "generations"} <= logged
    [table] = list((run_dir / "files" / "media" / "table").glob("generations_*.table.json"))
    data = json.loads(table.read_text())
    assert data["columns"] == ["task", "id", "generation", "scores"]
    assert sorted(row[1] for row in data["data"]) == ["s0", "s1"]


def test_unlearn_logs_per_step_and_per_epoch_losses(cub, tmp_path, tiny_model_dir, forget_jsonl, wandb_env):
    code, _, err = cub("unlearn", "--model", tiny_model_dir, "--method", "ga", "--data", forget_jsonl,
                       "--output-dir", tmp_path / "ga", "--epochs", "2", "--lr", "1e-3", "--grad-accum", "1",
                       "--max-length", "32", "--wandb", "--wandb-args", f"mode=offline,dir={wandb_env}")
    assert code == 0, err
    run = json.loads((tmp_path / "ga" / "run.json").read_text())
    config, _, history, _ = read_offline_run(wandb_env)
    assert config["method"] == "ga" and config["epochs"] == 2
    steps = [row["train/loss"] for row in history if "train/loss" in row]
    assert steps == pytest.approx([x for e in run["epochs"] for x in e["losses"]])
    means = [row["train/epoch_mean_loss"] for row in history if "train/epoch_mean_loss" in row]
    assert means == pytest.approx([sum(e["losses"]) / len(e["losses"]) for e in run["epochs"]])


def test_missing_extra_and_bad_arguments_are_one_line_errors(cub, tmp_path, tiny_model_dir, forget_jsonl,
                                                              monkeypatch, wandb_env):
    argv = ["learn", "--model", tiny_model_dir, "--data", forget_jsonl, "--output-dir", tmp_path / "o", "--wandb"]
    code, _, err = cub(*argv, "--wandb-args", "projetc=x")
    assert code == 2 and "unknown key 'projetc'" in err and "did you mean 'project'" in err
    code, _, err = cub(*argv[:-1], "--wandb-args", "project=x")
    assert code == 2 and "--wandb-args is given without --wandb" in err
    monkeypatch.setitem(sys.modules, "wandb", None)  # import wandb -> ImportError, as without the extra
    code, _, err = cub(*argv)
    assert code == 2 and err.strip() == ("cub: error: --wandb needs the optional extra 'wandb': "
                                         "pip install 'code-unlearn-bench[wandb]'")
    assert not (tmp_path / "o").exists()
