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
def _completion(prompt, body, shift=False, prompt_logprobs=True):
    """A toy server whose 'model' gives token t the log-prob -len(t)/10; echo optionally shifted
    one position (llama-cpp-python's bug) or missing (llama.cpp's server)."""
    def toks(text):
        import re
        return re.findall(r"\s*\w+|\s*[^\w\s]+|\s+", text)

    gen = " np" if prompt.endswith("as") else " b"
    if not body.get("echo"):
        return {"choices": [{"text": gen, "logprobs": {"tokens": [gen], "token_logprobs": [-len(gen) / 10],
                                                       "text_offset": [len(prompt)]}}]}
    tokens = toks(prompt)
    offsets = [sum(len(t) for t in tokens[:i]) for i in range(len(tokens))]
    values = [None] + [-len(t) / 10 for t in tokens[1:]]
    if shift:
        values = [None] + [-len(t) / 10 - 5 for t in tokens[2:]] + [-9.0]
    if not prompt_logprobs:
        values = [None] * len(tokens)
    return {"choices": [{"text": prompt + gen, "logprobs": {"tokens": tokens, "token_logprobs": values,
                                                             "text_offset": offsets}}]}


@pytest.mark.parametrize("kind", ["correct", "shifted", "no_prompt_logprobs", "no_logprobs"])
def test_probe_accepts_a_correct_echo_and_refuses_broken_ones(kind, fake_server, tiny_model_dir):
    from code_unlearn_bench.models.openai import OpenAIBackend

    def handler(m, p, b):
        if p.endswith("/models"):
            return 200, {}, {"data": [{"id": "m"}]}, 0
        if kind == "no_logprobs":
            return 200, {}, {"choices": [{"text": " b", "logprobs": None}]}, 0
        return 200, {}, _completion(b["prompt"], b, shift=kind == "shifted",
                                    prompt_logprobs=kind != "no_prompt_logprobs"), 0

    srv = fake_server(handler)
    backend = OpenAIBackend("m", base_url=srv.base_url, tokenizer=str(tiny_model_dir))
    if kind == "correct":
        assert backend.check_loglikelihood().ok
        [lp] = backend.loglikelihood([("def add(a, b):", "\n    return a + b")])
        # continuation tokens: "\n    return", " a", " +", " b" (each -len/10)
        assert lp == pytest.approx([-1.1, -0.2, -0.2, -0.2])
        assert backend.info.server["loglikelihood_probe"]["ok"] is True
        return
    needle = {"shifted": "echoed log-probs are wrong.*#1983", "no_prompt_logprobs": "no prompt log-probs|all empty",
              "no_logprobs": "no log-probs for generated tokens"}[kind]
    with pytest.raises(CubError, match=f"cannot score log-likelihood tasks.*({needle})") as exc:
        backend.loglikelihood([("a", "b")])
    assert "\n" not in str(exc.value)
    assert backend.info.server["loglikelihood_probe"]["ok"] is False


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
