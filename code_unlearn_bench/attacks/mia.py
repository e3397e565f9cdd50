"""Membership inference (MUSE's privacy leakage): can the checkpoint's likelihoods still tell the
forget set (members) from never-seen holdout samples of the same kind? AUC 0.5: no; 1.0: every
forget sample is recognisable.

Each sample is scored on the text the model was trained to forget, as the unlearn package pairs it
(copyright: the whole file, no prompt; other tasks: the reference given the prompt), with the
backend's log-likelihood call. The log-probs are saved per sample in
``D/settings/mia/generations/<task>.jsonl`` (resumable) with the Min-K%, zlib and loss scores.

MUSE reports PrivLeak = (AUC - AUC_retrain) / AUC_retrain against a model retrained without the
forget set; without one, read the AUC against 0.5.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from code_unlearn_bench.attacks import mia_scores, related_data
from code_unlearn_bench.attacks.attack_run import Attack, AttackRun, write_results
from code_unlearn_bench.errors import CubError
from code_unlearn_bench.results import task_header
from code_unlearn_bench.run_path import generate_tasks
from code_unlearn_bench.samples import Sample, data_hash
from code_unlearn_bench.store import RunStore

SETTING = "mia"
_GROUPS = ("forget", "holdout")


@dataclass
class MiaSettings:
    holdout: str | None = None  # None: the task's built-in disjoint default
    k: float = 0.2  # Min-K%: the share of least likely tokens

    def checked(self, config=None) -> "MiaSettings":
        if not 0 < self.k <= 1:
            raise CubError(f"--min-k must be in (0, 1], got {self.k}")
        return self

    def parameters(self) -> dict[str, Any]:
        return {"holdout": self.holdout, "min_k": self.k}


def scored_pair(task_name: str, sample: Sample, group: str) -> Sample:
    """The (context, text) the model was trained on, as a log-likelihood sample."""
    from code_unlearn_bench.unlearn.data import to_pair

    pair = to_pair(task_name, sample)
    return Sample(f"{group}/{sample.id}", pair.prompt, pair.answer, {"group": group, "sample_id": sample.id})


def _holdout(run_: AttackRun, pt, settings: MiaSettings) -> tuple[list[Sample], str]:
    full_forget = pt.task.load_samples(pt.source, run_.config.options_for(pt.task.name))
    loader_options, _ = pt.task.split_options(run_.config.options_for(pt.task.name))
    source = settings.holdout or related_data.write_default(
        pt.task.name, full_forget, len(pt.samples), run_.root / "mia" / f"{pt.task.name}-holdout.jsonl",
        "--holdout-data")
    holdout = pt.task.load_samples(source, loader_options, limit=run_.config.limit)
    related_data.check_disjoint(full_forget, holdout, "--holdout-data")
    return holdout, source


def _task_result(run_: AttackRun, pt, records: list[dict], source: str, holdout_hash: str,
                 settings: MiaSettings) -> dict[str, Any]:
    by_group: dict[str, list[dict[str, float]]] = {g: [] for g in _GROUPS}
    for r in records:
        by_group[r["group"]].append(r["scores"])
    metrics = {}
    for score in mia_scores.SCORES:
        members = [s[score] for s in by_group["forget"]]
        others = [s[score] for s in by_group["holdout"]]
        metrics[f"mia_auc@{score}"] = {"value": round(mia_scores.auc(members, others), 6),
                                       "ci95": mia_scores.auc_ci(members, others),
                                       "n": len(members) + len(others), "higher_is_better": False}
    groups = {g: {"n": len(v), **{f"mean_{s}": round(sum(x[s] for x in v) / len(v), 6) for s in mia_scores.SCORES}}
              for g, v in by_group.items()}
    return {
        "status": "completed",
        "task": task_header(pt, n=len(by_group["forget"])),
        "mode": "loglikelihood",
        "protocol": {"analyzer": "membership_inference",
                     "min_k": f"mean log-prob of the {settings.k:.0%} least likely tokens (Shi et al. 2023)",
                     "zlib": "-(mean token NLL) / zlib-compressed bytes of the text (Carlini et al. 2021)",
                     "loss": "mean token log-prob",
                     "auc": "Mann-Whitney AUC, forget (members) vs holdout; stratified bootstrap 95% CI",
                     "scored_text": "the text the model was trained to forget (unlearn.data.to_pair)"},
        "primary_metric": "mia_auc@min_k",
        "metrics": metrics,
        "attack": {"name": run_.name, "parameters": run_.parameters, "headline": "min_k",
                   "holdout": {"source": source, "data_hash": holdout_hash},
                   "settings": groups,
                   "reading": "AUC 0.5: forget samples look never-seen; 1.0: all still recognisable"},
    }


class MiaAttack(Attack):
    name = "mia"
    help = "membership inference: Min-K-percent and zlib AUC of forget vs never-seen holdout samples"
    modes = ("generate", "loglikelihood")
    Settings = MiaSettings

    @classmethod
    def add_arguments(cls, p) -> None:
        p.add_argument("--holdout-data", help="never-seen samples in the task's format (copyright default: "
                                              "standard-library files not in the forget set)")
        p.add_argument("--min-k", type=float, default=0.2, help="Min-K%% share of least likely tokens (default 0.2)")

    @classmethod
    def settings_from_args(cls, args) -> MiaSettings:
        return MiaSettings(holdout=args.holdout_data, k=args.min_k)

    @classmethod
    def run(cls, run_: AttackRun, settings: MiaSettings) -> dict[str, Any]:
        plans = []
        for pt in run_.prepared:  # every data problem before the model loads
            holdout, source = _holdout(run_, pt, settings)
            samples = [scored_pair(pt.task.name, s, "forget") for s in pt.samples] + \
                      [scored_pair(pt.task.name, s, "holdout") for s in holdout]
            empty = [s.id for s in samples if not s.reference.strip()]
            if empty:
                raise CubError(f"task '{pt.task.name}': sample '{empty[0]}' has no text to score")
            plans.append((pt.derived(samples, mode="loglikelihood"), pt, source, data_hash(holdout)))
        handle = run_.handle()
        run_.begin()
        store = RunStore(run_.root / "settings" / SETTING)
        manifest = store.open({**run_.identity, "setting": SETTING}, overwrite=False)
        tasks = {}
        for derived_pt, pt, source, holdout_hash in plans:
            generate_tasks(store, manifest, [derived_pt], handle, run_.config, run_.ui)
            by_id = {r["id"]: r for r in store.read_records(pt.task.name)}
            records = []
            for s in derived_pt.samples:
                r = by_id[s.id]
                r["group"] = s.meta["group"]
                r["scores"] = mia_scores.all_scores(r["loglikelihood"]["token_logprobs"], s.reference, settings.k)
                records.append(r)
            store.rewrite_records(pt.task.name, records)
            tasks[pt.task.name] = _task_result(run_, pt, records, source, holdout_hash, settings)
        return write_results(run_, tasks)


ATTACK = MiaAttack
