"""`cub learn` / `cub unlearn` through the real CLI: bad input, resume after a crash, outputs."""

import json

import pytest
import torch
from safetensors.torch import load_file

from code_unlearn_bench.unlearn.methods import prod as prod_module

def unlearn_args(model, data, out, *extra):
    return ["unlearn", "--model", model, "--method", "prod", "--data", data, "--output-dir", out,
            "--epochs", "3", "--lr", "1e-3", "--grad-accum", "2", "--max-length", "32", *extra]


def one_line_error(code, err, pattern):
    """Exit 2 and the error is one line, the last one (progress lines may come before it)."""
    assert code == 2
    lines = err.strip().splitlines()
    errors = [line for line in lines if line.startswith("cub: error: ")]
    assert errors == lines[-1:] and "Traceback" not in err, err
    assert pattern in errors[0], errors[0]


def test_missing_model_dir(cub, tmp_path, forget_jsonl):
    code, _, err = cub(*unlearn_args(str(tmp_path / "nope"), forget_jsonl, tmp_path / "out"))
    one_line_error(code, err, "does not exist")
    code, _, err = cub("learn", "--model", tmp_path / "nope", "--data", forget_jsonl, "--output-dir", tmp_path / "o2")
    one_line_error(code, err, "does not exist")


def test_empty_forget_set(cub, tmp_path, tiny_model_dir):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    code, _, err = cub(*unlearn_args(tiny_model_dir, empty, tmp_path / "out"))
    one_line_error(code, err, "no samples")
    # a forget "file" with no tokens to forget
    blank = tmp_path / "blank.jsonl"
    blank.write_text(json.dumps({"task_id": "x", "content": "x"}) + "\n")
    code, _, err = cub(*unlearn_args(tiny_model_dir, blank, tmp_path / "out2"))
    one_line_error(code, err, "no answer tokens")


@pytest.mark.parametrize("p", ["0", "-0.5", "1.01", "nan"])
def test_p_outside_unit_interval(cub, tmp_path, tiny_model_dir, forget_jsonl, p):
    code, _, err = cub(*unlearn_args(tiny_model_dir, forget_jsonl, tmp_path / "out", "--p", p))
    one_line_error(code, err, "--p must be in (0, 1]")
    assert not (tmp_path / "out").exists()  # rejected before anything was written


def test_unknown_method_and_unused_flags(cub, tmp_path, tiny_model_dir, forget_jsonl):
    args = unlearn_args(tiny_model_dir, forget_jsonl, tmp_path / "out")
    args[args.index("prod")] = "prdo"
    code, _, err = cub(*args)
    one_line_error(code, err, "did you mean 'prod'")
    assert all(m in err for m in ("dpo", "flat", "ga", "npo"))
    args[args.index("prdo")] = "ga"
    code, _, err = cub(*args, "--alpha", "0.5")
    one_line_error(code, err, "does not use --alpha")


def test_out_of_memory_is_one_line(cub, tmp_path, tiny_model_dir, forget_jsonl, monkeypatch):
    def oom(self, model, seqs, state):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(prod_module.PROD, "loss", oom)
    code, _, err = cub(*unlearn_args(tiny_model_dir, forget_jsonl, tmp_path / "out"))
    one_line_error(code, err, "out of memory")


def weights(path):
    return load_file(str(path / "model.safetensors"))


def test_crash_mid_epoch_resumes_from_last_checkpoint(cub, tmp_path, tiny_model_dir, forget_jsonl, monkeypatch):
    # reference: an uninterrupted run
    code, _, _ = cub(*unlearn_args(tiny_model_dir, forget_jsonl, tmp_path / "straight"))
    assert code == 0

    # the same run, crashing in the middle of epoch 2 (3 examples, batch 1: calls 4-6 are epoch 2)
    real_loss, calls = prod_module.PROD.loss, []

    def crashing(self, model, seqs, state):
        calls.append(1)
        if len(calls) == 5:
            raise RuntimeError("simulated crash")
        return real_loss(self, model, seqs, state)

    monkeypatch.setattr(prod_module.PROD, "loss", crashing)
    with pytest.raises(RuntimeError, match="simulated crash"):
        cub(*unlearn_args(tiny_model_dir, forget_jsonl, tmp_path / "crashed"))
    out = tmp_path / "crashed"
    assert json.loads((out / "run.json").read_text())["status"] == "running"
    assert (out / "epoch-01").is_dir() and not (out / "epoch-02").exists()

    # rerun: continues after epoch 1 with the frozen targets from before the crash
    monkeypatch.setattr(prod_module.PROD, "loss", real_loss)
    monkeypatch.setattr(prod_module.PROD, "precompute", lambda *a: pytest.fail("targets recomputed on resume"))
    code, _, err = cub(*unlearn_args(tiny_model_dir, forget_jsonl, out))
    assert code == 0 and "resuming" in err
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "complete" and [e["epoch"] for e in run["epochs"]] == [1, 2, 3]
    straight = json.loads((tmp_path / "straight" / "run.json").read_text())
    assert sum((e["losses"] for e in run["epochs"]), []) == \
        pytest.approx(sum((e["losses"] for e in straight["epochs"]), []))
    a, b = weights(out / "epoch-03"), weights(tmp_path / "straight" / "epoch-03")
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    assert [p.name for p in (out / "resume").iterdir()] == ["prepared.pt"]  # optimizer state dropped when done

    # rerunning a finished run is a no-op; extending it is refused (no optimizer state to go on from)
    code, _, err = cub(*unlearn_args(tiny_model_dir, forget_jsonl, out))
    assert code == 0 and "already done" in err
    args = unlearn_args(tiny_model_dir, forget_jsonl, out)
    args[args.index("--epochs") + 1] = "4"
    code, _, err = cub(*args)
    one_line_error(code, err, "complete 3-epoch run")

    # the finished dir refuses a different run instead of mixing checkpoints
    code, _, err = cub(*unlearn_args(tiny_model_dir, forget_jsonl, out, "--p", "0.5"))
    one_line_error(code, err, "holds a different run")


