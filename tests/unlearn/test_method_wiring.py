"""Each method's wiring on a real (tiny, random) Llama: which sequence plays which role, which model
(before unlearning for the frozen precompute, the one being trained for the loss) and every sign.

Every expected value is computed here from the method's published formula with a plain forward
pass, never through the package's token helpers. The two models differ, and so do the forget,
refusal and retain sequences, so swapping any two of them (DPO preferred/rejected, FLAT refusal/
forget, GradDiff and RMU forget/retain), computing a frozen term on the wrong model, or flipping a
sign inside a loss moves the loss away from the expected value. The loop calls a method as here:
``precompute`` per example (batch of one) on the model before unlearning, ``collate_state`` over
the micro-batch, ``loss`` on the model being trained.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from code_unlearn_bench.unlearn.methods import get_method
from code_unlearn_bench.unlearn.tokens import SeqBatch

VOCAB = 12
# Two examples per kind; refusal shares the forget prompt (x_f) and answers differently.
FORGET = ([[1, 2, 3, 4, 5, 6], [2, 7, 8, 9, 3, 1]], 2)
REFUSAL = ([[1, 2, 10, 11, 10, 0], [2, 7, 11, 10, 11, 0]], 2)
RETAIN = ([[5, 5, 6, 7, 8, 9], [9, 8, 7, 6, 5, 4]], 1)


def tiny(seed: int):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=VOCAB, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=32,
                         tie_word_embeddings=False)
    return LlamaForCausalLM(config).eval()


@pytest.fixture(scope="module")
def models():
    return tiny(0), tiny(1)  # (before unlearning, being trained)


def batch(spec, rows=slice(None)) -> SeqBatch:
    ids, n_prompt = spec
    t = torch.tensor(ids)[rows]
    mask = torch.zeros_like(t, dtype=torch.bool)
    mask[:, n_prompt:] = True
    return SeqBatch(t, torch.ones_like(t), mask)


def seqs(*names, rows=slice(None)):
    specs = {"forget": FORGET, "refusal": REFUSAL, "retain": RETAIN}
    return {n: batch(specs[n], rows) for n in names}


def run(method, models):
    """The loop's calls: precompute per example on the initial model, collate, loss on the trained one."""
    initial, trained = models
    names = method.sequences
    with torch.no_grad():
        states = [method.precompute(initial, seqs(*names, rows=slice(i, i + 1))) for i in range(2)]
        return method.loss(trained, seqs(*names), method.collate_state(states)).item()


# -- the oracle: plain forward passes -----------------------------------------------------------
def answer_logprobs(model, spec) -> torch.Tensor:
    """[B, answer length] log pi(y_t | x, y_<t) of each answer token."""
    ids, n_prompt = spec
    t = torch.tensor(ids)
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=t).logits.float(), -1)
    return logp[:, :-1].gather(-1, t[:, 1:, None])[..., 0][:, n_prompt - 1:]


def hidden_after(model, spec, layer) -> torch.Tensor:
    """[N, D] output of decoder layer ``layer`` at the positions predicting answer tokens."""
    ids, n_prompt = spec
    with torch.no_grad():
        hidden = model(input_ids=torch.tensor(ids), output_hidden_states=True).hidden_states[layer + 1]
    return hidden[:, n_prompt - 1:-1].reshape(-1, hidden.shape[-1])


def test_ga(models):
    nll = -answer_logprobs(models[1], FORGET).mean()  # mean token NLL over the micro-batch
    assert run(get_method("ga")(), models) == pytest.approx(-nll.item(), rel=1e-5)


def test_gradiff(models):
    f, r = -answer_logprobs(models[1], FORGET).mean(), -answer_logprobs(models[1], RETAIN).mean()
    got = run(get_method("gradiff")(gamma=1.0, alpha=0.5), models)
    assert got == pytest.approx((-1.0 * f + 0.5 * r).item(), rel=1e-5)


