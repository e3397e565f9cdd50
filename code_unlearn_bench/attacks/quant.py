"""Quantisation attack: re-score forget quality with the checkpoint's weights round-tripped through
int8 and int4 (see ``quantize``), and list the samples whose forgotten text came back: those
whose attacked metric dropped by at least ``--came-back-threshold`` against the unquantised
checkpoint (for copyright: BLEU rose by that much)."""

from __future__ import annotations

import dataclasses
from typing import Any

from code_unlearn_bench.analysis import metric
from code_unlearn_bench.attacks import engine, quantize
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
        return "bnb" if quantize.bnb_available() else "torch"
    return method


class QuantisedHandle:
    """The attacked model with its weights quantised to ``bits``, made on first use only (a
    resumed setting whose generations are all saved never loads or quantises anything)."""

    def __init__(self, base, shared: dict[str, Any], bits: int, method: str, int4_group: int):
        self.base, self.shared, self.bits, self.method, self.int4_group = base, shared, bits, method, int4_group
        self.stats: quantize.QuantStats | None = None

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
            backend.model = quantize.load_bnb(self.base.resolved, self.bits, backend.device)
            self.stats = quantize.QuantStats(self.bits, "bitsandbytes " + ("int8" if self.bits == 8 else "nf4"),
                                             len(quantize.quantisable_linears(backend.model)), 0, None)
            return backend
        backend.model = quantize.merged(backend.model)
        if "pristine" not in self.shared:  # taken before any rounding, restored before each width
            self.shared["pristine"] = quantize.snapshot(backend.model)
        quantize.restore(backend.model, self.shared["pristine"])
        self.stats = quantize.fake_quantize_model(backend.model, self.bits, self.int4_group)
        return backend


def check_parameters(backend: str, int4_group: int, threshold: float) -> None:
    if backend == "vllm":
        raise CubError("the quant attack edits weights in memory and runs on the hf backend; drop --backend vllm")
    if int4_group < 0:
        raise CubError(f"--int4-group-size must be >= 0 (0 = per row), got {int4_group}")
    if not 0 < threshold <= 1:
        raise CubError(f"--came-back-threshold must be in (0, 1], got {threshold}")


def run(run_: engine.AttackRun, bits: list[int], method: str, int4_group: int, threshold: float) -> dict[str, Any]:
    check_parameters(run_.config.backend, int4_group, threshold)
    method = choose_method(method)
    config = dataclasses.replace(run_.config, backend="hf")
    base = run_.handle(config)
    shared: dict[str, Any] = {}
    outcomes: dict[str, dict[str, engine.Outcome]] = {pt.task.name: {} for pt in run_.prepared}
    extra: dict[str, dict[str, Any]] = {pt.task.name: {} for pt in run_.prepared}
    for task, oc in run_.evaluate_setting("unquantised", base, run_.prepared, config).items():
        outcomes[task]["unquantised"] = oc
    for b in bits:
        setting = f"int{b}"
        handle = QuantisedHandle(base, shared, b, method, int4_group)
        for task, oc in run_.evaluate_setting(setting, handle, run_.prepared, config).items():
            outcomes[task][setting] = oc
            extra[task][setting] = {"quantisation": handle.stats.to_json() if handle.stats else
                                    {"bits": b, "method": method, "note": "generations reused from an earlier run"}}
    tasks = {}
    for task, oc in outcomes.items():
        primary = oc["unquantised"].result["primary_metric"]
        hib = bool(oc["unquantised"].result["metrics"].get(primary, {}).get("higher_is_better", True))
        extra_metrics = {}
        for b in bits:
            setting = f"int{b}"
            drops = engine.per_sample_drops(primary, hib, oc["unquantised"], oc[setting])
            back = sorted(({"id": i, "before": before, "after": after, "drop": d}
                           for i, (d, before, after) in drops.items() if d >= threshold), key=lambda r: -r["drop"])
            extra[task][setting]["came_back"] = back
            if drops:
                extra_metrics[f"came_back_rate@{setting}"] = metric(
                    [1.0 if d >= threshold else 0.0 for d, _, _ in drops.values()], higher_is_better=False)
            if back:
                run_.note(f"{task} {setting}: forgotten text came back in {len(back)} of {len(drops)} samples "
                          f"({primary} dropped by >= {threshold}; first: {back[0]['id']})")
        tasks[task] = engine.combine(run_, task, oc, baseline="unquantised", headline=f"int{bits[-1]}",
                                     extra=extra[task], extra_metrics=extra_metrics)
    return engine.write_results(run_, tasks)
