"""`cub evaluate --threads`: the default leaves a core free and takes none the load shows busy
(two torch threads beside a busy core were 7x slower than one: NOTES.md, "threads"); the number
used is applied to torch and recorded in the run's sessions."""

import json
import os

import pytest

from code_unlearn_bench.evaluation import threads
from code_unlearn_bench.evaluation.threads import default_threads


@pytest.mark.parametrize("n_cores,load,expected", [(2, 0.0, 1), (2, 1.0, 1), (1, 0.0, 1), (8, 0.0, 7), (8, 3.4, 5),
                                                   (8, 2.6, 5), (8, 30.0, 1)])
def test_default_leaves_a_core_and_skips_busy_ones(n_cores, load, expected):
    assert default_threads(n_cores, load) == expected


def test_threads_are_applied_and_recorded_per_session(cub, tiny_model_dir, tmp_path, monkeypatch):
    import torch

    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # restored afterwards (conftest's setting)
    out = tmp_path / "run"
    args = ("evaluate", "--model", tiny_model_dir, "--tasks", "copyright", "--limit", "1", "--max-new-tokens", "2",
            "--output-dir", out, "--quiet")
    try:
        assert cub(*args, "--threads", "2")[0] == 0
        assert torch.get_num_threads() == 2 and os.environ["OMP_NUM_THREADS"] == "2"
        monkeypatch.delenv("OMP_NUM_THREADS")  # no setting anywhere: the default decides
        monkeypatch.setattr(threads, "cores", lambda: 6)
        monkeypatch.setattr(os, "getloadavg", lambda: (2.2, 0.0, 0.0))
        assert cub(*args)[0] == 0
        assert torch.get_num_threads() == 4
    finally:
        torch.set_num_threads(1)
    assert [s["threads"] for s in json.loads((out / "results.json").read_text())["sessions"]] == [2, 4]
    code, _, err = cub(*args, "--threads", "0")
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and "--threads must be >= 1" in lines[0], err
