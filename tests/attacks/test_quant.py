"""Quantisation attack: the int8/int4 weight round-trip on real tensors and a tiny real model, and
the `cub attack quant` run end to end."""

import importlib.util
import json

import pytest
import torch

from code_unlearn_bench.attacks import attack_run, quant_weights
from code_unlearn_bench.attacks.quant import parse_bits
from code_unlearn_bench.errors import CubError


@pytest.fixture(scope="module")
def mem(tiny_memorised):
    return tiny_memorised


def rel_err(a, b):
    return float((a - b).norm() / b.norm())


# -- units --------------------------------------------------------------------------------------
def test_int8_rows_and_int4_groups_land_on_their_grids():
    torch.manual_seed(0)
    w = torch.randn(16, 256)
    w[3] = 0.0
    q8 = quant_weights.fake_quantize_weight(w, 8)
    q4 = quant_weights.fake_quantize_weight(w, 4, group_size=64)
    assert q8.shape == w.shape and q8.dtype == w.dtype
    assert torch.equal(q8[3], w[3]) and torch.equal(q4[3], w[3])  # an all-zero row stays zero
    for row in range(16):
        if row == 3:
            continue
        scale = w[row].abs().max() / 127
        assert torch.allclose(q8[row] / scale, (q8[row] / scale).round(), atol=1e-3)
        assert len(torch.unique(q8[row])) <= 255
        for g in range(4):  # every block of 64 has its own scale and at most 15 levels
            block = q4[row, g * 64:(g + 1) * 64]
            assert len(torch.unique(block)) <= 15
            assert block.abs().max() == pytest.approx(float(w[row, g * 64:(g + 1) * 64].abs().max()), rel=1e-5)
    e8, e4 = rel_err(q8, w), rel_err(q4, w)
    assert e8 < 0.01 and e4 > 5 * e8


def test_bits_parsing():
    assert parse_bits("4,8,8") == [8, 4]
    for bad in ("", "16", "4,x", "1"):
        with pytest.raises(CubError):
            parse_bits(bad)
    with pytest.raises(CubError):
        quant_weights.fake_quantize_weight(torch.ones(2, 2), 16)


def test_int8_keeps_the_tiny_models_greedy_output_int4_changes_weights(mem):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(mem.path))
    model = AutoModelForCausalLM.from_pretrained(str(mem.path)).eval()
    prompts = [t[:len(t) // 2] for t in mem.seen + mem.unseen]

    def greedy():
        out = []
        with torch.no_grad():
            for p in prompts:
                ids = tok(p, return_tensors="pt")["input_ids"]
                gen = model.generate(ids, max_new_tokens=24, do_sample=False, pad_token_id=tok.pad_token_id)
                out.extend(gen[0, ids.shape[1]:].tolist())
        return out

    plain = greedy()
    saved = quant_weights.snapshot(model)
    names = [n for n, _ in quant_weights.quantisable_linears(model)]
    assert names and not any("lm_head" in n or "embed" in n for n in names)
    embed_before = model.get_input_embeddings().weight.detach().clone()

    s8 = quant_weights.fake_quantize_model(model, 8)
    int8 = greedy()
    agree = sum(a == b for a, b in zip(plain, int8)) / len(plain)
    assert agree >= 0.9, agree
    assert s8.n_layers == len(names) and s8.relative_error < 0.02

    quant_weights.restore(model, saved)
    assert all(torch.equal(m.weight, saved[n]) for n, m in quant_weights.quantisable_linears(model))
    assert greedy() == plain

    s4 = quant_weights.fake_quantize_model(model, 4)
    assert s4.relative_error > 0.05 and s4.relative_error > 5 * s8.relative_error
    changed = sum(not torch.equal(m.weight, saved[n]) for n, m in quant_weights.quantisable_linears(model))
    assert changed == len(names)
    assert torch.equal(model.get_input_embeddings().weight, embed_before)  # embeddings untouched


def test_came_back_is_a_per_sample_drop_against_the_unquantised_run():
    base = attack_run.Outcome({"metrics": {}}, {"a": {"forget_quality": 0.9}, "b": {"forget_quality": 0.8},
                                            "c": {"forget_quality": 0.5}})
    quant = attack_run.Outcome({"metrics": {}}, {"a": {"forget_quality": 0.3}, "b": {"forget_quality": 0.85},
                                             "c": {"forget_quality": 0.45}})
    drops = attack_run.per_sample_drops("forget_quality", True, base, quant)
    assert drops["a"] == (0.6, 0.9, 0.3) and drops["b"][0] == -0.05 and drops["c"][0] == 0.05
    effect = attack_run.effect_metric("forget_quality", True, base, quant)
    assert effect["value"] == pytest.approx(0.2) and effect["n"] == 3 and effect["higher_is_better"] is False


# -- end to end ---------------------------------------------------------------------------------
def test_quant_attack_cli(mem, cub, tmp_path):
    out = tmp_path / "q"
    code, stdout, err = cub("attack", "quant", "--model", mem.path, "--data", mem.all_jsonl, "--output-dir", out,
                            "--max-new-tokens", "32", "--quant-method", "torch", "--quiet")
    assert code == 0, err
    res = json.loads((out / "results.json").read_text())
    task = res["tasks"]["copyright"]
    settings = task["attack"]["settings"]
    assert set(settings) == {"unquantised", "int8", "int4"} and task["primary_metric"] == "forget_quality@int4"
    assert settings["int8"]["quantisation"]["relative_error"] < settings["int4"]["quantisation"]["relative_error"]
    for s in ("int8", "int4"):
        assert isinstance(settings[s]["came_back"], list)
        assert task["metrics"][f"came_back_rate@{s}"]["n"] == 4
        assert f"effect_of_attack@{s}" in task["metrics"]
    # int8 barely moves a memorised model's forget quality
    fq = {s: task["metrics"][f"forget_quality@{s}"]["value"] for s in settings}
    assert abs(fq["int8"] - fq["unquantised"]) <= 0.15, fq
    assert "int4" in stdout

    code, _, err = cub("attack", "quant", "--model", mem.path, "--output-dir", tmp_path / "v", "--backend", "vllm")
    assert code == 2 and "hf backend" in err


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available() or importlib.util.find_spec("bitsandbytes") is None,
                    reason="needs a CUDA GPU and bitsandbytes")
def test_bnb_quant_attack_on_gpu(mem, cub, tmp_path):
    out = tmp_path / "bnb"
    code, _, err = cub("attack", "quant", "--model", mem.path, "--data", mem.seen_jsonl, "--output-dir", out,
                       "--max-new-tokens", "16", "--quant-method", "bnb", "--quiet")
    assert code == 0, err
    settings = json.loads((out / "results.json").read_text())["tasks"]["copyright"]["attack"]["settings"]
    assert settings["int4"]["quantisation"]["method"] == "bitsandbytes nf4"
