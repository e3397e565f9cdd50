"""Every loss on hand-computed toy logits (values worked out in the comments, not by the code)."""

import math

import pytest
import torch

from code_unlearn_bench.errors import CubError
from code_unlearn_bench.unlearn.methods import get_method, method_names
from code_unlearn_bench.unlearn.methods.dpo import dpo_loss
from code_unlearn_bench.unlearn.methods.flat import flat_loss
from code_unlearn_bench.unlearn.methods.ga import ga_loss
from code_unlearn_bench.unlearn.methods.npo import npo_loss
from code_unlearn_bench.unlearn.methods.prod import prod_loss, prod_targets
from code_unlearn_bench.unlearn.tokens import SeqBatch, mean_nll, mean_token_prob, sequence_logprob

# One position over a 5-token vocabulary; logits = log-probs so softmax gives these exactly.
ORIG = [0.5, 0.2, 0.15, 0.1, 0.05]
LOGITS = torch.tensor([ORIG]).log()
FORGET = torch.tensor([0])  # the memorised token is the most probable one


def dense(t, n_vocab=5):
    """Sparse targets -> dense [N, V] for readable assertions."""
    out = torch.zeros(len(t["count"]), n_vocab)
    rows = torch.repeat_interleave(torch.arange(len(t["count"])), t["count"].long())
    out[rows, t["idx"].long()] = t["prob"]
    return out


def test_prod_eliminates_forget_token_before_nucleus():
    # After eliminating token 0 the distribution is [0, .4, .3, .2, .1]. With p = .6 the nucleus
    # is {1 (.4), 2 (.3, crosses .6 -> kept)}; renormalised: [0, 4/7, 3/7, 0, 0].
    # The reversed order (nucleus on the original, then elimination) would keep {0, 1} and
    # leave only token 1 with probability 1.
    t = prod_targets(LOGITS, FORGET, p=0.6)
    assert dense(t)[0].tolist() == pytest.approx([0, 4 / 7, 3 / 7, 0, 0], abs=1e-6)
    assert t["count"].tolist() == [2]
    assert t["p_orig"].tolist() == pytest.approx([0.5])


def test_prod_nucleus_keeps_the_boundary_token_and_at_least_one():
    # p = .75: mass before token 3 is .7 < .75, so token 3 (which crosses) is kept: {1, 2, 3}.
    t = prod_targets(LOGITS, FORGET, p=0.75)
    assert dense(t)[0].tolist() == pytest.approx([0, 4 / 9, 3 / 9, 2 / 9, 0], abs=1e-6)
    # a tiny p still keeps the single most probable survivor
    t = prod_targets(LOGITS, FORGET, p=0.01)
    assert dense(t)[0].tolist() == pytest.approx([0, 1, 0, 0, 0])
    # p = 1: no noise elimination, every token but the forget one
    t = prod_targets(LOGITS, FORGET, p=1.0)
    assert dense(t)[0].tolist() == pytest.approx([0, .4, .3, .2, .1], abs=1e-6)


def test_prod_forget_token_not_the_argmax():
    # Forget token 2 (.15): survivors renormalised [.5, .2, 0, .1, .05] / .85; p = .8 keeps
    # 0 (.588), then 1 (mass before .588 < .8, kept) -> {0, 1} renormalised [5/7, 2/7].
    t = prod_targets(LOGITS, torch.tensor([2]), p=0.8)
    assert dense(t)[0].tolist() == pytest.approx([5 / 7, 2 / 7, 0, 0, 0], abs=1e-6)


def test_prod_loss_soft_cross_entropy_and_alpha_term():
    t = prod_targets(LOGITS, FORGET, p=0.6)  # p_T = [0, 4/7, 3/7, 0, 0]
    student = torch.tensor([[0.1, 0.2, 0.3, 0.2, 0.2]]).log()
    ce = -(4 / 7 * math.log(0.2) + 3 / 7 * math.log(0.3))
    assert prod_loss(student, FORGET, t, alpha=0).item() == pytest.approx(ce, rel=1e-6)
    # alpha: p_T[y] = -alpha * p_o(y) = -0.5 * 0.5 with the ORIGINAL p_o(y) = .5, so the loss
    # gains -(-0.25) * log pi(y) = 0.25 * log 0.1
    assert prod_loss(student, FORGET, t, alpha=0.5).item() == pytest.approx(ce + 0.25 * math.log(0.1), rel=1e-6)


def test_prod_loss_averages_over_positions_and_sparse_targets_are_independent_per_row():
    logits = torch.cat([LOGITS, LOGITS])
    t = prod_targets(logits, torch.tensor([0, 2]), p=0.6)
    # row 0: {1: 4/7, 2: 3/7}; row 1 (forget 2): [.5,.2,0,.1,.05]/.85 -> p=.6 keeps {0 (.588), 1}
    assert t["count"].tolist() == [2, 2]
    student = torch.tensor([[0.1, 0.2, 0.3, 0.2, 0.2], [0.4, 0.4, 0.1, 0.05, 0.05]]).log()
    row0 = -(4 / 7 * math.log(0.2) + 3 / 7 * math.log(0.3))
    row1 = -(5 / 7 * math.log(0.4) + 2 / 7 * math.log(0.4))
    assert prod_loss(student, torch.tensor([0, 2]), t, alpha=0).item() == pytest.approx((row0 + row1) / 2, rel=1e-6)


