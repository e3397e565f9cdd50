"""Learning-rate schedules: HF Trainer's linear decay for the baselines that come from it, a
constant rate for the reference PROD/FLAT loops; a resumed run continues the same curve."""

import json

import pytest
import torch

from code_unlearn_bench.unlearn import schedule

def test_linear_is_hf_trainers_decay_to_zero_without_warmup():
    # transformers' get_linear_schedule_with_warmup(num_warmup_steps=0): lr * (T - s) / T
    assert [schedule.lr_at("linear", 1.0, s, 4) for s in range(5)] == [1.0, 0.75, 0.5, 0.25, 0.0]
    assert [schedule.lr_at("constant", 2e-5, s, 4) for s in range(5)] == [2e-5] * 5


@pytest.fixture
def recorded_lrs(monkeypatch):
    seen, real = [], torch.optim.AdamW.step

    def step(self, *a, **k):
        seen.append(self.param_groups[0]["lr"])
        return real(self, *a, **k)

    monkeypatch.setattr(torch.optim.AdamW, "step", step)
    return seen


def _args(model, data, out, schedule_name):
    return ["unlearn", "--model", model, "--method", "ga", "--data", data, "--output-dir", out, "--epochs", "3",
            "--lr", "1e-3", "--max-length", "32", "--grad-accum", "1", "--device", "cpu",
            "--lr-schedule", schedule_name]


def test_the_loop_applies_the_schedule_and_a_resume_continues_it(cub, tmp_path, tiny_model_dir, recorded_lrs,
                                                                 crash_ga, forget_jsonl):
    data = forget_jsonl
    assert cub(*_args(tiny_model_dir, data, tmp_path / "c", "constant"))[0] == 0
    assert recorded_lrs == [1e-3] * 9
    assert "lr_schedule" not in json.loads((tmp_path / "c" / "run.json").read_text())["identity"]
    recorded_lrs.clear()
    crash_ga(5)  # in epoch 2
    with pytest.raises(RuntimeError):
        cub(*_args(tiny_model_dir, data, tmp_path / "l", "linear"))
    crash_ga(None)
    code, _, err = cub(*_args(tiny_model_dir, data, tmp_path / "l", "linear"))
    assert code == 0 and "resuming" in err
    # epoch 1 (steps 0-2), epoch 2's first step before the crash, then epochs 2-3 again from step 3:
    # the curve 1e-3 * (9 - s) / 9 throughout
    assert recorded_lrs == pytest.approx([1e-3 * (9 - s) / 9 for s in (0, 1, 2, 3, 3, 4, 5, 6, 7, 8)])
    run = json.loads((tmp_path / "l" / "run.json").read_text())
    assert run["identity"]["lr_schedule"] == "linear" and run["training"]["lr_schedule"] == "linear"
    code, _, err = cub(*_args(tiny_model_dir, data, tmp_path / "x", "cosine"))
    assert code == 2 and "error: argument --lr-schedule" in err and "Traceback" not in err
