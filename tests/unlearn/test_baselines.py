"""GradDiff, SimNPO and RMU: losses on hand-computed toy values, RMU's layer plumbing on a real
tiny Llama, the tasks' retain sets, and each method through `cub unlearn`."""

import json
import math
from types import SimpleNamespace

import pytest
import torch

from code_unlearn_bench.errors import CubError, DataError
from code_unlearn_bench.unlearn.data import ForgetPair, ForgetSet
from code_unlearn_bench.unlearn.methods import get_method
from code_unlearn_bench.unlearn.methods.gradiff import graddiff_loss
from code_unlearn_bench.unlearn.methods.rmu import control_vector, layer_activations, rmu_loss
from code_unlearn_bench.unlearn.methods.simnpo import simnpo_loss
from code_unlearn_bench.unlearn.retain import load_retain_set
from code_unlearn_bench.unlearn.tokens import SeqBatch

# vocab 3; positions 0..2 predict ids[1..3] = [1, 2, 0]; prompt = ids[0:2], so the answer
# positions 1 and 2 predict token 2 with p = .8 and token 0 with p = .6.
PROBS = torch.tensor([[[.2, .5, .3], [.1, .1, .8], [.6, .3, .1], [1 / 3, 1 / 3, 1 / 3]]])
NLL_SUM = -(math.log(.8) + math.log(.6))  # 0.733969


def seq(ids, n_prompt):
    t = torch.tensor([ids])
    mask = torch.zeros_like(t, dtype=torch.bool)
    mask[0, n_prompt:] = True
    return SeqBatch(t, torch.ones_like(t), mask)


class FixedLogits:
    """A "model" whose forward returns fixed logits (for the methods' loss plumbing)."""

    def __init__(self, logits):
        self.logits = logits

    def __call__(self, **kwargs):
        return SimpleNamespace(logits=self.logits)


def test_graddiff_formula_and_method():
    # -gamma * NLL_f + alpha * NLL_r: 2 * 1.5 - ... with NLL_f = 1.5, NLL_r = 0.25, gamma 2, alpha 4
    assert graddiff_loss(torch.tensor(1.5), torch.tensor(0.25), 2.0, 4.0).item() == pytest.approx(-3.0 + 1.0)
    # through the method: the same toy sequence as forget and retain -> (-1 + 1) * mean NLL = 0;
    # retain weighted 3x -> 2 * mean NLL, mean NLL = 0.733969 / 2
    s = seq([0, 1, 2, 0], 2)
    model = FixedLogits(PROBS.log())
    assert get_method("gradiff")().loss(model, {"forget": s, "retain": s}, {}).item() == pytest.approx(0, abs=1e-7)
    assert get_method("gradiff")(alpha=3.0).loss(model, {"forget": s, "retain": s}, {}).item() == \
        pytest.approx(2 * NLL_SUM / 2, rel=1e-6)


def test_simnpo_formula_and_length_normalisation():
    # -(2/b) log sigmoid(b * NLL/|y| - g): NLL 0.8 over 2 tokens, b = 2.5 -> -(0.8) log sigmoid(1)
    got = simnpo_loss(torch.tensor([0.8]), torch.tensor([2.0]), beta=2.5, gamma=0.0).item()
    assert got == pytest.approx(0.8 * 0.31326169, rel=1e-6)
    # a margin of 0.5: -(0.8) log sigmoid(0.5) = 0.8 * 0.47407698
    assert simnpo_loss(torch.tensor([0.8]), torch.tensor([2.0]), 2.5, 0.5).item() == pytest.approx(0.8 * 0.47407698,
                                                                                                   rel=1e-6)
    # the method divides the summed answer NLL by the number of ANSWER tokens (2, not 3)
    method = get_method("simnpo")(beta=1.0)
    got = method.loss(FixedLogits(PROBS.log()), {"forget": seq([0, 1, 2, 0], 2)}, {}).item()
    assert got == pytest.approx(-2 * math.log(1 / (1 + math.exp(-NLL_SUM / 2))), rel=1e-6)
    with pytest.raises(CubError, match="--gamma must be >= 0"):
        get_method("simnpo")(gamma=-1)


