"""Prefix injection on tiny real models: k = 0 is the plain evaluation, shallow unlearning is undone
by a ground-truth prefix, and the paper's utility-share eligibility rule."""

import json

import pytest
import torch

from code_unlearn_bench.attacks.prefix import attacked_samples, parse_ks, split_reference
from code_unlearn_bench.errors import CubError

MAX_NEW = "64"


@pytest.fixture(scope="module")
def mem(tiny_memorised):
    return tiny_memorised


def results(path):
    return json.loads((path / "results.json").read_text())


def records(path):
    return {json.loads(line)["id"]: json.loads(line) for line in path.read_text().splitlines()}


def shallow_ga(src, texts, dst, lr=1e-3, max_rounds=15, forgotten_bleu=0.5):
    """Gradient ascent (the unlearn package's GA loss) on only the first 12 tokens of each seen
    file's second half, per file until its plain greedy continuation scores BLEU < 0.5: the
    model stops *starting* the continuation, the shallow forgetting prefix injection exposes."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from code_unlearn_bench.analyzers.bleu import token_bleu
    from code_unlearn_bench.loaders.copyright import split_file
    from code_unlearn_bench.unlearn.data import Example, collate, encode
    from code_unlearn_bench.unlearn.methods.ga import ga_loss
    from code_unlearn_bench.unlearn.tokens import forward_logits, mean_nll

    tok = AutoTokenizer.from_pretrained(str(src))
    model = AutoModelForCausalLM.from_pretrained(str(src))
    files = [split_file(t) for t in texts]
    refs = [tok(r, add_special_tokens=False)["input_ids"] for _, r in files]
    batches = [collate([Example(str(i), {"forget": encode(tok, p, tok.decode(ref[:12]), 512)})],
                       tok.pad_token_id)["forget"] for i, ((p, _), ref) in enumerate(zip(files, refs))]

    def bleu(prompt, ref):
        ids = tok(prompt, return_tensors="pt")["input_ids"]
        out = model.generate(ids, max_new_tokens=64, do_sample=False, pad_token_id=tok.pad_token_id)
        return token_bleu(out[0, ids.shape[1]:].tolist(), ref[:64])

    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    for _ in range(max_rounds):
        model.eval()
        with torch.no_grad():
            left = [bleu(p, ref) >= forgotten_bleu for (p, _), ref in zip(files, refs)]
        if not any(left):
            break
        model.train()
        for batch, todo in zip(batches, left):
            if todo:
                ga_loss(mean_nll(forward_logits(model, batch), batch)).backward()
                opt.step()
                opt.zero_grad()
    assert not any(left), "GA did not make the tiny model forget within the round budget"
    model.eval()
    model.save_pretrained(dst)
    tok.save_pretrained(dst)
    return dst


@pytest.fixture(scope="module")
def shallow(mem, tmp_path_factory):
    return shallow_ga(mem.path, mem.seen, tmp_path_factory.mktemp("shallow") / "model")


# -- units --------------------------------------------------------------------------------------
def test_parse_ks_adds_the_baseline_and_rejects_bad_values():
    assert parse_ks("8,32") == [0, 8, 32]
    assert parse_ks("32, 0,8,8") == [0, 8, 32]
    for bad in ("", "a,8", "-1"):
        with pytest.raises(CubError):
            parse_ks(bad)


def test_split_reference_cuts_exactly_k_tokens(mem):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(mem.path))
    ref = " " + mem.seen[0][200:]
    for k in (1, 8, 20):
        prefix, rest = split_reference(tok, ref, k)
        assert prefix + rest == ref
        assert tok(prefix, add_special_tokens=False)["input_ids"] == tok(ref, add_special_tokens=False)["input_ids"][:k]
    n = len(tok(ref, add_special_tokens=False)["input_ids"])
    assert split_reference(tok, ref, n) is None  # nothing left to score
    assert split_reference(tok, ref, 0) == ("", ref)


def test_attacked_samples_move_the_prefix_into_the_prompt(mem):
    from transformers import AutoTokenizer

    from code_unlearn_bench.samples import Sample

    tok = AutoTokenizer.from_pretrained(str(mem.path))
    samples = [Sample("a", "def f(x):", " return x + 1  # a long enough reference here\n"), Sample("b", "p", " x")]
    same, left_out = attacked_samples(samples, tok, 0)
    assert same == samples and left_out == []
    attacked, left_out = attacked_samples(samples, tok, 3)
    assert left_out == ["b"] and len(attacked) == 1
    a = attacked[0]
    assert a.prompt + a.reference == samples[0].prompt + samples[0].reference
    assert a.prompt != samples[0].prompt and a.meta["attack_prefix_tokens"] == 3


# -- end to end ---------------------------------------------------------------------------------
def test_k0_equals_the_plain_evaluate_score(mem, cub, tmp_path):
    ev, atk = tmp_path / "eval", tmp_path / "atk"
    code, _, err = cub("evaluate", "--model", mem.path, "--tasks", "copyright", "--data", mem.all_jsonl,
                       "--output-dir", ev, "--max-new-tokens", MAX_NEW, "--quiet")
    assert code == 0, err
    code, out, err = cub("attack", "prefix", "--model", mem.path, "--data", mem.all_jsonl, "--output-dir", atk,
                         "--k", "0,8", "--max-new-tokens", MAX_NEW, "--quiet")
    assert code == 0, err
    plain = results(ev)["tasks"]["copyright"]
    attacked = results(atk)
    task = attacked["tasks"]["copyright"]
    assert attacked["kind"] == "attack"
    assert task["metrics"]["forget_quality@k=0"] == plain["metrics"]["forget_quality"]
    assert task["metrics"]["bleu@k=0"] == plain["metrics"]["bleu"]
    base = records(ev / "generations" / "copyright.jsonl")
    k0 = records(atk / "settings" / "k=0" / "generations" / "copyright.jsonl")
    assert {i: r["completion"] for i, r in k0.items()} == {i: r["completion"] for i, r in base.items()}
    assert task["attack"]["settings"]["k=0"]["n"] == 4 and task["primary_metric"] == "forget_quality@k=8"
    assert "eligibility unknown" in attacked["attack"]["eligibility"]["reason"]
    assert attacked["attack"]["eligibility"]["eligible"] is None
    assert "eligibility unknown" in out


def test_shallow_ga_model_regains_similarity_under_prefix_attack(mem, shallow, cub, tmp_path):
    out = tmp_path / "atk"
    code, _, err = cub("attack", "prefix", "--model", shallow, "--data", mem.seen_jsonl, "--output-dir", out,
                       "--k", "0,32", "--max-new-tokens", MAX_NEW, "--quiet")
    assert code == 0, err
    m = results(out)["tasks"]["copyright"]["metrics"]
    assert m["forget_quality@k=0"]["value"] >= 0.5, m  # unlearned without the attack
    assert m["forget_quality@k=32"]["value"] <= m["forget_quality@k=0"]["value"] - 0.3, m  # regained
    assert m["effect_of_attack@k=32"]["value"] >= 0.3 and m["effect_of_attack@k=32"]["n"] == 2
    assert m["effect_of_attack@k=32"]["higher_is_better"] is False
    # resumable: a second run regenerates nothing and gives the same file
    before = (out / "results.json").read_text()
    gen = (out / "settings" / "k=32" / "generations" / "copyright.jsonl").read_text()
    assert cub("attack", "prefix", "--model", shallow, "--data", mem.seen_jsonl, "--output-dir", out,
               "--k", "0,32", "--max-new-tokens", MAX_NEW, "--quiet")[0] == 0
    assert (out / "settings" / "k=32" / "generations" / "copyright.jsonl").read_text() == gen
    assert json.loads((out / "results.json").read_text())["tasks"] == json.loads(before)["tasks"]


def _collapse(src, text, dst):
    """Whole-file gradient ascent until the model is wrecked (its held-out loss explodes)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(src))
    model = AutoModelForCausalLM.from_pretrained(str(src))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    ids = tok(text, return_tensors="pt")["input_ids"]
    model.train()
    for _ in range(8):
        (-model(input_ids=ids, labels=ids).loss).backward()
        opt.step()
        opt.zero_grad()
    model.save_pretrained(dst)
    tok.save_pretrained(dst)
    return dst