def test_npo(models):
    beta = 0.1
    nll = -answer_logprobs(models[1], FORGET).sum(-1)
    ref = -answer_logprobs(models[0], FORGET).sum(-1)  # the frozen model before unlearning
    expected = -(2 / beta) * F.logsigmoid(beta * (nll - ref)).mean()
    assert run(get_method("npo")(beta=beta), models) == pytest.approx(expected.item(), rel=1e-5)


def test_simnpo(models):
    beta, gamma = 2.5, 0.5
    lp = answer_logprobs(models[1], FORGET)
    expected = -(2 / beta) * F.logsigmoid(-(beta / lp.shape[1]) * lp.sum(-1) - gamma).mean()
    assert run(get_method("simnpo")(beta=beta, gamma=gamma), models) == pytest.approx(expected.item(), rel=1e-5)


def test_dpo(models):
    beta = 0.1
    pi_w, pi_l = answer_logprobs(models[1], REFUSAL).sum(-1), answer_logprobs(models[1], FORGET).sum(-1)
    ref_w, ref_l = answer_logprobs(models[0], REFUSAL).sum(-1), answer_logprobs(models[0], FORGET).sum(-1)
    expected = -F.logsigmoid(beta * ((pi_w - ref_w) - (pi_l - ref_l))).mean()
    assert run(get_method("dpo")(beta=beta), models) == pytest.approx(expected.item(), rel=1e-5)


def test_flat(models):
    p_e = answer_logprobs(models[1], REFUSAL).exp().mean(-1)  # mean per-token probability
    p_f = answer_logprobs(models[1], FORGET).exp().mean(-1)
    expected = (-p_e + torch.exp(p_f - 1)).mean()  # KL: g(v) = v, f*(u) = exp(u - 1)
    assert run(get_method("flat")(variant="kl"), models) == pytest.approx(expected.item(), rel=1e-5)


def test_rmu(models):
    coeff, alpha, layer = 6.5, 2.0, 0  # layer "auto" for 2 layers: floor(2 * 7 / 32) = 0
    forget = hidden_after(models[1], FORGET, layer)
    u = torch.rand(forget.shape[-1], generator=torch.Generator().manual_seed(0))
    control = coeff * u / u.norm()
    frozen = hidden_after(models[0], RETAIN, layer)  # the model before unlearning
    expected = ((forget - control) ** 2).mean() + alpha * ((hidden_after(models[1], RETAIN, layer) - frozen) ** 2).mean()
    got = run(get_method("rmu")(alpha=alpha, steering_coeff=coeff), models)
    assert got == pytest.approx(expected.item(), rel=1e-5)


def test_prod(models):
    p, alpha = 0.8, 0.3
    ids, n_prompt = FORGET
    t = torch.tensor(ids)
    with torch.no_grad():
        before = torch.softmax(models[0](input_ids=t).logits.float(), -1)[:, :-1]
        logp = torch.log_softmax(models[1](input_ids=t).logits.float(), -1)[:, :-1]
    terms = []
    for b in range(t.shape[0]):
        for pos in range(n_prompt - 1, t.shape[1] - 1):
            y = t[b, pos + 1]
            probs = before[b, pos].clone()
            p_orig = probs[y].item()
            probs[y] = 0  # forget elimination, then renormalise
            probs = probs / probs.sum()
            order = probs.argsort(descending=True)
            kept, mass = [], 0.0
            for w in order.tolist():  # the nucleus: up to and including the token that reaches p
                kept.append(w)
                mass += probs[w].item()
                if mass >= p:
                    break
            target = probs[kept] / probs[kept].sum()
            ce = -(target * logp[b, pos, kept]).sum()
            terms.append(ce + alpha * p_orig * logp[b, pos, y])  # p_T(y) = -alpha * p_o(y)
    expected = torch.stack(terms).mean()
    assert run(get_method("prod")(p=p, alpha=alpha), models) == pytest.approx(expected.item(), rel=1e-5)