def test_rmu_formula_and_control_vector():
    # forget [[1, 0], [0, 1]] vs c*u = [3, 4]: squared errors 4, 16, 9, 9 -> mean 9.5;
    # retain [[1, 2]] vs frozen [[1, 1]]: 0, 1 -> 0.5, times alpha 2 -> 1; total 10.5
    got = rmu_loss(torch.tensor([[1., 0.], [0., 1.]]), torch.tensor([3., 4.]), torch.tensor([[1., 2.]]),
                   torch.tensor([[1., 1.]]), alpha=2.0)
    assert got.item() == pytest.approx(10.5)
    u = control_vector(64, 6.5, seed=0)
    assert u.norm().item() == pytest.approx(6.5, rel=1e-5) and (u >= 0).all()
    assert torch.equal(u, control_vector(64, 6.5, seed=0)) and not torch.equal(u, control_vector(64, 6.5, seed=1))
    with pytest.raises(CubError, match="--rmu-layer must be 'auto'"):
        get_method("rmu")(layer="middle")


@pytest.fixture(scope="module")
def tiny_llama():
    from code_unlearn_bench.models import tiny

    tok = tiny.build_tokenizer(tiny.stdlib_texts(max_files=5, max_chars=2000), vocab_size=300)
    return tiny.build_tiny_llama(tok, hidden=32, layers=4, heads=4, seed=0).eval()


def test_rmu_activations_stop_at_the_layer_and_match_hidden_states(tiny_llama):
    s = seq([5, 6, 7, 8, 9], 2)
    calls = []
    handle = tiny_llama.model.layers[3].register_forward_hook(lambda *a: calls.append(1))
    with torch.no_grad():
        got = layer_activations(tiny_llama, s, 1)
    handle.remove()
    assert calls == []  # layers above the steered one never ran
    with torch.no_grad():
        ref = tiny_llama(input_ids=s.input_ids, output_hidden_states=True).hidden_states[2]
    assert torch.allclose(got, ref[0, 1:4], atol=1e-6)  # positions 1..3 predict answer tokens 2..4
    # inside a DDP-like wrapper (`.module`) the forward runs to the end: an exception out of the
    # wrapper's forward would skip DDP's reducer setup and leave gradients unsynchronised
    wrapper = torch.nn.Module()
    wrapper.module = tiny_llama
    wrapper.forward = lambda **kw: tiny_llama(**kw)
    handle = tiny_llama.model.layers[3].register_forward_hook(lambda *a: calls.append(1))
    with torch.no_grad():
        wrapped = layer_activations(wrapper, s, 1)
    handle.remove()
    assert calls == [1] and torch.equal(wrapped, got)


def test_rmu_trains_only_the_mlp_output_of_its_layers(tiny_llama):
    rmu = get_method("rmu")(layer=2)
    rmu.select_trainable(tiny_llama)
    trainable = sorted(n for n, p in tiny_llama.named_parameters() if p.requires_grad)
    assert trainable == [f"model.layers.{i}.mlp.down_proj.weight" for i in (0, 1, 2)]
    assert get_method("rmu")().layer(tiny_llama) == 0  # auto: floor(4 * 7 / 32)
    with pytest.raises(CubError, match="outside the model's layers 0..3"):
        get_method("rmu")(layer=4).layer(tiny_llama)
    for p in tiny_llama.parameters():
        p.requires_grad = True


def _forget(task, pairs, options=None, source=None):
    return ForgetSet(task, pairs, "h", source, options or {})


