"""`cub reproduce --num-processes N [--accelerate-config YAML]`: each learn/unlearn run spans the
processes (GPUs) under `accelerate launch`, instead of one GPU per run."""

import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from code_unlearn_bench.errors import CubError
from code_unlearn_bench.unlearn.spread import Spread, job_command

ACCELERATE = Path(__file__).resolve().parents[2] / "configs" / "accelerate"
CODELLAMA = Path(__file__).resolve().parents[1] / "fixtures" / "model_configs" / "codellama-7b"


def test_the_launch_command_runs_the_job_under_accelerate(tmp_path):
    fsdp = str(ACCELERATE / "fsdp.yaml")
    cmd = job_command(Spread(4, fsdp), tmp_path / "job.json")
    assert cmd[:5] == [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "4"]
    assert cmd[cmd.index("--config_file") + 1] == fsdp and "--multi_gpu" not in cmd
    assert cmd[-3:] == ["-m", "code_unlearn_bench.unlearn.spread", str(tmp_path / "job.json")]
    ddp = job_command(Spread(2), tmp_path / "job.json")
    assert "--multi_gpu" in ddp and "--config_file" not in ddp
    assert Spread(4, fsdp).strategy() == "fsdp" and Spread(2).strategy() == "ddp"
    with pytest.raises(CubError, match="does not exist"):
        Spread(2, str(tmp_path / "missing.yaml")).check()


def test_dry_run_plans_the_spread_runs(cub, tmp_path):
    code, out, _ = cub("reproduce", "--preset", "paper", "--model", CODELLAMA, "--output-dir", tmp_path,
                       "--data", "forget_100.jsonl", "--dry-run", "--num-processes", "4",
                       "--accelerate-config", ACCELERATE / "zero3.yaml", "--gpu-memory", "80")
    assert code == 0 and "4 GPU(s), zero3" in out, out
    code, _, err = cub("reproduce", "--preset", "test", "--output-dir", tmp_path / "x",
                       "--accelerate-config", ACCELERATE / "zero3.yaml")
    assert code == 2 and "--num-processes" in err


def test_pipeline_trains_across_two_processes(tmp_path, tiny_model_dir):
    """A real 2-process (DDP, gloo on CPU) unlearning run launched by the pipeline, its epochs
    handed to the tracker from run.json."""
    from code_unlearn_bench.reproduce.pipeline import Pipeline
    from code_unlearn_bench.reproduce.presets import PRESETS

    logged = []
    tracker = type("Recorder", (), {"log_epoch": lambda self, entry, prefix: logged.append((prefix, entry["epoch"]))})()
    pipe = Pipeline(replace(PRESETS["test"], methods=("ga",)), tmp_path, log=lambda _: None, tracker=tracker,
                    spread=Spread(2))
    pipe._load_state()
    checkpoints = pipe.unlearn("ga", str(tiny_model_dir))
    assert checkpoints == [str(tmp_path / "unlearn" / "ga" / f"epoch-0{e}") for e in (1, 2)]
    run = json.loads((tmp_path / "unlearn" / "ga" / "run.json").read_text())
    assert run["distributed"]["processes"] == 2 and run["status"] == "complete"
    assert logged == [("ga/", 1), ("ga/", 2)]
    assert not list((tmp_path / "unlearn").glob("*.job.json"))  # the job file goes once the run is done
