"""Forget pairs per task, tokenisation/truncation, batching masks, refusal lists."""

import json

import pytest

from code_unlearn_bench.errors import DataError
from code_unlearn_bench.samples import Sample
from code_unlearn_bench.unlearn.data import ForgetPair, ForgetSet, collate, encode, refusal_answer, to_pair, tokenise
from code_unlearn_bench.unlearn.refusals import default_refusals_path, load_refusals


class CharTokenizer:
    """One token per character (ids = code points), optional BOS: enough to check the arithmetic."""

    def __init__(self, bos=None):
        self.bos = bos

    def __call__(self, text, add_special_tokens=True):
        ids = [ord(c) for c in text]
        return {"input_ids": ([self.bos] if add_special_tokens and self.bos is not None else []) + ids}


def test_pairs_follow_the_paper_per_task():
    s = Sample("a", "def f(", "x): pass", {"content": "def f(x): pass"})
    assert to_pair("copyright", s) == ForgetPair("a", "", "def f(x): pass")  # whole file, no prompt
    assert to_pair("copyright", Sample("b", "ab ", "cd")) == ForgetPair("b", "", "ab cd")
    assert to_pair("insecure", Sample("c", "code before\n", "md5(pw)")) == ForgetPair("c", "code before\n", "md5(pw)")
    assert to_pair("deprecated", Sample("d", "x = ", "np.float(3)")) == ForgetPair("d", "x = ", "np.float(3)")


def test_encode_keeps_the_boundary_and_truncates_prompt_left_then_answer():
    tok = CharTokenizer(bos=1)
    ids, n_prompt = encode(tok, "abc", "xyz", max_length=10)
    assert ids == [1, *map(ord, "abcxyz")] and n_prompt == 4
    # too long: the prompt loses its left end until half the window is answer...
    ids, n_prompt = encode(tok, "p" * 20, "a" * 20, max_length=10)
    assert len(ids) == 10 and n_prompt == 5 and ids[5:] == [ord("a")] * 5
    # ...and a short answer keeps the rest of the window for the prompt's right end
    ids, n_prompt = encode(tok, "0123456789", "ab", max_length=6)
    assert ids == [*map(ord, "6789ab")] and n_prompt == 4


def test_tokenise_and_collate_masks():
    forget = ForgetSet("insecure", [ForgetPair("a", "ab", "cd"), ForgetPair("b", "", "efgh")], "h")
    examples = tokenise(forget, CharTokenizer(), 16, ("forget", "refusal"), ["no."], seed=1)
    assert [e.id for e in examples] == ["a", "b"]
    assert examples[0].seqs["refusal"] == ([*map(ord, "ab\nno.\n")], 2)
    batch = collate(examples, pad_id=0)["forget"]
    assert batch.input_ids.tolist() == [[97, 98, 99, 100], [101, 102, 103, 104]]
    assert batch.target_mask.tolist() == [[False, False, True, True], [True, True, True, True]]
    # position t predicts t+1: example 0 has 2 answer predictions, example 1 (no context for 'e') 3
    assert batch.predict_mask.sum(-1).tolist() == [2, 3]
    uneven = ForgetSet("x", [ForgetPair("a", "ab", "cd"), ForgetPair("c", "a", "bcdefg")], "h")
    padded = collate(tokenise(uneven, CharTokenizer(), 16, ("forget",)), pad_id=0)["forget"]
    assert padded.attention_mask.tolist()[0] == [1, 1, 1, 1, 0, 0, 0]
    assert padded.target_mask.tolist()[0] == [False, False, True, True, False, False, False]


def test_nothing_to_train_on_is_a_data_error():
    forget = ForgetSet("copyright", [ForgetPair("a", "", "x")], "h")  # one token, no context
    with pytest.raises(DataError, match="no answer tokens"):
        tokenise(forget, CharTokenizer(), 16, ("forget",))


def test_refusals_builtin_paper_format_and_determinism(tmp_path, shared_data):
    ours, h = load_refusals()
    assert len(ours) >= 50 and len(set(ours)) == len(ours) and h.startswith("sha256:")
    assert all(json.loads(line)["text"] for line in default_refusals_path().read_text().splitlines())
    paper, _ = load_refusals(shared_data / "prod_copyright" / "idontknow.jsonl")  # plain lines
    assert len(paper) >= 99 and not set(paper) & set(ours)  # our own list, not a copy
    assert refusal_answer(ours, 42, "file-1") == refusal_answer(ours, 42, "file-1")
    assert refusal_answer(ours, 42, "file-1").startswith("\n") and refusal_answer(ours, 42, "x").endswith("\n")
    assert len({refusal_answer(ours, 42, f"f{i}") for i in range(20)}) > 5
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": 3}\n')
    with pytest.raises(DataError, match="expected a string"):
        load_refusals(bad)
    with pytest.raises(DataError, match="cannot read refusal list"):
        load_refusals(tmp_path / "missing.jsonl")


def test_deprecated_unlearning_uses_the_forget_split_only():
    # the deprecated task evaluates both splits; training must never push down the retained
    # still-valid APIs (meta split "retain")
    from code_unlearn_bench.errors import CubError
    from code_unlearn_bench.tasks.spec import get_task
    from code_unlearn_bench.unlearn.data import load_forget_set

    everything = get_task("deprecated").load_samples()
    forget_ids = {s.id for s in everything if s.meta["split"] == "forget"}
    assert len(forget_ids) < len(everything)  # the evaluation set holds retained APIs too
    forget = load_forget_set("deprecated")
    assert {p.id for p in forget.pairs} == forget_ids
    # --limit counts forget samples, not a prefix of the interleaved forget/retain list
    assert {p.id for p in load_forget_set("deprecated", limit=6).pairs} <= forget_ids
    assert len(load_forget_set("deprecated", limit=6).pairs) == 6
    with pytest.raises(CubError, match="forget split only"):
        load_forget_set("deprecated", options={"split": "retain"})


def test_the_evaluation_prefix_holds_every_trained_sample():
    """Deprecated evaluates forget and retain interleaved: `--limit 8` of the evaluation holds only
    the first 4 trained samples, so `cub reproduce` evaluates the prefix that holds all 8."""
    from code_unlearn_bench.tasks.spec import get_task
    from code_unlearn_bench.unlearn.data import evaluation_limit, load_forget_set

    trained = [p.id for p in load_forget_set("deprecated", limit=8).pairs]
    n = evaluation_limit("deprecated", limit=8)
    evaluated = get_task("deprecated").load_samples(limit=n)
    forget_ids = [s.id for s in evaluated if s.meta["split"] == "forget"]
    assert len(trained) == 8 and forget_ids == trained  # every trained sample, no untrained forget sample
    assert len([s for s in get_task("deprecated").load_samples(limit=8) if s.id in trained]) < 8  # the old prefix
    # tasks whose evaluation set is the forget set: the limit itself
    assert evaluation_limit("copyright", limit=8) == 8 and evaluation_limit("insecure", limit=8) == 8
    assert evaluation_limit("deprecated") is None
