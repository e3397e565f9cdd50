"""The distributed helpers against fakes that record calls (FSDP / DeepSpeed need GPUs; the
DDP path itself runs for real in test_distributed.py), and the launcher's command line."""

import sys
from types import SimpleNamespace

import pytest
from accelerate.utils import DistributedType

from code_unlearn_bench.unlearn import distributed as dist


def test_step_plan_splits_a_global_step_over_ranks_and_pads_short_steps():
    micro = [[i] for i in range(7)]  # 7 examples, batch 1
    # global step = accum 2 x 2 ranks = 4 micro-batches; rank r takes r, r + 2
    assert dist.step_plan(micro, 0, 2, 0, 2) == ([[0], [2]], 4)
    assert dist.step_plan(micro, 0, 2, 1, 2) == ([[1], [3]], 4)
    # the short last step (3 examples): rank 1 runs a zero-weight filler to keep collectives in step
    assert dist.step_plan(micro, 4, 2, 0, 2) == ([[4], [6]], 3)
    assert dist.step_plan(micro, 4, 2, 1, 2) == ([[5], None], 3)
    # one process: the single-process loop's own groups
    assert dist.step_plan(micro, 4, 4, 0, 1) == ([[4], [5], [6]], 3)
    # DeepSpeed: every step has exactly accum micro-batches per rank
    assert dist.step_plan(micro, 4, 4, 0, 1, pad_to=4) == ([[4], [5], [6], None], 3)
    # the weights (share of the step x world) of all ranks average to the single-process mean
    for start in (0, 4):
        shares = [len(mb) * 2 / n for r in (0, 1) for mbs, n in [dist.step_plan(micro, start, 2, r, 2)]
                  for mb in mbs if mb]
        assert sum(shares) / 2 == pytest.approx(1.0)


def _acc(kind, **state):
    calls = []
    acc = SimpleNamespace(distributed_type=kind, num_processes=4, state=SimpleNamespace(**state), calls=calls,
                          no_sync=lambda model: calls.append(("no_sync", model)) or "NO_SYNC",
                          get_state_dict=lambda model: calls.append(("get_state_dict", model)) or model.state_dict(),
                          unwrap_model=lambda model: model, is_main_process=True)
    return acc


def test_strategy_names_from_accelerate_state():
    assert dist.strategy_name(_acc(DistributedType.MULTI_GPU)) == "ddp"
    fsdp = SimpleNamespace(cpu_offload=SimpleNamespace(offload_params=False))
    assert dist.strategy_name(_acc(DistributedType.FSDP, fsdp_plugin=fsdp)) == "fsdp"
    fsdp.cpu_offload.offload_params = True
    assert dist.strategy_name(_acc(DistributedType.FSDP, fsdp_plugin=fsdp)) == "fsdp-offload"
    ds = SimpleNamespace(deepspeed_config={"zero_optimization": {"stage": 3, "offload_optimizer": {"device": "cpu"}}})
    assert dist.strategy_name(_acc(DistributedType.DEEPSPEED, deepspeed_plugin=ds)) == "zero3-offload"
    ds.deepspeed_config = {"zero_optimization": {"stage": 2}}
    assert dist.strategy_name(_acc(DistributedType.DEEPSPEED, deepspeed_plugin=ds)) == "zero2"
    assert dist.uses_engine_accumulation(_acc(DistributedType.DEEPSPEED)) is True


def _tied_model():
    import torch

    model = torch.nn.Module()
    model.embed = torch.nn.Embedding(4, 2)
    model.head = torch.nn.Linear(2, 4, bias=False)
    model.head.weight = model.embed.weight  # tied, as an LM head with tie_word_embeddings
    model.register_buffer("norm", torch.ones(2))
    return model


def test_gradient_sync_and_state_gathering_per_engine():
    ddp = _acc(DistributedType.MULTI_CPU)
    assert dist.sync_context(ddp, "m", last=False) == "NO_SYNC"  # all-reduce once per step
    assert not isinstance(dist.sync_context(ddp, "m", last=True), str)
    fsdp = _acc(DistributedType.FSDP)
    assert not isinstance(dist.sync_context(fsdp, "m", last=False), str)  # no unsharded grads
    model = _tied_model()
    assert set(dist.full_state_dict(fsdp, model)) == {"embed.weight", "norm"}
    assert fsdp.calls == [("get_state_dict", model)]
    # ZeRO-2's state dict names a tied weight twice; the checkpoint keeps the name save_pretrained keeps
    assert set(dist.full_state_dict(_acc(DistributedType.DEEPSPEED), model)) == {"embed.weight", "norm"}
    assert dist.full_state_dict(ddp, model) is None  # the unwrapped model saves itself
    assert dist.is_sharded(_acc(DistributedType.DEEPSPEED)) and not dist.is_sharded(ddp)