def test_retain_sets_the_tasks_declare():
    # insecure: the code before the insecure line, its last 4 lines as the answer
    prompt = "".join(f"line{i}\n" for i in range(6))
    r = load_retain_set(_forget("insecure", [ForgetPair("a", prompt, "os.system(x)\n")]))
    assert [(p.id, p.prompt, p.answer) for p in r.pairs] == [("retain/a", "line0\nline1\n",
                                                                "line2\nline3\nline4\nline5\n")]
    assert r.summary().startswith("retain set: secure completions")
    # deprecated: the still-valid split, never a forget sample
    from code_unlearn_bench.unlearn.data import load_forget_set

    forget = load_forget_set("deprecated", limit=5)  # unlearning loads the forget split only
    r = load_retain_set(forget)
    assert r.pairs and len(r.pairs) > 5 and not {p.id for p in r.pairs} & {p.id for p in forget.pairs}
    assert r.summary().startswith("retain set: the still-valid split")
    # copyright: standard-library files outside the forget set, as many as forget samples
    text = "def f():\n    return 1\n"
    r = load_retain_set(_forget("copyright", [ForgetPair("x", "", text), ForgetPair("y", "", text + "#\n")]))
    assert len(r.pairs) == 2 and all(p.id.startswith("stdlib/") and p.prompt == "" for p in r.pairs)


def test_retain_data_sharing_a_forget_text_is_refused(tmp_path):
    path = tmp_path / "retain.jsonl"
    path.write_text(json.dumps({"task_id": "r", "content": "x = 1\n"}) + "\n")
    with pytest.raises(CubError, match="shares 1 text"):
        load_retain_set(_forget("copyright", [ForgetPair("f", "", "x = 1\n")]), str(path))


@pytest.fixture(scope="module")
def forget_jsonl(tmp_path_factory):
    path = tmp_path_factory.mktemp("baselines") / "forget.jsonl"
    texts = ["def add(a, b):\n    return a + b\n", "import os\nprint(os.getcwd())\n"]
    path.write_text("".join(json.dumps({"task_id": f"s{i}", "content": t}) + "\n" for i, t in enumerate(texts)))
    return path


@pytest.mark.parametrize("method,extra", [("gradiff", []), ("simnpo", ["--gamma", "0.5"]),
                                          ("rmu", ["--steering-coeff", "20", "--alpha", "10"])])
def test_baseline_through_cub_unlearn(cub, tmp_path, tiny_model_dir, forget_jsonl, method, extra):
    from safetensors.torch import load_file

    out = tmp_path / method
    code, stdout, err = cub("unlearn", "--model", tiny_model_dir, "--method", method, "--data", forget_jsonl,
                            "--output-dir", out, "--epochs", "1", "--lr", "1e-2", "--grad-accum", "1",
                            "--max-length", "32", *extra)
    assert code == 0, err
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "complete" and run["method"] == method
    if method == "simnpo":
        assert run["hyperparameters"] == {"beta": 2.5, "gamma": 0.5} and run["retain"] is None
        return
    # one line says which retain set was used; run.json records it
    lines = [line for line in err.splitlines() if line.startswith("retain set:")]
    assert len(lines) == 1 and "held-out code" in lines[0], err
    assert run["retain"]["n"] == 2 and run["retain"]["source"] == "stdlib"
    if method == "rmu":
        before = load_file(str(next(tiny_model_dir.glob("*.safetensors"))))
        after = load_file(str(out / "epoch-01" / "model.safetensors"))
        changed = sorted(k for k in before if not torch.equal(before[k], after[k]))
        assert changed == ["model.layers.0.mlp.down_proj.weight"]  # auto layer of 2 = 0
        assert run["precomputed_bytes"] > 0  # the frozen retain activations


def test_baselines_in_unlearn_help(cub):
    code, out, _ = cub("unlearn", "--help")
    assert code == 0
    for name in ("gradiff", "simnpo", "rmu", "--retain-data", "--steering-coeff", "--rmu-layer", "--gamma"):
        assert name in out
    code, _, err = cub("unlearn", "--model", "x", "--output-dir", "y", "--method", "simnpo", "--retain-data", "z")
    assert code == 2 and "does not use --retain-data" in err
