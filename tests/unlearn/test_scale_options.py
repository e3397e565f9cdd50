"""Single-process behaviour of the scale options: which checkpoints are kept, half-precision
checkpoints with an exact resume, and runs refused before training when memory or disk lack."""

import json

import pytest
import torch
from safetensors.torch import load_file

from code_unlearn_bench.config import parse_save_epochs
from code_unlearn_bench.unlearn import checkpoint as ckpt

@pytest.fixture
def data(forget_jsonl):
    return forget_jsonl


def args(model, data, out, *extra):
    return ["unlearn", "--model", model, "--method", "ga", "--data", data, "--output-dir", out, "--epochs", "3",
            "--lr", "1e-3", "--max-length", "32", "--grad-accum", "1", "--device", "cpu", *extra]


def one_line_error(err, pattern):
    errors = [line for line in err.strip().splitlines() if line.startswith("cub: error: ")]
    assert len(errors) == 1 and pattern in errors[0] and "Traceback" not in err, err


def test_save_epochs_keeps_the_chosen_and_the_last(cub, tmp_path, tiny_model_dir, data):
    code, _, err = cub(*args(tiny_model_dir, data, tmp_path / "o", "--save-epochs", "1"))
    assert code == 0 and "disk: up to" in err and "memory plan:" in err
    assert sorted(p.name for p in (tmp_path / "o").glob("epoch-*")) == ["epoch-01", "epoch-03"]
    code, _, err = cub(*args(tiny_model_dir, data, tmp_path / "o2", "--save-epochs", "4"))
    assert code == 2
    one_line_error(err, "--save-epochs 4 is outside 1..3")
    assert parse_save_epochs("last", 5) == {5} and parse_save_epochs("all", 2) == {1, 2}


def test_bf16_checkpoints_and_an_exact_resume_from_fp32_master_weights(cub, tmp_path, tiny_model_dir, data,
                                                                       crash_ga):
    code, _, _ = cub(*args(tiny_model_dir, data, tmp_path / "straight", "--precision", "bf16"))
    assert code == 0
    weights = load_file(str(tmp_path / "straight" / "epoch-03" / "model.safetensors"))
    assert {t.dtype for t in weights.values()} == {torch.bfloat16}  # half the disk of fp32
    run = json.loads((tmp_path / "straight" / "run.json").read_text())
    assert run["precision"] == "bf16-autocast+fp32-master"
    assert not any((tmp_path / "straight" / "resume").glob("weights-*"))  # dropped when complete

    crash_ga(5)  # in epoch 2
    with pytest.raises(RuntimeError):
        cub(*args(tiny_model_dir, data, tmp_path / "crashed", "--precision", "bf16"))
    assert (tmp_path / "crashed" / "resume" / "weights-01").is_dir()  # fp32 master of the resume point
    crash_ga(None)
    code, _, err = cub(*args(tiny_model_dir, data, tmp_path / "crashed", "--precision", "bf16"))
    assert code == 0 and "resuming" in err
    a = json.loads((tmp_path / "crashed" / "run.json").read_text())
    assert [x for e in a["epochs"] for x in e["losses"]] == [x for e in run["epochs"] for x in e["losses"]]
    resumed = load_file(str(tmp_path / "crashed" / "epoch-03" / "model.safetensors"))
    assert all(torch.equal(resumed[k], weights[k]) for k in weights)


def test_refused_before_training_when_memory_or_disk_lack(cub, tmp_path, tiny_model_dir, data, monkeypatch):
    code, out, err = cub(*args(tiny_model_dir, data, tmp_path / "o", "--gpu-memory", "0.001"))
    assert code == 2
    one_line_error(err, "per device but")
    assert not (tmp_path / "o").exists()  # nothing written
    monkeypatch.setattr(ckpt, "free_bytes", lambda path: 1000)
    code, _, err = cub(*args(tiny_model_dir, data, tmp_path / "o"))
    assert code == 2
    one_line_error(err, "keep fewer checkpoints (--save-epochs last)")
