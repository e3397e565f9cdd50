"""The openai backend's HTTP client and log-likelihood probe against small scripted servers on
127.0.0.1: retries/backoff on 429/5xx/timeouts/refused connections, one-line errors, concurrency,
and the probe's verdict on correct, shifted and log-prob-less echo. The real-server tests are in
test_openai_backend.py."""

import socket

import pytest

from code_unlearn_bench.errors import CubError
from code_unlearn_bench.models.openai_client import CompletionsClient, ServerError


def _client(url, sleeps, **kw):
    return CompletionsClient(url, sleep=sleeps.append, **{"max_retries": 3, "timeout": 5, **kw})


def test_429_and_5xx_are_retried_with_backoff_and_retry_after(fake_server):
    script = iter([(429, {"Retry-After": "2"}, {"error": {"message": "slow down"}}, 0),
                   (503, {}, "overloaded", 0), (502, {}, "", 0), (200, {}, {"ok": 1}, 0)])
    srv = fake_server(lambda m, p, b: next(script))
    sleeps = []
    client = _client(srv.base_url, sleeps)
    assert client.post("completions", {"x": 1}) == {"ok": 1}
    assert len(srv.requests) == 4 and client.retries_done == 3
    assert sleeps[0] == 2.0  # the server's Retry-After
    assert 0.5 * 2 <= sleeps[1] <= 2 and 0.5 * 4 <= sleeps[2] <= 4  # exponential, jittered
    client.close()


def test_retries_are_bounded_and_end_in_one_line_error(fake_server):
    srv = fake_server(lambda m, p, b: (500, {}, {"error": {"message": "CUDA out of\nmemory"}}, 0))
    sleeps = []
    with pytest.raises(ServerError) as exc:
        _client(srv.base_url, sleeps, backoff_s=10, max_backoff_s=15).post("completions", {})
    msg = str(exc.value)
    assert "\n" not in msg and "after 3 retries" in msg and "HTTP 500: CUDA out of memory" in msg
    assert len(srv.requests) == 4 and 5 <= sleeps[0] <= 10 and all(7.5 <= s <= 15 for s in sleeps[1:])  # capped


def test_client_errors_are_not_retried_and_name_the_key_variable(fake_server):
    srv = fake_server(lambda m, p, b: (400, {}, {"error": {"message": "max_tokens too large"}}, 0))
    with pytest.raises(ServerError, match="refused the request.*max_tokens too large"):
        _client(srv.base_url, []).post("completions", {})
    assert len(srv.requests) == 1
    srv = fake_server(lambda m, p, b: (401, {}, {"error": {"message": "bad key"}}, 0))
    with pytest.raises(ServerError, match="--api-key-env"):
        _client(srv.base_url, []).post("completions", {})


def test_timeouts_and_refused_connections_are_retried(fake_server):
    calls = []

    def slow_then_fast(m, p, b):
        calls.append(1)
        return (200, {}, {"n": len(calls)}, 2.0 if len(calls) == 1 else 0)

    srv = fake_server(slow_then_fast)
    sleeps = []
    assert _client(srv.base_url, sleeps, timeout=0.5).post("completions", {}) == {"n": 2}
    assert len(sleeps) == 1
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sleeps = []
    with pytest.raises(ServerError, match="cannot connect"):
        _client(f"http://127.0.0.1:{port}/v1", sleeps, max_retries=2).get("models")
    assert len(sleeps) == 2


def test_post_many_keeps_order_and_concurrency_bound(fake_server):
    srv = fake_server(lambda m, p, b: (200, {}, {"i": b["i"]}, 0.05))
    client = _client(srv.base_url, [], num_concurrent=3)
    answers = client.post_many("completions", [{"i": i} for i in range(12)])
    assert [a["i"] for a in answers] == list(range(12))
    assert 2 <= srv.max_in_flight <= 3
    client.close()


def test_api_key_comes_from_the_environment_as_bearer_header(fake_server, monkeypatch, tiny_model_dir):
    from code_unlearn_bench.models.openai import OpenAIBackend

    srv = fake_server(lambda m, p, b: (200, {}, {"object": "list", "data": [{"id": "m", "created": 1}]}, 0))
    monkeypatch.setenv("MY_KEY", "sk-secret-123")
    backend = OpenAIBackend("m", base_url=srv.base_url, api_key_env="MY_KEY", tokenizer=str(tiny_model_dir))
    assert srv.requests[0]["headers"]["Authorization"] == "Bearer sk-secret-123"
    assert "sk-secret" not in str(backend.info.to_json())
    # `created` changes on every vLLM restart: it is not part of the identity
    assert backend.info.server["model"] == {"id": "m"}
    with pytest.raises(CubError, match="does not serve model 'x'.*known: m"):
        OpenAIBackend("x", base_url=srv.base_url, tokenizer=str(tiny_model_dir))


