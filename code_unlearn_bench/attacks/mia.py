"""Membership inference (MUSE's privacy leakage): can the checkpoint's likelihoods still tell the
forget set from never-seen holdout samples of the same source? As MUSE computes it
(attacks/mia_scores.py): the holdout set is the positive class, so AUC 0.5: no; near 0: every
forget sample is recognisable.

Each sample is scored on the text the model was trained to forget, as the unlearn package pairs it
(copyright: the whole file, no prompt; other tasks: the reference given the prompt), with the
backend's log-likelihood call. The log-probs are saved per sample in
``D/settings/mia/generations/<task>.jsonl`` (resumable) with the Min-K%, zlib and loss scores.

With ``--retain-model`` (a model never trained on the forget set: MUSE's retrained model; in the
learn -> unlearn pipeline the model before `cub learn`) the same samples are scored with it too
(``D/settings/mia-retain/``) and MUSE's PrivLeak = (AUC - AUC_retain) / AUC_retain * 100 (percent)
is reported per score with a paired bootstrap CI; without one, read the AUC against 0.5.

The holdout comes from the forget set's own source: ``--holdout-data``; else, when ``--data``
replaced the task's data, the samples of ``--data`` left over after ``--limit`` (a held-out split);
else the task's built-in disjoint set (copyright: shipped standard-library files, the default
forget set's source).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from code_unlearn_bench.attacks import mia_scores, related_data
from code_unlearn_bench.attacks.attack_run import Attack, AttackRun, write_results
from code_unlearn_bench.comparability import ATTACK_VERSIONS
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
    k: float = mia_scores.DEFAULT_K  # Min-K%: the share of least likely tokens (MUSE: 40%)
    retain_model: str | None = None  # never trained on the forget set: the PrivLeak reference

    def checked(self, config=None) -> "MiaSettings":
        if not 0 < self.k <= 1:
            raise CubError(f"--min-k must be in (0, 1], got {self.k}")
        return self

    def parameters(self) -> dict[str, Any]:
        # retain_model only when given; version: an older definition's run dir is never resumed as this one
        return {"holdout": self.holdout, "min_k": self.k, "version": ATTACK_VERSIONS["mia"],
                **({"retain_model": self.retain_model} if self.retain_model else {})}


def scored_pair(task_name: str, sample: Sample, group: str) -> Sample:
    """The (context, text) the model was trained on, as a log-likelihood sample."""
    from code_unlearn_bench.unlearn.data import to_pair

    pair = to_pair(task_name, sample)
    return Sample(f"{group}/{sample.id}", pair.prompt, pair.answer, {"group": group, "sample_id": sample.id})


def _holdout(run_: AttackRun, pt, settings: MiaSettings) -> tuple[list[Sample], str]:
    full_forget = pt.task.load_samples(pt.source, run_.config.options_for(pt.task.name))
    if not settings.holdout and pt.source:  # --data replaced the forget set: hold out from the same source
        split = _held_out_split(pt, full_forget)
        related_data.check_disjoint(pt.samples, split, "the held-out split of --data")
        return split, f"{pt.source} (samples after the first {len(pt.samples)})"
    loader_options, _ = pt.task.split_options(run_.config.options_for(pt.task.name))
    source = settings.holdout or related_data.write_default(
        pt.task.name, full_forget, len(pt.samples), run_.root / "mia" / f"{pt.task.name}-holdout.jsonl",
        "--holdout-data")
    holdout = pt.task.load_samples(source, loader_options, limit=run_.config.limit)
    related_data.check_disjoint(full_forget, holdout, "--holdout-data")
    return holdout, source


def _held_out_split(pt, full: list[Sample]) -> list[Sample]:
    """The samples of ``--data`` the forget set (its first ``--limit``) left out, as many as the
    forget set has: never-seen samples of the same source, as MUSE's holdout split."""
    from code_unlearn_bench.unlearn.data import trained_split

    used = {s.id for s in pt.samples}
    n = len(trained_split(pt.samples))
    rest = [s for s in trained_split(full) if s.id not in used][:n]
    if not rest:
        raise CubError(_no_holdout(pt.task.name, n))
    return rest


def _no_holdout(task: str, n_forget: int) -> str:
    return (f"task '{task}': --data has no samples beyond the {n_forget} forget samples to hold out for the MIA; "
            f"give --holdout-data (never-seen samples of the same source) or use --limit so part of --data is "
            f"held out")


def holdout_problem(config, settings: MiaSettings) -> str | None:
    """Why the MIA of ``config`` could make no holdout (None when it can), found before any model is
    loaded: `cub reproduce` skips the MIA with this reason rather than failing after training."""
    if settings.holdout:
        return None
    from code_unlearn_bench.tasks.spec import get_task

    for name in config.tasks:
        source = config.data.get(name)
        if not source:
            if name not in related_data.DEFAULT_TASKS:  # write_default would refuse after the model loaded
                return (f"task '{name}' has no built-in disjoint data to hold out for the MIA; give --holdout-data "
                        f"(a source in the task's format)")
            continue  # the task's own disjoint default
        n = len(get_task(name).load_samples(source, config.options_for(name)))
        limit = config.limit_for(name)
        if limit is None or limit >= n:
            return _no_holdout(name, n if limit is None else min(limit, n))
    return None