def test_checkpoints_carry_lineage_and_load_back(cub, tmp_path, tiny_model_dir, forget_jsonl):
    from code_unlearn_bench.models.loading import load_model_and_tokenizer

    code, out, _ = cub("learn", "--model", tiny_model_dir, "--data", forget_jsonl, "--output-dir", tmp_path / "l",
                       "--epochs", "1", "--max-length", "32", "--lora")
    assert code == 0 and "learn: 1 epochs" in out
    code, _, _ = cub("unlearn", "--model", tmp_path / "l" / "epoch-01", "--method", "dpo", "--data", forget_jsonl,
                     "--output-dir", tmp_path / "u", "--epochs", "1", "--max-length", "32", "--lora")
    assert code == 0
    ckpt = tmp_path / "u" / "epoch-01"
    assert (ckpt / "adapter_config.json").is_file()  # --lora -> a PEFT adapter
    model, _, info = load_model_and_tokenizer(str(ckpt))
    assert info.format == "peft" and info.lineage["method"] == "dpo" and info.lineage["epoch"] == 1
    assert info.lineage["hyperparameters"]["beta"] == 0.1 and info.lineage["task"] == "copyright"
    run = json.loads((tmp_path / "u" / "run.json").read_text())
    assert run["refusals"]["path"] == "builtin" and run["data"]["n_examples"] == 3
    assert run["peak_memory_bytes"] > 0 and len(run["epochs"][0]["losses"]) == 1


def test_unlearn_deprecated_trains_on_the_forget_split_only(cub, tmp_path, tiny_model_dir):
    from code_unlearn_bench.samples import data_hash
    from code_unlearn_bench.tasks.spec import get_task

    code, _, err = cub("unlearn", "--model", tiny_model_dir, "--method", "ga", "--task", "deprecated",
                       "--limit", "4", "--output-dir", tmp_path / "u", "--epochs", "1", "--max-length", "32")
    assert code == 0, err
    run = json.loads((tmp_path / "u" / "run.json").read_text())
    forget = [s for s in get_task("deprecated").load_samples() if s.meta["split"] == "forget"][:4]
    assert run["data"]["n_examples"] == 4 and run["data"]["options"]["split"] == "forget"
    assert run["data"]["hash"] == data_hash(forget)  # the first 4 forget samples, no retained API


def test_unlearn_resolves_and_fingerprints_its_model_once(cub, tmp_path, tiny_model_dir, forget_jsonl, monkeypatch):
    """One run, one model handle: the spec is resolved and its weights hashed once, however many
    steps (memory plan, shapes, loading, run identity) need the model."""
    from code_unlearn_bench.models import loading

    calls = {"resolve": 0, "fingerprint": 0}
    real_resolve, real_fingerprint = loading.resolve_model, loading.fingerprint

    def counting_resolve(*a, **k):
        calls["resolve"] += 1
        return real_resolve(*a, **k)

    def counting_fingerprint(*a, **k):
        calls["fingerprint"] += 1
        return real_fingerprint(*a, **k)

    monkeypatch.setattr(loading, "resolve_model", counting_resolve)
    monkeypatch.setattr(loading, "fingerprint", counting_fingerprint)
    code, _, err = cub(*unlearn_args(tiny_model_dir, forget_jsonl, tmp_path / "u", "--epochs", "1"))
    assert code == 0, err
    assert calls == {"resolve": 1, "fingerprint": 1}
