"""`cub reproduce`: the paper's experiment end to end, resumable.

learn the forget set -> unlearn it with every method (a checkpoint per epoch) -> evaluate the original, the
learned model and every checkpoint on the forget task and utility -> rank with PDR (both readings) -> attack the
eligible checkpoints (prefix injection; membership inference with the model before learning as MUSE's
never-trained reference, i.e. PrivLeak) -> trade-off plots, a Table-1-shaped PDR table and a leaderboard site.
With a tracker (``--wandb``) every training epoch, evaluation, the PDR table and the trade-off plot are logged.

Every step is a library call on typed inputs (a TrainConfig, an EvalConfig, attack settings)
built from the preset, on a fixed directory layout, so a step can run in another process or on
another GPU. Each is resumable on its own (training resumes after the last saved epoch,
evaluation after the last saved sample), and a finished step leaves a marker in
``state.json``, so rerunning the same command continues where it stopped.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from code_unlearn_bench.config import EvalConfig
from code_unlearn_bench.errors import CubError
from code_unlearn_bench.jsonio import atomic_write_text, dump_json
from code_unlearn_bench.reproduce.presets import Preset

if TYPE_CHECKING:
    from code_unlearn_bench.attacks.eligibility import EligibilityInputs
    from code_unlearn_bench.unlearn.method import Method
    from code_unlearn_bench.config import TrainConfig


def _fields(d: dict[str, Any]) -> dict[str, Any]:
    """Preset keys as config field names (the presets spell them as the CLI flags)."""
    return {k.replace("-", "_"): v for k, v in d.items()}


@dataclass(frozen=True)
class ForgetTask:
    """The forget task as every step sees it: one spelling for learn, unlearn, evaluate, attack."""

    name: str
    data: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    limit: int | None = None  # samples trained on
    eval_limit: int | None = None  # evaluation prefix holding every trained sample (unlearn.data.evaluation_limit)


# -- steps: functions of typed inputs (each may run in a process of its own) -------------------
def train_step(config: "TrainConfig", method: "Method", on_epoch: Callable[[dict], None] | None = None) -> list[str]:
    """`cub learn` / `cub unlearn`: the checkpoint dirs, one per epoch."""
    from code_unlearn_bench.unlearn.trainer import train

    train(config, method, on_epoch=on_epoch)
    return [str(p) for p in sorted(Path(config.output_dir).glob("epoch-*"))]


def unlearn_step(config: "TrainConfig", method: str, flags: dict[str, Any]) -> list[str]:
    """`cub unlearn` of one method by name (picklable: a child process builds the method itself)."""
    from code_unlearn_bench.unlearn.methods import get_method

    return train_step(config, get_method(method)(**flags))


def evaluate_step(config: EvalConfig) -> str:
    """`cub evaluate`: the run dir."""
    from code_unlearn_bench.evaluation.run import evaluate
    from code_unlearn_bench.ui import UI

    ui = UI(quiet=config.quiet)
    try:
        evaluate(config, ui=ui)
    finally:
        ui.close()
    return config.output_dir


def attack_step(attack: str, config: EvalConfig, settings: Any, eligibility: "EligibilityInputs") -> dict:
    """`cub attack <attack>`: its results (or the recorded skip of an ineligible checkpoint)."""
    from code_unlearn_bench.attacks.attack_run import run_attack
    from code_unlearn_bench.ui import UI

    ui = UI(quiet=config.quiet)
    try:
        return run_attack(attack, settings, config, eligibility, ui=ui)
    finally:
        ui.close()


_RELEASED_NOTE = ("The weights of this checkpoint were deleted by `cub reproduce` once every unlearning run had started "
                  "from it and it had been evaluated (rerun with --keep-learn-checkpoint to keep them). Its config, "
                  "tokenizer and cub_checkpoint.json remain.\n")


def release_weights(out: Path) -> dict[str, Any]:
    """Delete the weight files of every epoch under ``out`` (and any resume state), keeping the
    metadata and a note: the learned model of a 7B run is ~13-27 GB that nothing reads again."""
    import shutil

    freed = 0
    for epoch in sorted(out.glob("epoch-*")):
        for f in [*epoch.glob("*.safetensors"), *epoch.glob("*.bin"), *epoch.glob("*.safetensors.index.json")]:
            freed += f.stat().st_size
            f.unlink()
        atomic_write_text(epoch / "WEIGHTS_DELETED.md", _RELEASED_NOTE)
    if (out / "resume").is_dir():
        freed += sum(f.stat().st_size for f in (out / "resume").rglob("*") if f.is_file())
        shutil.rmtree(out / "resume")
    return {"freed_bytes": freed}


class Pipeline:
    def __init__(self, preset: Preset, work_dir: str | Path, log: Callable[[str], None] = print,
                 quiet: bool = True, tracker=None, gpus: tuple[str, ...] | None = None,
                 keep_learned: bool = False, spread=None, holdout: str | None = None):
        from code_unlearn_bench.tracking import NoTracker

        self.holdout = holdout  # the MIA's holdout data (--holdout-data); not part of the preset

        self.keep_learned = keep_learned  # not part of the preset: a resume may change it
        self.tracker = tracker or NoTracker()
        self.p = preset
        self.gpus = gpus
        self.spread = spread  # unlearn.spread.Spread: each training run across N processes (GPUs)
        self.root = Path(work_dir).expanduser()
        self.log = log
        self.quiet = quiet
        self.state_path = self.root / "state.json"
        self.state: dict[str, Any] = {}

    # -- bookkeeping ---------------------------------------------------------------------------
    def _load_state(self) -> None:
        if self.state_path.exists():
            self.state = json.loads(self.state_path.read_text())
            if self.state.get("preset") != self._preset_json():
                raise CubError(f"'{self.root}' holds a reproduce run of another preset/settings; "
                               f"use another --output-dir")
        else:
            self.state = {"preset": self._preset_json(), "done": {}, "timings": {}}

    def _preset_json(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self.p)))  # tuples -> lists, as stored in state.json

    def _save_state(self) -> None:
        atomic_write_text(self.state_path, dump_json(self.state))

    def _step(self, key: str, fn: Callable[[], Any]) -> Any:
        if key in self.state["done"]:
            return self.state["done"][key]
        self.log(f"[reproduce] {key} ...")
        t0 = time.perf_counter()
        value = fn()
        self.state["done"][key] = value if value is not None else True
        self.state["timings"][key] = round(time.perf_counter() - t0, 1)
        self._save_state()
        return self.state["done"][key]

    # -- steps ---------------------------------------------------------------------------------
    def base_model(self) -> str:
        if self.p.model != "tiny":
            return self.p.model
        from code_unlearn_bench.models import tiny

        path = self.root / "base"
        if not (path / "config.json").exists():
            # a from-scratch model that has seen general stdlib code but not the forget files
            tiny.make_tiny_model_dir(path, hidden=96, layers=3, memorise=tiny.stdlib_texts(max_files=12, max_chars=400),
                                     steps=120)
        return str(path)

    @cached_property
    def forget(self) -> ForgetTask:
        from code_unlearn_bench.unlearn.data import evaluation_limit

        p = self.p
        return ForgetTask(p.forget_task, p.forget_data, dict(p.forget_options), p.forget_limit,
                          evaluation_limit(p.forget_task, p.forget_data, p.forget_options, p.forget_limit))

    def train_config(self, model: str, out: Path, method: str, settings: dict[str, Any]) -> "TrainConfig":
        from code_unlearn_bench.config import TrainConfig

        f = self.forget
        return TrainConfig(model=model, task=f.name, output_dir=str(out), method=method, data=f.data,
                           task_options=dict(f.options), limit=f.limit, **_fields(settings))

    def learn(self, base: str) -> str:
        from code_unlearn_bench.unlearn.finetune import FineTune

        method = FineTune()
        out = self.root / "learned"
        self._train(self.train_config(base, out, method.name, self.p.learn), method, {}, "learn")
        return str(self._last_epoch(out))

    @staticmethod
    def _last_epoch(out: Path) -> Path:
        epochs = sorted(out.glob("epoch-*"))
        if not epochs:
            raise CubError(f"no checkpoint was saved in {out}")
        return epochs[-1]

    def unlearn(self, method: str, learned: str) -> list[str]:
        from code_unlearn_bench.unlearn.methods import get_method

        flags = self.p.method_flags.get(method, {})
        m = get_method(method)(**flags)
        return self._train(self.train_config(learned, self.root / "unlearn" / method, m.name,
                                             self.p.unlearn_settings(method)), m, flags, method)

    def _train(self, config: "TrainConfig", method, flags: dict[str, Any], name: str) -> list[str]:
        """In this process, or across the GPUs under `accelerate launch` (--num-processes)."""
        if self.spread is None:
            return train_step(config, method, self._epoch_logger(name))
        from code_unlearn_bench.unlearn.spread import run_spread

        checkpoints = run_spread(config, name, dict(flags), self.spread, self.gpus)
        for entry in json.loads((Path(config.output_dir) / "run.json").read_text())["epochs"]:
            self._epoch_logger(name)(entry)
        return checkpoints

    def _unlearn_in_children(self, learned: str) -> None:
        """The methods' unlearning runs not done yet, each in a child process pinned to one of the
        GPUs: independent runs from the same learned model, side by side."""
        from code_unlearn_bench.reproduce.parallel import fan_out
        from code_unlearn_bench.unlearn.methods import get_method

        jobs = []
        for method in self.p.methods:
            if f"unlearn/{method}" not in self.state["done"]:
                flags = dict(self.p.method_flags.get(method, {}))
                name = get_method(method)(**flags).name
                config = self.train_config(learned, self.root / "unlearn" / method, name, self.p.unlearn_settings(method))
                jobs.append((f"unlearn/{method}", unlearn_step, (config, method, flags)))
        fan_out(jobs, self.gpus, self._child_done)

    def _epoch_logger(self, name: str) -> Callable[[dict], None]:
        return lambda entry: self.tracker.log_epoch(entry, prefix=f"{name}/")

    def eval_config(self, model: str, out: Path) -> EvalConfig:
        f = self.forget
        tasks = [f.name, *self.p.utility_tasks]
        options = {t: dict(o) for t, o in self.p.utility_options.items()}
        if f.options:
            options[f.name] = dict(f.options)
        limits = {t: self.p.utility_limit for t in self.p.utility_tasks} if self.p.utility_limit else {}
        if f.eval_limit:
            limits[f.name] = f.eval_limit
        return EvalConfig.from_dict({
            "model": model, "tasks": tasks, "output_dir": str(out), "data": {f.name: f.data} if f.data else {},
            "task_options": options, "task_limits": limits, "allow_code_execution": self.p.allow_code_execution,
            "quiet": self.quiet, **_fields(self.p.eval_flags)})

    def evaluate(self, model: str, name: str, group: str = "eval") -> str:
        out = evaluate_step(self.eval_config(model, self.root / group / name))
        self.tracker.log_results(json.loads((Path(out) / "results.json").read_text()), prefix=f"{name}/")
        self.tracker.log_generations(out, prefix=f"{name}/")
        return out

    def run(self) -> dict[str, Any]:
        self.root.mkdir(parents=True, exist_ok=True)
        self._load_state()
        base = self._step("base_model", self.base_model)
        learned = base if self.p.skip_learn else self._step("learn", lambda: self.learn(base))
        if self.gpus and self.spread is None:  # else each run already spans the GPUs
            self._unlearn_in_children(learned)
        checkpoints = {m: self._step(f"unlearn/{m}", lambda m=m: self.unlearn(m, learned)) for m in self.p.methods}
        evals = [("evaluate/original", base, "original", "eval-base"), ("evaluate/learned", learned, "learned", "eval")]
        evals += [(f"evaluate/{m}-{Path(ck).name}", ck, f"{m}-{Path(ck).name}", "eval")
                  for m, ckpts in checkpoints.items() for ck in ckpts]
        if self.p.isolate_evaluations or self.gpus:
            self._evaluate_in_children(evals)
        for key, model, name, group in evals:
            self._step(key, lambda model=model, name=name, group=group: self.evaluate(model, name, group=group))
        if not (self.p.skip_learn or self.keep_learned):
            # every unlearning run started from it and it is evaluated: nothing reads it again
            self._step("release/learned", lambda: release_weights(self.root / "learned"))
        self._step("attack", lambda: self.attack(checkpoints, base))
        ranking = self._step("rank", self.rank)
        self._step("leaderboard", self.leaderboard)
        report = self._step("report", lambda: self.report(ranking))
        return {"report": report, "timings": self.state["timings"]}

    def _evaluate_in_children(self, evals: list[tuple[str, str, str, str]]) -> None:
        """Evaluations not done yet, each in a fresh child process, side by side over the GPUs."""
        from code_unlearn_bench.reproduce.parallel import fan_out

        jobs = [(key, evaluate_step, (self.eval_config(model, self.root / group / name),))
                for key, model, name, group in evals if key not in self.state["done"]]
        fan_out(jobs, self.gpus, self._child_done)

    def _child_done(self, key: str, value: Any) -> None:
        """A step finished in a child process: mark it (and log a training run's epochs)."""
        self.log(f"[reproduce] {key} done")
        if key.startswith("unlearn/") and value:
            run = json.loads((Path(value[0]).parent / "run.json").read_text())
            for entry in run["epochs"]:
                self._epoch_logger(key.split("/", 1)[1])(entry)
        self.state["done"][key] = value
        self._save_state()

    def rank(self) -> dict[str, Any]:
        """PDR tables and the trade-off plot, with the attacks' robustness columns."""
        from code_unlearn_bench.ranking.report import write_outputs
        from code_unlearn_bench.ranking.runs import load_attack_runs, load_runs
        from code_unlearn_bench.ranking.robustness import attach_all
        from code_unlearn_bench.ranking.tradeoff import rank_runs

        runs = load_runs([self.root / "eval"])
        utility = self.p.utility_tasks[0]
        rankings = [rank_runs(runs, self.p.forget_task, utility, group_by="method",
                              original=str(self.root / "eval" / "learned"))]
        if (self.root / "attack").is_dir():
            rankings = attach_all(rankings, runs, load_attack_runs([self.root / "attack"]))
        write_outputs(rankings, self.root / "rank")
        for plot in sorted((self.root / "rank").glob("tradeoff-*.png")):
            self.tracker.log_image(f"rank/{plot.stem}", plot)
        self.tracker.log_summary({f"pdr_pooled/{r['group']}": r["pdr_pooled"] for r in rankings[0].to_dict()["methods"]})
        return {**rankings[0].to_dict(), "bootstrap": self._bootstrap(rankings[0].to_dict(), runs)}

    @staticmethod
    def _bootstrap(ranking: dict[str, Any], runs: list) -> dict[str, Any]:
        """The pooled PDRs' paired-bootstrap intervals and P(first) (ranking/uncertainty.py)."""
        from code_unlearn_bench.ranking.uncertainty import bootstrap_pdr

        try:
            return bootstrap_pdr(ranking, runs)
        except CubError as e:
            return {"error": str(e)}

    def attack_config(self, checkpoint: str, out: Path) -> EvalConfig:
        f = self.forget
        generation = {k: v for k, v in _fields(self.p.eval_flags).items() if k == "max_new_tokens"}
        return EvalConfig.from_dict({
            "model": checkpoint, "tasks": [f.name], "output_dir": str(out), "data": {f.name: f.data} if f.data else {},
            "task_options": {f.name: dict(f.options)} if f.options else {}, "limit": f.eval_limit, "quiet": self.quiet,
            **generation})

    def attack(self, checkpoints: dict[str, list[str]], base: str) -> dict[str, Any]:
        """Prefix injection and membership inference on the checkpoints that keep enough utility
        (the paper: >= 60% of the original HumanEval score); the attacks check eligibility and
        record skips. The model before `cub learn` never saw the forget set: it is MUSE's retain
        (retrained) model, so the MIA reports PrivLeak against it."""
        from code_unlearn_bench.attacks.eligibility import EligibilityInputs
        from code_unlearn_bench.attacks.mia import MiaSettings
        from code_unlearn_bench.attacks.prefix import PrefixSettings

        summary: dict[str, Any] = {}
        for method, ckpts in checkpoints.items():
            chosen = ckpts[-1:] if self.p.attack_last_epoch_only else ckpts
            for ck in chosen:
                name = f"{method}-{Path(ck).name}"
                eligibility = EligibilityInputs(str(self.root / "eval" / "learned"), str(self.root / "eval" / name),
                                                self.p.attack_utility_share, self.p.utility_tasks[0])
                results = attack_step("prefix", self.attack_config(ck, self.root / "attack" / name),
                                      PrefixSettings(tuple(self.p.attack_k)), eligibility)
                mia = self._mia(name, ck, MiaSettings(holdout=self.holdout, retain_model=base), eligibility)
                res = results["tasks"][self.p.forget_task]
                if res.get("status") != "completed":
                    summary[name] = {"skipped": res.get("reason", "")}
                else:
                    metrics = {**res["metrics"], **mia["tasks"][self.p.forget_task].get("metrics", {})}
                    summary[name] = {k: v["value"] for k, v in metrics.items()
                                     if k.startswith(("forget_quality@", "effect_of_attack@", "privleak@min_k"))}
        return summary

    def _mia(self, name: str, checkpoint: str, settings, eligibility) -> dict[str, Any]:
        """The MIA of one checkpoint; a forget set with no holdout to compare it with (all of
        --data learned, no --holdout-data) skips the MIA with its reason instead of failing the
        pipeline after training (MUSE needs a holdout from the forget set's distribution)."""
        from code_unlearn_bench.attacks.mia import holdout_problem

        problem = holdout_problem(self.attack_config(checkpoint, self.root / "attack" / f"{name}-mia"), settings)
        if problem:
            self.log(f"[reproduce] mia skipped for {name}: {problem}")
            return {"tasks": {self.p.forget_task: {"status": "skipped", "reason": problem}}}
        return attack_step("mia", self.attack_config(checkpoint, self.root / "attack" / f"{name}-mia"), settings,
                           eligibility)

    def leaderboard(self) -> str:
        """A local site of this experiment. Its runs use subsets (--task-limit), which public
        submissions refuse, so they are normalised into the site's folder without that check (and,
        made here, without re-scoring: the site is built with require_verified=False)."""
        from code_unlearn_bench.leaderboard.build import build_site
        from code_unlearn_bench.leaderboard.submit import collect_unchecked

        def runs(kind: str) -> list[Path]:
            folder = self.root / kind
            return [d for d in sorted(folder.iterdir()) if (d / "results.json").exists()] if folder.exists() else []

        subs = collect_unchecked(runs("eval"), runs("attack"), self.root / "leaderboard" / "submissions")
        build_site(subs, self.root / "site", utility=self.p.utility_tasks[0],
                   title=f"cub reproduce --preset {self.p.name}", require_verified=False)
        return str(self.root / "site" / "index.html")

    def report(self, ranking: dict[str, Any]) -> str:
        from code_unlearn_bench.reproduce.summary import write_report

        return str(write_report(self.root, self.p, ranking, self.state))