def test_eligibility_skips_checkpoints_that_lost_utility(mem, shallow, cub, tmp_path):
    # "utility" here: the loss on code the original model knows well (its second memorised file);
    # gradient ascent on the first file wrecks it
    heldout = tmp_path / "heldout.jsonl"
    heldout.write_text(json.dumps({"task_id": "h", "content": mem.seen[1]}) + "\n")
    wrecked = _collapse(mem.path, mem.seen[0], tmp_path / "wrecked")
    runs = {}
    for name, model in (("orig", mem.path), ("wrecked", wrecked)):
        runs[name] = tmp_path / f"eval-{name}"
        code, _, err = cub("evaluate", "--model", model, "--tasks", "heldout", "--data", heldout,
                           "--output-dir", runs[name], "--quiet")
        assert code == 0, err
    orig_nll = results(runs["orig"])["tasks"]["heldout"]["metrics"]["heldout_nll"]["value"]
    wrecked_nll = results(runs["wrecked"])["tasks"]["heldout"]["metrics"]["heldout_nll"]["value"]
    assert wrecked_nll > orig_nll / 0.6, (orig_nll, wrecked_nll)

    out = tmp_path / "skipped"
    code, stdout, err = cub("attack", "prefix", "--model", wrecked, "--data", mem.seen_jsonl, "--output-dir", out,
                            "--utility-results", runs["orig"], "--candidate-results", runs["wrecked"], "--quiet")
    assert code == 0, err
    res = results(out)
    task = res["tasks"]["copyright"]
    assert task["status"] == "skipped" and "< 60%" in task["reason"] and "heldout" in task["reason"]
    assert res["attack"]["eligibility"]["eligible"] is False
    assert res["attack"]["eligibility"]["tasks"]["heldout"]["share"] < 0.6
    assert "skipped" in stdout and not (out / "settings").exists()  # the model was never run

    # the original model against itself keeps 100%: attacked
    out = tmp_path / "eligible"
    code, _, err = cub("attack", "prefix", "--model", mem.path, "--data", mem.seen_jsonl, "--output-dir", out,
                       "--k", "0", "--max-new-tokens", "16", "--utility-results", runs["orig"],
                       "--candidate-results", runs["orig"], "--quiet")
    assert code == 0, err
    res = results(out)
    assert res["tasks"]["copyright"]["status"] == "completed" and res["attack"]["eligibility"]["eligible"]

    # a candidate run of other weights than --model is refused
    code, _, err = cub("attack", "prefix", "--model", shallow, "--data", mem.seen_jsonl, "--output-dir", tmp_path / "x",
                       "--utility-results", runs["orig"], "--candidate-results", runs["wrecked"])
    assert code == 2 and "not of the attacked --model" in err and len(err.strip().splitlines()) == 1