# -- the log-likelihood probe -------------------------------------------------------------------
def _value(token_id):
    """The toy server's log-prob of a token: a function of the token alone."""
    return -(token_id % 97) / 50 - 0.01


def _completion(tok, prompt, body, shift=False, prompt_logprobs=True):
    """A toy server tokenising as ``tok`` does (a BOS-adding tokenizer's BOS is echoed first, as
    vllm serve does, and counted in text_offset). It generates " b" (or " np" after "as"); its
    echo is optionally shifted one position (llama-cpp-python's bug) or missing (llama.cpp's server)."""
    gen_id = tok(" np" if prompt.endswith("as") else " b", add_special_tokens=False)["input_ids"][0]
    gen = tok.decode([gen_id])
    if not body.get("echo"):
        return {"choices": [{"text": gen, "logprobs": {"tokens": [gen], "token_logprobs": [_value(gen_id)],
                                                       "text_offset": [len(prompt)]}}]}
    ids = tok(prompt, add_special_tokens=True)["input_ids"] + [gen_id]
    tokens = [tok.decode([i]) for i in ids]
    offsets = [sum(len(t) for t in tokens[:i]) for i in range(len(tokens))]
    values = [None] + [_value(i) for i in ids[1:]]
    if shift:
        values = [None] + [_value(i) - 5 for i in ids[2:]] + [-9.0]
    if not prompt_logprobs:
        values = [None] * len(tokens)
    if body.get("max_model_len") and len(ids) > body["max_model_len"]:
        raise AssertionError("longer than the context")
    return {"choices": [{"text": prompt + gen, "logprobs": {"tokens": tokens, "token_logprobs": values,
                                                             "text_offset": offsets}}]}


@pytest.fixture(scope="module")
def bos_tokenizer_dir(tmp_path_factory):
    """Byte-level BPE that adds <s> (Llama 3 / DeepSeek-Coder style; the SentencePiece style is
    tested against vllm serve in test_openai_vllm.py)."""
    from code_unlearn_bench.models.tiny_bos import make_bos_model_dir

    return make_bos_model_dir(tmp_path_factory.mktemp("bos_byte") / "model", style="byte", hidden=64, layers=1)


def _toy_server(fake_server, tok, kind="correct", max_model_len=None):
    def handler(m, p, b):
        if p.endswith("/models"):
            return 200, {}, {"data": [{"id": "m", **({"max_model_len": max_model_len} if max_model_len else {})}]}, 0
        if kind == "no_logprobs":
            return 200, {}, {"choices": [{"text": " b", "logprobs": None}]}, 0
        n = len(tok(b["prompt"], add_special_tokens=True)["input_ids"])
        if max_model_len and n + b["max_tokens"] > max_model_len:  # as vLLM refuses it
            return 400, {}, {"error": {"message": f"{n} prompt tokens + {b['max_tokens']} > {max_model_len}"}}, 0
        return 200, {}, _completion(tok, b["prompt"], b, shift=kind == "shifted",
                                    prompt_logprobs=kind != "no_prompt_logprobs"), 0

    return fake_server(handler)


def _expected(tok, context, continuation):
    """The toy server's log-probs of the continuation tokens, by token id."""
    whole = tok(context + continuation, add_special_tokens=False)["input_ids"]
    ctx = tok(context, add_special_tokens=False)["input_ids"]
    assert whole[:len(ctx)] == ctx
    return [_value(i) for i in whole[len(ctx):]]


@pytest.mark.parametrize("tokenizer", ["plain", "bos"])
@pytest.mark.parametrize("kind", ["correct", "shifted", "no_prompt_logprobs", "no_logprobs"])
def test_probe_accepts_a_correct_echo_and_refuses_broken_ones(kind, tokenizer, fake_server, tiny_model_dir,
                                                              bos_tokenizer_dir):
    from transformers import AutoTokenizer

    from code_unlearn_bench.models.openai import OpenAIBackend

    path = str(bos_tokenizer_dir if tokenizer == "bos" else tiny_model_dir)
    tok = AutoTokenizer.from_pretrained(path)
    srv = _toy_server(fake_server, tok, kind)
    backend = OpenAIBackend("m", base_url=srv.base_url, tokenizer=path)
    if kind == "correct":
        assert backend.check_loglikelihood().ok, backend.info.server["loglikelihood_probe"]
        pair = ("def add(a, b):", "\n    return a + b")
        [lp] = backend.loglikelihood([pair])
        assert lp == pytest.approx(_expected(tok, *pair)) and len(lp) >= 4
        if tokenizer == "bos":  # an empty context is scored after the BOS, as the hf backend does
            [lp] = backend.loglikelihood([("", "import os")])
            assert lp == pytest.approx(_expected(tok, "", "import os"))
        assert backend.info.server["loglikelihood_probe"]["ok"] is True
        return
    needle = {"shifted": "echoed log-probs are wrong.*#1983", "no_prompt_logprobs": "no prompt log-probs|all empty",
              "no_logprobs": "no log-probs for generated tokens"}[kind]
    with pytest.raises(CubError, match=f"cannot score log-likelihood tasks.*({needle})") as exc:
        backend.loglikelihood([("a", "b")])
    assert "\n" not in str(exc.value)
    assert backend.info.server["loglikelihood_probe"]["ok"] is False


