"""Relearning attack (arXiv 2406.13356): a few steps of ordinary fine-tuning on a small related but
disjoint set, then the forget set is scored again. Forgetting that only hid the content comes
back; forgetting that removed it does not.

Fine-tuning is `cub learn`'s (the unlearn package's training loop with its plain NLL method), so
it resumes the same way; its run lives in ``D/relearn/train`` and the relearned checkpoint is
its last epoch. The relearning data must be in the forget task's own format (it is loaded by the
task's loader) and share no sample with the forget set.
"""

from __future__ import annotations

import dataclasses
import gc
from dataclasses import dataclass
from typing import Any

from code_unlearn_bench.attacks import engine, related_data
from code_unlearn_bench.errors import CubError


@dataclass
class RelearnSettings:
    data: str | None = None  # None: the task's built-in disjoint default
    n_default: int = 8  # files in the built-in default set
    epochs: int = 1
    lr: float = 5e-5
    grad_accum: int = 1
    max_length: int = 1024
    limit: int | None = None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _relearn_data(run_: engine.AttackRun, pt, settings: RelearnSettings) -> str:
    """The relearning source (given or built), checked disjoint from the whole forget set."""
    full_forget = pt.task.load_samples(pt.source, run_.config.options_for(pt.task.name))
    loader_options, _ = pt.task.split_options(run_.config.options_for(pt.task.name))
    if settings.data:
        source = settings.data
    else:
        source = related_data.write_default(pt.task.name, full_forget, settings.n_default,
                                            run_.root / "relearn" / "data.jsonl", "--relearn-data")
    relearn = pt.task.load_samples(source, loader_options, limit=settings.limit)
    related_data.check_disjoint(full_forget, relearn, "--relearn-data")
    return source


def run(run_: engine.AttackRun, settings: RelearnSettings) -> dict[str, Any]:
    from code_unlearn_bench.unlearn.finetune import FineTune
    from code_unlearn_bench.unlearn.trainer import TrainConfig, train

    if len(run_.prepared) != 1:
        raise CubError("the relearn attack fine-tunes on one task's data: give one --task")
    pt = run_.prepared[0]
    source = _relearn_data(run_, pt, settings)
    loader_options, _ = pt.task.split_options(run_.config.options_for(pt.task.name))

    before = run_.evaluate_setting("before", run_.handle(), run_.prepared)
    gc.collect()  # the original model is not needed any more (training loads its own copy)

    cfg = TrainConfig(model=run_.config.model, task=pt.task.name, output_dir=str(run_.root / "relearn" / "train"),
                      method="learn", epochs=settings.epochs, lr=settings.lr, grad_accum=settings.grad_accum,
                      batch_size=1, max_length=settings.max_length, seed=run_.config.seed,
                      device=run_.config.device, data=source, task_options=loader_options, limit=settings.limit)
    quiet = run_.ui is None or run_.ui.quiet
    trained = train(cfg, FineTune(), log=(lambda _msg: None) if quiet else run_.note)
    checkpoint = run_.root / "relearn" / "train" / trained["epochs"][-1]["checkpoint"]
    steps = sum(e["steps"] for e in trained["epochs"])
    run_.note(f"relearned for {steps} steps on {trained['data']['n_examples']} samples -> {checkpoint}")

    config = dataclasses.replace(run_.config, model=str(checkpoint))
    after = run_.evaluate_setting("relearned", run_.handle(config), run_.prepared, config)
    name = pt.task.name
    detail = {"relearned": {"checkpoint": str(checkpoint), "steps": steps, "data": source,
                            "data_hash": trained["data"]["hash"], "n_examples": trained["data"]["n_examples"],
                            "losses": [x for e in trained["epochs"] for x in e["losses"]]}}
    result = engine.combine(run_, name, {"before": before[name], "relearned": after[name]},
                            baseline="before", headline="relearned", extra=detail)
    return engine.write_results(run_, {name: result})
