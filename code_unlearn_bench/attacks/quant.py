"""Quantisation attack: re-score forget quality with the checkpoint's weights round-tripped through
int8 and int4 (see ``quant_weights``), and list the samples whose forgotten text came back: those
whose attacked metric dropped by at least ``--came-back-threshold`` against the unquantised
checkpoint (for copyright: BLEU rose by that much)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from code_unlearn_bench.analyzers.base import metric
from code_unlearn_bench.attacks import quant_weights
from code_unlearn_bench.attacks.attack_run import Attack, AttackRun, Outcome, combine, per_sample_drops, write_results
from code_unlearn_bench.errors import CubError

METHODS = ("auto", "torch", "bnb")
DEFAULT_THRESHOLD = 0.1


def parse_bits(text: str) -> list[int]:
    try:
        bits = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise CubError(f"--bits expects comma-separated bit widths like 8,4, got '{text}'") from None
    bad = [b for b in bits if b not in range(2, 9)]
    if not bits or bad:
        raise CubError(f"--bits takes widths from 2 to 8, got '{text}'")
    return sorted(set(bits), reverse=True)


def choose_method(method: str) -> str:
    if method not in METHODS:
        raise CubError(f"--quant-method must be one of {', '.join(METHODS)}")
    if method == "auto":
        return "bnb" if quant_weights.bnb_available() else "torch"
    return method


class QuantisedHandle:
    """The attacked model with its weights quantised to ``bits``, made on first use only (a
    resumed setting whose generations are all saved never loads or quantises anything)."""

    def __init__(self, base, shared: dict[str, Any], bits: int, method: str, int4_group: int):
        self.base, self.shared, self.bits, self.method, self.int4_group = base, shared, bits, method, int4_group
        self.stats: quant_weights.QuantStats | None = None

    @property
    def tokenizer(self):
        return self.base.tokenizer

    @property
    def backend(self):
        backend = self.base.backend
        if self.stats is not None:
            return backend
        if self.method == "bnb":
            import gc

            import torch

            backend.model = None  # free the full-precision copy before loading the quantised one
            gc.collect()
            torch.cuda.empty_cache()
            backend.model = quant_weights.load_bnb(self.base.resolved, self.bits, backend.device)
            self.stats = quant_weights.QuantStats(self.bits, "bitsandbytes " + ("int8" if self.bits == 8 else "nf4"),
                                             len(quant_weights.quantisable_linears(backend.model)), 0, None)
            return backend
        backend.model = quant_weights.merged(backend.model)
        if "pristine" not in self.shared:  # taken before any rounding, restored before each width
            self.shared["pristine"] = quant_weights.snapshot(backend.model)
        quant_weights.restore(backend.model, self.shared["pristine"])
        self.stats = quant_weights.fake_quantize_model(backend.model, self.bits, self.int4_group)
        return backend


def check_parameters(backend: str, int4_group: int, threshold: float) -> None:
    from code_unlearn_bench.models.selection import capabilities

    if backend != "auto" and not capabilities(backend).weights_in_process:
        raise CubError(f"the quant attack edits weights in memory and runs on the hf backend; drop --backend {backend}")
    if int4_group < 0:
        raise CubError(f"--int4-group-size must be >= 0 (0 = per row), got {int4_group}")
    if not 0 < threshold <= 1:
        raise CubError(f"--came-back-threshold must be in (0, 1], got {threshold}")


@dataclass(frozen=True)
class QuantSettings:
    bits: tuple[int, ...] = (8, 4)
    method: str = "auto"  # auto | torch | bnb; "auto" is resolved by checked()
    int4_group_size: int = quant_weights.INT4_GROUP
    came_back_threshold: float = DEFAULT_THRESHOLD

    def checked(self, config) -> "QuantSettings":
        check_parameters(config.backend, self.int4_group_size, self.came_back_threshold)
        return dataclasses.replace(self, bits=tuple(parse_bits(",".join(map(str, self.bits)))),
                                   method=choose_method(self.method))

    def parameters(self) -> dict[str, Any]:
        return {"bits": list(self.bits), "method": self.method, "int4_group_size": self.int4_group_size,
                "came_back_threshold": self.came_back_threshold}


class QuantAttack(Attack):
    name = "quant"
    help = "quantisation: weights round-tripped through int8/int4, forget quality re-scored"
    Settings = QuantSettings

    @classmethod
    def add_arguments(cls, p) -> None:
        p.add_argument("--bits", default="8,4", help="bit widths, comma-separated (default 8,4)")
        p.add_argument("--quant-method", choices=METHODS, default="auto",
                       help="torch: fake-quantised weights (CPU/GPU); bnb: bitsandbytes (CUDA); auto: bnb when available")
        p.add_argument("--int4-group-size", type=int, default=quant_weights.INT4_GROUP,
                       help=f"torch method: weights per scale at <= 4 bits (default {quant_weights.INT4_GROUP}, 0 = per row)")
        p.add_argument("--came-back-threshold", type=float, default=DEFAULT_THRESHOLD,
                       help=f"a sample's text 'came back' when its forget quality drops by this much "
                            f"against the unquantised checkpoint (default {DEFAULT_THRESHOLD})")

    @classmethod
    def settings_from_args(cls, args) -> QuantSettings:
        return QuantSettings(tuple(parse_bits(args.bits)), args.quant_method, args.int4_group_size,
                             args.came_back_threshold)

    @classmethod
    def run(cls, run: AttackRun, settings: QuantSettings) -> dict[str, Any]:
        bits, method, threshold = list(settings.bits), settings.method, settings.came_back_threshold
        config = dataclasses.replace(run.config, backend="hf")
        base = run.handle(config)
        shared: dict[str, Any] = {}
        outcomes: dict[str, dict[str, Outcome]] = {pt.task.name: {} for pt in run.prepared}
        extra: dict[str, dict[str, Any]] = {pt.task.name: {} for pt in run.prepared}
        for task, oc in run.evaluate_setting("unquantised", base, run.prepared, config).items():
            outcomes[task]["unquantised"] = oc
        for b in bits:
            setting = f"int{b}"
            handle = QuantisedHandle(base, shared, b, method, settings.int4_group_size)
            for task, oc in run.evaluate_setting(setting, handle, run.prepared, config).items():
                outcomes[task][setting] = oc
                extra[task][setting] = {"quantisation": handle.stats.to_json() if handle.stats else
                                        {"bits": b, "method": method, "note": "generations reused from an earlier run"}}
        tasks = {task: _task_result(run, task, oc, bits, threshold, extra[task]) for task, oc in outcomes.items()}
        return write_results(run, tasks)


def _task_result(run: AttackRun, task: str, oc: dict[str, Outcome], bits: list[int], threshold: float,
                 extra: dict[str, Any]) -> dict[str, Any]:
    primary = oc["unquantised"].result["primary_metric"]
    hib = bool(oc["unquantised"].result["metrics"].get(primary, {}).get("higher_is_better", True))
    extra_metrics = {}
    for b in bits:
        setting = f"int{b}"
        drops = per_sample_drops(primary, hib, oc["unquantised"], oc[setting])
        back = sorted(({"id": i, "before": before, "after": after, "drop": d}
                       for i, (d, before, after) in drops.items() if d >= threshold), key=lambda r: -r["drop"])
        extra[setting]["came_back"] = back
        if drops:
            extra_metrics[f"came_back_rate@{setting}"] = metric(
                [1.0 if d >= threshold else 0.0 for d, _, _ in drops.values()], higher_is_better=False)
        if back:
            run.note(f"{task} {setting}: forgotten text came back in {len(back)} of {len(drops)} samples "
                     f"({primary} dropped by >= {threshold}; first: {back[0]['id']})")
    return combine(run, task, oc, baseline="unquantised", headline=f"int{bits[-1]}", extra=extra,
                   extra_metrics=extra_metrics)


ATTACK = QuantAttack