def _by_group(records: list[dict]) -> dict[str, list[dict[str, float]]]:
    by_group: dict[str, list[dict[str, float]]] = {g: [] for g in _GROUPS}
    for r in records:
        by_group[r["group"]].append(r["scores"])
    return by_group


def _auc_metric(holdout: list[float], forget: list[float]) -> dict[str, Any]:
    """MUSE's AUC: holdout = positive class (0.5: forget set looks never-seen; near 0: recognised)."""
    return {"value": round(mia_scores.auc(holdout, forget), 6), "ci95": mia_scores.auc_ci(holdout, forget),
            "n": len(forget) + len(holdout), "higher_is_better": True}


def _privleak_metrics(by_group: dict, retain_records: list[dict]) -> dict[str, Any]:
    """``mia_auc_retain@<score>`` and ``privleak@<score>`` (same samples, same order as ``by_group``)."""
    ref = _by_group(retain_records)
    out = {}
    for score in mia_scores.SCORES:
        f, h = [s[score] for s in by_group["forget"]], [s[score] for s in by_group["holdout"]]
        rf, rh = [s[score] for s in ref["forget"]], [s[score] for s in ref["holdout"]]
        out[f"mia_auc_retain@{score}"] = _auc_metric(rh, rf)
        leak = mia_scores.privleak(mia_scores.auc(h, f), mia_scores.auc(rh, rf))
        out[f"privleak@{score}"] = {"value": round(leak, 6), "ci95": mia_scores.privleak_ci(f, h, rf, rh),
                                    "n": len(f) + len(h), "higher_is_better": True}
    return out


def _task_result(run_: AttackRun, pt, records: list[dict], source: str, holdout_hash: str,
                 settings: MiaSettings, retain: tuple[list[dict], str] | None = None) -> dict[str, Any]:
    by_group = _by_group(records)
    metrics = {f"mia_auc@{score}": _auc_metric([s[score] for s in by_group["holdout"]],
                                               [s[score] for s in by_group["forget"]])
               for score in mia_scores.SCORES}
    reading = "AUC (MUSE: holdout = positive class) 0.5: forget samples look never-seen; near 0: still recognisable"
    retain_info = None
    if retain is not None:
        metrics.update(_privleak_metrics(by_group, retain[0]))
        retain_info = {"model": settings.retain_model, "fingerprint": retain[1]}
        reading += ("; PrivLeak (MUSE, %) = (AUC - AUC_retain) / AUC_retain * 100 against a model never trained "
                    "on the forget set: 0 = as if never learnt, about -100 = still leaks, > 0 = over-unlearned")
    groups = {g: {"n": len(v), **{f"mean_{s}": round(sum(x[s] for x in v) / len(v), 6) for s in mia_scores.SCORES}}
              for g, v in by_group.items()}
    return {
        "status": "completed",
        "task": task_header(pt, n=len(by_group["forget"])),
        "mode": "loglikelihood",
        "protocol": {"analyzer": "membership_inference",
                     "definition": f"MUSE (swj0419/muse_bench metrics/privleak.py), version {ATTACK_VERSIONS['mia']}",
                     "min_k": f"mean log-prob of the floor({settings.k:.0%} x n) least likely tokens (Shi et al. "
                              f"2023; MUSE's Min-K%)",
                     "zlib": "-(mean token NLL) / zlib-compressed bytes of the text (MUSE's PPL/zlib)",
                     "loss": "mean token log-prob (MUSE's PPL)",
                     "auc": "Mann-Whitney AUC, holdout (positive class) vs forget, as MUSE's "
                            "forget_holdout_<score>; stratified bootstrap 95% CI",
                     "scored_text": "the text the model was trained to forget (unlearn.data.to_pair)"},
        "primary_metric": "mia_auc@min_k",
        "metrics": metrics,
        "attack": {"name": run_.name, "version": ATTACK_VERSIONS["mia"], "parameters": run_.parameters,
                   "headline": "min_k",
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
        p.add_argument("--holdout-data", help="never-seen samples in the task's format (default: the samples of "
                                              "--data after --limit; without --data, copyright's shipped "
                                              "standard-library files not in the forget set)")
        p.add_argument("--min-k", type=float, default=mia_scores.DEFAULT_K,
                       help=f"Min-K%% share of least likely tokens (default {mia_scores.DEFAULT_K}, MUSE's)")
        p.add_argument("--retain-model", metavar="MODEL",
                       help="a model never trained on the forget set (MUSE's retrained model; after `cub learn`, "
                            "the model before learning): adds its AUC and MUSE's PrivLeak = (AUC - AUC_retain) / AUC_retain "
                            "x 100 (%%)")

    @classmethod
    def settings_from_args(cls, args) -> MiaSettings:
        return MiaSettings(holdout=args.holdout_data, k=args.min_k, retain_model=args.retain_model)

    @classmethod
    def run(cls, run_: AttackRun, settings: MiaSettings) -> dict[str, Any]:
        from code_unlearn_bench.unlearn.data import trained_split

        plans = []
        for pt in run_.prepared:  # every data problem before the model loads
            holdout, source = _holdout(run_, pt, settings)
            samples = [scored_pair(pt.task.name, s, "forget") for s in trained_split(pt.samples)] + \
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
