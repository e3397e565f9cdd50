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

from code_unlearn_bench.attacks import related_data
from code_unlearn_bench.attacks.attack_run import Attack, AttackRun, combine, write_results
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

    def checked(self, config) -> "RelearnSettings":
        for flag, value in (("files", self.n_default), ("epochs", self.epochs), ("grad-accum", self.grad_accum),
                            ("max-length", self.max_length)):
            if value < 1:
                raise CubError(f"--relearn-{flag} must be >= 1")
        if self.limit is not None and self.limit < 1:
            raise CubError("--relearn-limit must be >= 1")
        if not self.lr > 0:
            raise CubError("--relearn-lr must be > 0")
        return self

    def parameters(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _relearn_data(run_: AttackRun, pt, settings: RelearnSettings) -> str:
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


class RelearnAttack(Attack):
    name = "relearn"
    help = "relearning: a few fine-tuning steps on related, disjoint data, then re-scored"
    Settings = RelearnSettings

    @classmethod
    def add_arguments(cls, p) -> None:
        p.add_argument("--relearn-data", help="related data disjoint from the forget set, in the task's format "
                                              "(copyright default: standard-library files not in the forget set)")
        p.add_argument("--relearn-files", type=int, default=8, help="size of the default relearning set (default 8)")
        p.add_argument("--relearn-limit", type=int, help="use the first N relearning samples")
        p.add_argument("--relearn-epochs", type=int, default=1, help="passes over the relearning data (default 1)")
        p.add_argument("--relearn-lr", type=float, default=5e-5, help="AdamW learning rate (default 5e-5)")
        p.add_argument("--relearn-grad-accum", type=int, default=1, help="samples per step (default 1)")
        p.add_argument("--relearn-max-length", type=int, default=1024, help="tokens per sample (default 1024)")

    @classmethod
    def settings_from_args(cls, args) -> RelearnSettings:
        return RelearnSettings(data=args.relearn_data, n_default=args.relearn_files, epochs=args.relearn_epochs,
                               lr=args.relearn_lr, grad_accum=args.relearn_grad_accum,
                               max_length=args.relearn_max_length, limit=args.relearn_limit)

    @classmethod
    def run(cls, run_: AttackRun, settings: RelearnSettings) -> dict[str, Any]:
        from code_unlearn_bench.unlearn.finetune import FineTune
        from code_unlearn_bench.config import TrainConfig
        from code_unlearn_bench.unlearn.trainer import train

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
        result = combine(run_, name, {"before": before[name], "relearned": after[name]},
                         baseline="before", headline="relearned", extra=detail)
        return write_results(run_, {name: result})


ATTACK = RelearnAttack