def test_an_echo_from_another_tokenizer_is_refused(fake_server, tiny_model_dir, bos_tokenizer_dir):
    from transformers import AutoTokenizer

    from code_unlearn_bench.models.openai import OpenAIBackend

    srv = _toy_server(fake_server, AutoTokenizer.from_pretrained(str(bos_tokenizer_dir)))
    backend = OpenAIBackend("m", base_url=srv.base_url, tokenizer=str(tiny_model_dir))
    with pytest.raises(CubError, match="cannot score log-likelihood tasks.*is --tokenizer the served model's"):
        backend.check_loglikelihood()


@pytest.mark.parametrize("tokenizer", ["plain", "bos"])
def test_loglikelihood_longer_than_the_servers_context_is_windowed(tokenizer, fake_server, tiny_model_dir,
                                                                   bos_tokenizer_dir):
    from transformers import AutoTokenizer

    from code_unlearn_bench.models.openai import OpenAIBackend

    path = str(bos_tokenizer_dir if tokenizer == "bos" else tiny_model_dir)
    tok = AutoTokenizer.from_pretrained(path)
    srv = _toy_server(fake_server, tok, max_model_len=48)
    backend = OpenAIBackend("m", base_url=srv.base_url, tokenizer=path)
    context = "# a long module\n"
    document = "".join(f"value_{i} = compute({i}, {i} * 2)\n" for i in range(30))
    [lp] = backend.loglikelihood([(context, document)])
    expected = _expected(tok, context, document)
    assert len(expected) > 3 * 48  # several windows
    assert len(lp) == len(expected)  # every continuation token scored once, none twice
    # the toy's log-probs depend on the token only: equal wherever the window cuts re-tokenise alike
    assert sum(a == pytest.approx(b) for a, b in zip(lp, expected)) >= len(expected) - 3
    sent = [r["body"]["prompt"] for r in srv.requests if r["path"].endswith("/completions") and r["body"].get("echo")]
    assert len(sent) >= 4 and all(len(tok(p)["input_ids"]) + 1 <= 48 for p in sent)


def test_prompts_are_cut_to_the_context_the_server_reports(fake_server, tiny_model_dir):
    from code_unlearn_bench.models.base import GenerationSettings
    from code_unlearn_bench.models.openai import OpenAIBackend

    def handler(m, p, b):
        if p.endswith("/models"):  # vLLM reports max_model_len
            return 200, {}, {"data": [{"id": "m", "max_model_len": 40}]}, 0
        return 200, {}, {"choices": [{"text": "ok"}]}, 0

    srv = fake_server(handler)
    backend = OpenAIBackend("m", base_url=srv.base_url, tokenizer=str(tiny_model_dir))
    long = "".join(f"value_{i} = {i} * {i}\n" for i in range(40))
    short = "x = 1\n"
    assert backend.generate([long, short], GenerationSettings(max_new_tokens=8)) == ["ok", "ok"]
    sent = {r["body"]["prompt"] for r in srv.requests if r["path"].endswith("/completions")}
    assert short in sent
    [cut] = sent - {short}
    assert long.endswith(cut) and len(cut) < len(long)
    assert len(backend.tokenizer(cut, add_special_tokens=True)["input_ids"]) <= 40 - 8


def test_bad_server_options_give_one_line_errors(cub, tmp_path):
    base = ["evaluate", "--model", "m", "--output-dir", str(tmp_path / "o"), "--quiet"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    cases = [(["--backend", "openai"], "needs --base-url"),
             (["--backend", "hf", "--base-url", "http://x/v1"], "--base-url is for --backend openai"),
             (["--backend", "openai", "--base-url", "localhost:8000"], "must start with http"),
             (["--backend", "openai", "--base-url", dead, "--num-concurrent", "0"], "--num-concurrent must be"),
             (["--backend", "openai", "--base-url", dead, "--api-key-env", "CUB_NO_SUCH_VAR"], "is not set"),
             (["--backend", "openai", "--base-url", dead, "--max-retries", "0"], "cannot connect")]
    for extra, needle in cases:
        code, _, err = cub(*base, *extra)
        lines = [line for line in err.splitlines() if line.strip()]
        assert code == 2 and len(lines) == 1 and needle in lines[0], (extra, err)