def test_num_processes_relaunches_the_same_command_under_accelerate(cub, monkeypatch, tmp_path):
    import subprocess

    calls = []
    monkeypatch.setattr(subprocess, "call", lambda cmd: calls.append(cmd) or 0)
    config = "configs/accelerate/fsdp.yaml"
    code, _, _ = cub("unlearn", "--model", "m", "--method", "prod", "--output-dir", tmp_path / "o", "--lora",
                     "--num-processes", "4", "--accelerate-config", config)
    assert code == 0
    (cmd,) = calls
    assert cmd[:3] == [sys.executable, "-m", "accelerate.commands.launch"]
    assert cmd[cmd.index("--num_processes") + 1] == "4" and cmd[cmd.index("--config_file") + 1] == config
    forwarded = cmd[cmd.index("code_unlearn_bench") + 1:]
    assert forwarded[:2] == ["unlearn", "--model"] and "--lora" in forwarded
    assert "--num-processes" not in forwarded and "--accelerate-config" not in forwarded
    assert "--main_process_port" in cmd
    code, _, err = cub("unlearn", "--model", "m", "--method", "prod", "--output-dir", tmp_path / "o",
                       "--num-processes", "2", "--accelerate-config", tmp_path / "missing.yaml")
    assert code == 2 and "does not exist" in err


def test_shipped_accelerate_configs_parse():
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parents[2] / "configs" / "accelerate"
    kinds = {p.stem: yaml.safe_load(p.read_text())["distributed_type"] for p in root.glob("*.yaml")}
    assert kinds == {"ddp": "MULTI_GPU", "fsdp": "FSDP", "fsdp-offload": "FSDP", "zero2": "DEEPSPEED",
                     "zero3": "DEEPSPEED"}
    # --plan reads the strategy a config file will run
    assert {p.stem: dist.strategy_from_config_file(str(p)) for p in root.glob("*.yaml")} == {
        "ddp": "ddp", "fsdp": "fsdp", "fsdp-offload": "fsdp-offload", "zero2": "zero2", "zero3": "zero3"}


def test_every_rank_looks_for_the_frozen_state_before_any_writes_it(tmp_path):
    """A rank that found resume/prepared.pt freshly written by rank 0 skipped the barrier rank 0
    then waited in: 2-process GradDiff (no collective in its precompute) hung. The look is now
    behind a barrier on every path, a resume included."""
    from code_unlearn_bench.unlearn import checkpoint as ckpt
    from code_unlearn_bench.unlearn.model_setup import frozen_states

    calls = []
    acc = SimpleNamespace(wait_for_everyone=lambda: calls.append("barrier"), is_main_process=True)
    ckpt.save_torch_atomic({"states": [{"x": 1}]}, tmp_path / "resume" / "prepared.pt")
    assert frozen_states({}, tmp_path, 1, None, None, [], 0, acc, print) == [{"x": 1}]
    assert calls == ["barrier"]


def test_a_rank_descheduled_after_the_barrier_still_meets_the_second_one(tmp_path):
    """Rank 1 left the first barrier, was descheduled, and rank 0 wrote prepared.pt meanwhile:
    a look after the barrier found the file and skipped the second barrier (2-process GA under
    DeepSpeed hung so). The look now comes before the barrier."""
    from code_unlearn_bench.unlearn import checkpoint as ckpt
    from code_unlearn_bench.unlearn.methods import get_method
    from code_unlearn_bench.unlearn.model_setup import frozen_states

    calls = []

    def barrier():  # rank 0 writes the file as soon as every rank has arrived
        calls.append("barrier")
        ckpt.save_torch_atomic({"states": None}, tmp_path / "resume" / "prepared.pt")

    acc = SimpleNamespace(wait_for_everyone=barrier, is_main_process=False, process_index=1, num_processes=2)
    assert frozen_states({}, tmp_path, 0, get_method("ga")(), None, [], 0, acc, print) is None
    assert calls == ["barrier", "barrier"]
