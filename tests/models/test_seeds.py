"""Per-sample seeds: sampled copies of a prompt differ, reruns (and rebatching) reproduce them."""

import json

import pytest

from code_unlearn_bench.models.base import GenerationSettings
from code_unlearn_bench.models.seeds import sample_seed


def test_sample_seed_is_stable_and_distinct():
    assert sample_seed(1234, "a", 0) == sample_seed(1234, "a", 0)
    seeds = {sample_seed(s, i, j) for s in (1, 2) for i in ("a", "b") for j in range(5)}
    assert len(seeds) == 20 and all(0 <= x < 2 ** 31 for x in seeds)


@pytest.fixture(scope="module")
def backend(tiny_model_dir):
    from code_unlearn_bench.models.hf import HFBackend

    return HFBackend(str(tiny_model_dir), device="cpu")


def test_hf_defaults_to_float32_on_cpu(backend):
    import torch

    assert backend.dtype == "float32" and next(backend.model.parameters()).dtype == torch.float32


def test_hf_sampled_copies_differ_and_rerun_reproduces(backend):
    settings = GenerationSettings(max_new_tokens=12, temperature=0.8)
    seeds = [sample_seed(1234, "s0", j) for j in range(5)]
    first = backend.generate(["def parse(line):"] * 5, settings, seeds=seeds)
    assert len(set(first)) > 1
    assert backend.generate(["def parse(line):"] * 5, settings, seeds=seeds) == first
    # batch composition does not matter: the same seeds in other batches with other neighbours
    mixed = backend.generate(["import os\n"] + ["def parse(line):"] * 5, settings, batch_size=4,
                             seeds=[7] + seeds)
    assert mixed[1:] == first
    # greedy ignores seeds
    greedy = GenerationSettings(max_new_tokens=8)
    assert backend.generate(["x = "], greedy, seeds=[1]) == backend.generate(["x = "], greedy, seeds=[2])


def test_pass_at_k_run_reproduces_across_runs_and_batch_sizes(cub, tiny_model_dir, tiny_memorised, tmp_path):
    runs = []
    for name, batch in (("a", "8"), ("b", "3")):
        code, _, err = cub("evaluate", "--model", tiny_model_dir, "--data", tiny_memorised.all_jsonl,
                           "--num-samples", "5", "--temperature", "0.8", "--max-new-tokens", "6",
                           "--batch-size", batch, "--output-dir", tmp_path / name, "--quiet", "--backend", "hf")
        assert code == 0, err
        lines = (tmp_path / name / "generations" / "copyright.jsonl").read_text().splitlines()
        runs.append({r["id"]: r["completions"] for r in map(json.loads, lines)})
    assert runs[0] == runs[1]
    assert all(len(set(c)) > 1 for c in runs[0].values())
