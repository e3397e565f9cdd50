"""Prefix injection (the paper's attack): give the model the first k ground-truth tokens of the
part it should have forgotten and score the rest with the task's own analyzer.

For each k the task's samples are rewritten: prompt + the reference's first k tokens (tokenised
with the attacked model's tokenizer) becomes the prompt, the rest of the reference the reference.
k = 0 leaves every sample unchanged, so it is exactly the plain `cub evaluate` score and the
baseline the effect of attack is measured from. A sample whose reference has no more than k
tokens has nothing left to score at that k and is left out of it (listed in the results).
"""

from __future__ import annotations

from typing import Any

from code_unlearn_bench.attacks import engine
from code_unlearn_bench.errors import CubError
from code_unlearn_bench.samples import Sample


def parse_ks(text: str) -> list[int]:
    """'0,8,32' -> [0, 8, 32]; k = 0 (the baseline) is always included."""
    try:
        ks = sorted({int(x) for x in text.split(",") if x.strip()})
    except ValueError:
        raise CubError(f"--k expects comma-separated token counts like 0,8,32, got '{text}'") from None
    if not ks or ks[0] < 0:
        raise CubError(f"--k needs token counts >= 0, got '{text}'")
    return ks if ks[0] == 0 else [0, *ks]


def split_reference(tokenizer, reference: str, k: int) -> tuple[str, str] | None:
    """(prefix, rest) with prefix + rest == reference and prefix = the text of the reference's first
    k tokens; None when the reference has no token after the first k."""
    if k == 0:
        return "", reference
    ids = tokenizer(reference, add_special_tokens=False)["input_ids"]
    if len(ids) <= k:
        return None
    # Byte-level BPE (GPT-2, SmolLM2) decodes a token prefix back to the exact text; SentencePiece
    # drops the leading space of the first token, so fall back to the tokenizer's character offsets.
    prefix = tokenizer.decode(ids[:k])
    if prefix and reference.startswith(prefix):
        return prefix, reference[len(prefix):]
    if getattr(tokenizer, "is_fast", False):
        offsets = tokenizer(reference, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
        cut = offsets[k - 1][1]
        if 0 < cut < len(reference):
            return reference[:cut], reference[cut:]
    raise CubError(f"cannot cut the first {k} tokens off a reference with this tokenizer "
                   f"(its decoded tokens do not reproduce the text)")


def attacked_samples(samples: list[Sample], tokenizer, k: int) -> tuple[list[Sample], list[str]]:
    """The samples under attack k, and the ids left out (reference too short)."""
    out, left_out = [], []
    for s in samples:
        cut = split_reference(tokenizer, s.reference, k)
        if cut is None:
            left_out.append(s.id)
            continue
        prefix, rest = cut
        out.append(s if k == 0 else Sample(s.id, s.prompt + prefix, rest, {**s.meta, "attack_prefix_tokens": k}))
    return out, left_out


def run(run_: engine.AttackRun, ks: list[int]) -> dict[str, Any]:
    handle = run_.handle()
    tokenizer = handle.tokenizer
    outcomes: dict[str, dict[str, engine.Outcome]] = {pt.task.name: {} for pt in run_.prepared}
    left_out: dict[str, dict[str, list[str]]] = {pt.task.name: {} for pt in run_.prepared}
    for k in ks:
        setting = f"k={k}"
        prepared = []
        for pt in run_.prepared:
            samples, skipped = attacked_samples(pt.samples, tokenizer, k)
            left_out[pt.task.name][setting] = skipped
            if skipped:
                run_.note(f"{pt.task.name} k={k}: {len(skipped)} of {len(pt.samples)} references have "
                          f"<= {k} tokens and are left out of this setting")
            prepared.append(engine.derived(pt, samples))
        for task, oc in run_.evaluate_setting(setting, handle, prepared).items():
            outcomes[task][setting] = oc
    headline = f"k={ks[-1]}"  # the strongest attack of the run
    tasks = {task: engine.combine(run_, task, oc, baseline="k=0", headline=headline,
                                  extra={s: {"left_out": ids} for s, ids in left_out[task].items()})
             for task, oc in outcomes.items()}
    return engine.write_results(run_, tasks)
