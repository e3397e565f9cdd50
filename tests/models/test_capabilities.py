"""The run path asks a backend what it can do (models.base.Capabilities), never its name: a plug-in
backend named as module:Class is driven by its declared capabilities alone."""

import json
import os
import textwrap

import pytest

from code_unlearn_bench.config import EvalConfig
from code_unlearn_bench.errors import CubError
from code_unlearn_bench.models.selection import capabilities, check_backend_options

ECHO = textwrap.dedent('''
    import os
    from code_unlearn_bench.models.base import Backend, Capabilities
    from code_unlearn_bench.models.loading import as_resolved, load_tokenizer, model_info


    class _Echo(Backend):
        name = "echo"

        def __init__(self, model, info=None, **options):
            resolved = as_resolved(model)
            super().__init__(info or model_info(resolved), load_tokenizer(resolved))

        def generate(self, prompts, settings, batch_size=8, seeds=None):
            return [f"pid {os.getpid()}" for _ in prompts]   # which process generated


    class InProcess(_Echo):
        capabilities = Capabilities()


    class ChildProcess(_Echo):
        capabilities = Capabilities(child_process=True)


    class Served(_Echo):
        capabilities = Capabilities(served=True, data_parallel=False)
''')


@pytest.fixture
def echo_module(tmp_path, monkeypatch):
    (tmp_path / "cub_echo_backend.py").write_text(ECHO)
    monkeypatch.syspath_prepend(str(tmp_path))
    # replica child processes import the plug-in too
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])))
    return "cub_echo_backend"


def _completions(run_dir):
    lines = (run_dir / "generations" / "copyright.jsonl").read_text().splitlines()
    return {json.loads(line)["completion"] for line in lines}


@pytest.mark.parametrize("cls, in_child", [("InProcess", False), ("ChildProcess", True)])
def test_child_process_capability_decides_where_generation_runs(cub, tmp_path, tiny_model_dir, echo_module,
                                                                cls, in_child):
    out = tmp_path / cls
    code, _, err = cub("evaluate", "--model", tiny_model_dir, "--backend", f"{echo_module}:{cls}", "--tasks",
                       "copyright", "--limit", "2", "--output-dir", out, "--quiet")
    assert code == 0, err
    pids = {int(c.split()[1]) for c in _completions(out)}
    assert len(pids) == 1
    assert (pids != {os.getpid()}) is in_child


def test_served_capability_needs_a_base_url_and_refuses_replicas(echo_module):
    served = f"{echo_module}:Served"
    assert capabilities(served).served and not capabilities("hf").served
    with pytest.raises(CubError, match=f"--backend {served} needs --base-url"):
        check_backend_options(EvalConfig(model="m", backend=served))
    with pytest.raises(CubError, match="--base-url is for --backend openai"):
        check_backend_options(EvalConfig(model="m", backend=f"{echo_module}:InProcess", base_url="http://x/v1"))
    with pytest.raises(CubError, match="a served model scales on the server"):
        check_backend_options(EvalConfig(model="m", backend=served, base_url="http://x/v1", data_parallel_size=2))
    assert check_backend_options(EvalConfig(model="m", backend=served, base_url="http://x/v1")) == served


def test_built_in_backends_declare_what_they_can_do():
    hf, vllm, openai = capabilities("hf"), capabilities("vllm"), capabilities("openai")
    assert hf.weights_in_process and not vllm.weights_in_process and not openai.weights_in_process
    assert vllm.child_process and vllm.lora_adapters and not hf.child_process
    assert openai.served and not openai.data_parallel
