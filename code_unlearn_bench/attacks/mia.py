"""Membership inference (MUSE's privacy leakage): can the checkpoint's likelihoods still tell the
forget set (members) from never-seen holdout samples of the same kind? AUC 0.5: no; 1.0: every
forget sample is recognisable.

Each sample is scored on the text the model was trained to forget, as the unlearn package pairs it
(copyright: the whole file, no prompt; other tasks: the reference given the prompt), with the
backend's log-likelihood call. The log-probs are saved per sample in
``D/settings/mia/generations/<task>.jsonl`` (resumable) with the Min-K%, zlib and loss scores.

With ``--retain-model`` (a model never trained on the forget set: MUSE's retrained model; in the
learn -> unlearn pipeline the model before `cub learn`) the same samples are scored with it too
(``D/settings/mia-retain/``) and MUSE's PrivLeak = (AUC - AUC_retain) / AUC_retain is reported per
score with a paired bootstrap CI; without one, read the AUC against 0.5.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from code_unlearn_bench.attacks import mia_scores, related_data
from code_unlearn_bench.attacks.attack_run import Attack, AttackRun, write_results
from code_unlearn_bench.errors import CubError
from code_unlearn_bench.evaluation.prepare import task_header
from code_unlearn_bench.evaluation.runner import generate_tasks
from code_unlearn_bench.samples import Sample, data_hash
from code_unlearn_bench.store import RunStore

SETTING = "mia"
_GROUPS = ("forget", "holdout")


@dataclass
class MiaSettings:
    holdout: str | None = None  # None: the task's built-in disjoint default
    k: float = 0.2  # Min-K%: the share of least likely tokens
    retain_model: str | None = None  # never trained on the forget set: the PrivLeak reference

    def checked(self, config=None) -> "MiaSettings":
        if not 0 < self.k <= 1:
            raise CubError(f"--min-k must be in (0, 1], got {self.k}")
        return self

    def parameters(self) -> dict[str, Any]:
        # retain_model only when given: older runs' parameters (and so their identity) are unchanged
        return {"holdout": self.holdout, "min_k": self.k,
                **({"retain_model": self.retain_model} if self.retain_model else {})}


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


def _by_group(records: list[dict]) -> dict[str, list[dict[str, float]]]:
    by_group: dict[str, list[dict[str, float]]] = {g: [] for g in _GROUPS}
    for r in records:
        by_group[r["group"]].append(r["scores"])
    return by_group


def _privleak_metrics(by_group: dict, retain_records: list[dict]) -> dict[str, Any]:
    """``mia_auc_retain@<score>`` and ``privleak@<score>`` (same samples, same order as ``by_group``)."""
    ref = _by_group(retain_records)
    out = {}
    for score in mia_scores.SCORES:
        m, o = [s[score] for s in by_group["forget"]], [s[score] for s in by_group["holdout"]]
        rm, ro = [s[score] for s in ref["forget"]], [s[score] for s in ref["holdout"]]
        auc_retain = mia_scores.auc(rm, ro)
        out[f"mia_auc_retain@{score}"] = {"value": round(auc_retain, 6), "ci95": mia_scores.auc_ci(rm, ro),
                                          "n": len(rm) + len(ro), "higher_is_better": False}
        out[f"privleak@{score}"] = {"value": round(mia_scores.privleak(mia_scores.auc(m, o), auc_retain), 6),
                                    "ci95": mia_scores.privleak_ci(m, o, rm, ro), "n": len(m) + len(o),
                                    "higher_is_better": False}
    return out


def _task_result(run_: AttackRun, pt, records: list[dict], source: str, holdout_hash: str,
                 settings: MiaSettings, retain: tuple[list[dict], str] | None = None) -> dict[str, Any]:
    by_group = _by_group(records)
    metrics = {}
    for score in mia_scores.SCORES:
        members = [s[score] for s in by_group["forget"]]
        others = [s[score] for s in by_group["holdout"]]
        metrics[f"mia_auc@{score}"] = {"value": round(mia_scores.auc(members, others), 6),
                                       "ci95": mia_scores.auc_ci(members, others),
                                       "n": len(members) + len(others), "higher_is_better": False}
    reading = "AUC 0.5: forget samples look never-seen; 1.0: all still recognisable"
    retain_info = None
    if retain is not None:
        metrics.update(_privleak_metrics(by_group, retain[0]))
        retain_info = {"model": settings.retain_model, "fingerprint": retain[1]}
        reading += ("; PrivLeak (MUSE) = (AUC - AUC_retain) / AUC_retain against a model never trained on the "
                    "forget set: 0 = as if never learnt, > 0 = still leaks, < 0 = over-unlearned")
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
                   "settings": groups, "retain_model": retain_info, "reading": reading},
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
        p.add_argument("--retain-model", metavar="MODEL",
                       help="a model never trained on the forget set (MUSE's retrained model; after `cub learn`, "
                            "the model before learning): adds its AUC and PrivLeak = (AUC - AUC_retain) / AUC_retain")

    @classmethod
    def settings_from_args(cls, args) -> MiaSettings:
        return MiaSettings(holdout=args.holdout_data, k=args.min_k, retain_model=args.retain_model)

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
        # the retain model resolves here, so a wrong path fails before anything is written
        retain_handle = run_.handle(dataclasses.replace(run_.config, model=settings.retain_model)) \
            if settings.retain_model else None
        run_.begin()
        scored = _score(run_, plans, handle, SETTING, {}, settings.k)
        retain_scored = None
        if retain_handle is not None:
            handle.close()  # one model in memory at a time
            run_.note(f"mia: scoring the retain model {settings.retain_model} (PrivLeak reference)")
            retain_scored = _score(run_, plans, retain_handle, SETTING + "-retain",
                                   {"retain_fingerprint": retain_handle.info.fingerprint}, settings.k)
        tasks = {}
        for _, pt, source, holdout_hash in plans:
            retain = (retain_scored[pt.task.name], retain_handle.info.fingerprint) if retain_handle else None
            tasks[pt.task.name] = _task_result(run_, pt, scored[pt.task.name], source, holdout_hash, settings, retain)
        return write_results(run_, tasks)


def _score(run_: AttackRun, plans, handle, setting: str, identity: dict[str, Any], k: float) -> dict[str, list[dict]]:
    """Log-likelihoods of every plan's samples under ``handle``'s model (resumable, in
    ``D/settings/<setting>/``), with the membership scores added; task -> records in sample order."""
    store = RunStore(run_.root / "settings" / setting)
    manifest = store.open({**run_.identity, "setting": setting, **identity}, overwrite=False)
    out = {}
    for derived_pt, pt, _, _ in plans:
        generate_tasks(store, manifest, [derived_pt], handle, run_.config, run_.ui)
        by_id = {r["id"]: r for r in store.read_records(pt.task.name)}
        records = []
        for s in derived_pt.samples:
            r = by_id[s.id]
            r["group"] = s.meta["group"]
            r["scores"] = mia_scores.all_scores(r["loglikelihood"]["token_logprobs"], s.reference, k)
            records.append(r)
        store.rewrite_records(pt.task.name, records)
        out[pt.task.name] = records
    return out


ATTACK = MiaAttack
