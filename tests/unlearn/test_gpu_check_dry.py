"""The GPU check's own check code (scripts/gpu_checks.py, gpu_check_engines.py) run on the CPU
with small shapes (`--device cpu --tiny`), in this process, so that the borrowed GPU is never
the first place it runs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))

import gpu_check_engines  # noqa: E402
import gpu_checks  # noqa: E402


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu-check-dry")
    base = {"out": str(out), "device": "cpu", "tiny": True, "repo": str(REPO)}
    verdict = gpu_checks.build_tiny({**base, "name": "tiny-model"})
    assert verdict["status"] == "pass", verdict
    return base


def test_hf_parity_bf16_vs_fp32(ctx):
    v = gpu_checks.hf_parity({**ctx, "name": "hf-parity"})
    assert v["status"] == "pass", v
    f = v["figures"]
    assert f["tokens_agree"] >= 0.9
    # the memorised texts are what the model learnt: far lower NLL than held-out code
    assert f["nll_memorised_fp32"] < 0.5 < f["nll_heldout_fp32"]
    assert f["nll_heldout_bf16"] != f["nll_heldout_fp32"]  # two precisions really ran


def test_seven_b_shaped_steps_against_the_plan(ctx):
    lora = gpu_checks.step_lora({**ctx, "name": "step-lora-7b"})
    assert lora["status"] == "pass", lora
    full = gpu_checks.step_full({**ctx, "name": "step-full-7b"})
    for v in (lora, full):  # the full fine-tune's verdict is the planner's business (issue 20, item 3)
        f = v["figures"]
        assert f["ratio"] == pytest.approx(f["measured_GiB"] / f["plan_tensors_GiB"], rel=0.02)
        assert v["status"] == ("pass" if 0.9 <= f["ratio"] <= 1.1 else "fail")
    assert full["figures"]["plan_GiB"] > 3 * lora["figures"]["plan_GiB"]  # fp32 master + AdamW vs adapters
    assert (Path(ctx["out"]) / "step-lora-7b.plan.txt").read_text().startswith("memory plan: llama")


def test_prod_vs_ga_memory(ctx):
    v = gpu_checks.prod_vs_ga({**ctx, "name": "prod-vs-ga-7b"})
    assert v["status"] == "pass", v
    f = v["figures"]
    assert f["memory_x"] == pytest.approx(f["prod_peak_GiB"] / f["ga_peak_GiB"], abs=0.01)
    assert f["ga_step_s"] > 0 and f["prod_step_s"] > 0


@pytest.mark.slow
def test_engine_path_resume_and_reload_on_cpu(ctx):
    """The plain engine path passes (launch, resume, reload, compare); FSDP, which does not run
    on CPU, is reported as skipped with accelerate's reason, not as a pass."""
    v = gpu_check_engines.single({**ctx, "name": "resume-single"})
    assert v["status"] == "pass", v
    f = v["figures"]
    assert f["strategy"] == "single" and f["loss_rel_diff"] <= 1e-3
    assert f["nll_reloaded"] == pytest.approx(f["nll_plain"], rel=1e-3)
    assert f["nll_reloaded"] > f["nll_base"]  # PROD unlearnt the memorised texts
    assert "optimizer-01.pt" in f["resume_saved"]
    fsdp = gpu_check_engines.fsdp_full({**ctx, "name": "fsdp-full"})
    assert fsdp["status"] == "skipped" and "does not run on CPU" in fsdp["reason"], fsdp


def test_a_full_fine_tune_too_big_for_the_gpu_runs_with_fewer_layers(monkeypatch):
    """The GPU-only sizing: the 32-layer plan over 9/10 of the GPU -> fewer layers, reported."""
    gpu = {"out": "/nonexistent", "device": "cuda", "tiny": False, "repo": str(REPO), "name": "step-full-7b"}
    monkeypatch.setattr(gpu_checks, "device_memory", lambda ctx: 100 * gpu_checks.GiB)
    config, note = gpu_checks.fitting_config(gpu, "prod", lora=False, checkpointing=False)
    assert note["layers"] == f"{config.num_hidden_layers} of 32" and note["plan_all_layers_GiB"] > 100
    fits = gpu_checks.planned(gpu, config, "prod", False, False).peak
    more = gpu_checks.planned(gpu, gpu_checks.big_config(gpu, config.num_hidden_layers + 4), "prod", False, False).peak
    assert fits <= 90 * gpu_checks.GiB < more  # the most layers that fit, in steps of 4
    config, note = gpu_checks.fitting_config(gpu, "prod", lora=True, checkpointing=True)
    assert config.num_hidden_layers == 32 and note == {}