def test_prod_loss_gradient_pulls_towards_the_target():
    # d/dlogits of soft-label CE = softmax(logits) - p_T: from uniform logits [.2]*5 and
    # p_T = [0, 4/7, 3/7, 0, 0] the gradient is [.2, .2 - 4/7, .2 - 3/7, .2, .2].
    t = prod_targets(LOGITS, FORGET, p=0.6)
    logits = torch.zeros(1, 5, requires_grad=True)
    prod_loss(logits, FORGET, t, alpha=0).backward()
    assert logits.grad[0].tolist() == pytest.approx([.2, .2 - 4 / 7, .2 - 3 / 7, .2, .2], abs=1e-6)


def seq(ids, n_prompt):
    """One example: ids with the first n_prompt tokens as prompt, the rest the answer."""
    t = torch.tensor([ids])
    mask = torch.zeros_like(t, dtype=torch.bool)
    mask[0, n_prompt:] = True
    return SeqBatch(t, torch.ones_like(t), mask)


def test_token_views_on_a_toy_sequence():
    # vocab 3; positions 0..2 predict ids[1..3] = [1, 2, 0]; the prompt is ids[0:2], so only
    # positions 1 and 2 (predicting 2 and 0) are answer positions.
    probs = torch.tensor([[[.2, .5, .3], [.1, .1, .8], [.6, .3, .1], [1 / 3, 1 / 3, 1 / 3]]])
    s = seq([0, 1, 2, 0], n_prompt=2)
    logits = probs.log()
    assert sequence_logprob(logits, s).item() == pytest.approx(math.log(.8) + math.log(.6))
    assert mean_token_prob(logits, s).item() == pytest.approx((.8 + .6) / 2)
    assert mean_nll(logits, s).item() == pytest.approx(-(math.log(.8) + math.log(.6)) / 2)
    assert ga_loss(mean_nll(logits, s)).item() == pytest.approx((math.log(.8) + math.log(.6)) / 2)


def test_npo_formula():
    # -(2/b) log sigmoid(b * (nll - ref)); b = .1, nll - ref = 10 -> -(20) log sigmoid(1)
    got = npo_loss(torch.tensor([30.0]), torch.tensor([20.0]), beta=0.1).item()
    assert got == pytest.approx(-20 * math.log(1 / (1 + math.exp(-1))))
    # at the reference point the loss is (2/b) log 2 and it falls as the NLL rises
    assert npo_loss(torch.tensor([5.0]), torch.tensor([5.0]), 0.1).item() == pytest.approx(20 * math.log(2))
    assert npo_loss(torch.tensor([6.0]), torch.tensor([5.0]), 0.1) < npo_loss(torch.tensor([4.0]), torch.tensor([5.0]), 0.1)


def test_dpo_formula():
    # margin = (-3 - -4) - (-10 - -8) = 1 + 2 = 3; loss = -log sigmoid(.1 * 3)
    got = dpo_loss(torch.tensor([-3.0]), torch.tensor([-10.0]), torch.tensor([-4.0]), torch.tensor([-8.0]), 0.1)
    assert got.item() == pytest.approx(-math.log(1 / (1 + math.exp(-0.3))))


@pytest.mark.parametrize("variant,expected", [
    ("kl", -0.3 + math.exp(0.6 - 1)),
    ("pearson", -0.3 + 0.6 ** 2 / 4 + 0.6),
    ("tv", -math.tanh(0.3) / 2 + math.tanh(0.6) / 2),
])
def test_flat_formulas(variant, expected):
    assert flat_loss(torch.tensor([0.3]), torch.tensor([0.6]), variant).item() == pytest.approx(expected, rel=1e-6)


def test_method_registry_and_hyperparameter_errors():
    assert set(method_names()) >= {"ga", "npo", "dpo", "flat", "prod"}
    with pytest.raises(CubError, match="unknown unlearning method 'prdo'.*did you mean 'prod'"):
        get_method("prdo")
    prod = get_method("prod")
    for bad in (0, -0.1, 1.5):
        with pytest.raises(CubError, match=r"--p must be in \(0, 1\]"):
            prod(p=bad)
    assert prod(p=1.0, alpha=0.1).hyperparameters() == {"p": 1.0, "alpha": 0.1}
    with pytest.raises(CubError, match="unknown FLAT variant"):
        get_method("flat")(variant="js")
    with pytest.raises(CubError, match="--beta must be > 0"):
        get_method("npo")(beta=0)
