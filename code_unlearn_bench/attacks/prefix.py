"""Prefix injection (the paper's attack): give the model the first k ground-truth tokens of the
part it should have forgotten and score the rest with the task's own analyzer.

For each k the task's samples are rewritten: prompt + the reference's first k tokens (tokenised
with the attacked model's tokenizer) becomes the prompt, the rest of the reference the reference.
k = 0 leaves every sample unchanged, so it is exactly the plain `cub evaluate` score and the
baseline the effect of attack is measured from. A sample whose reference has no more than k
tokens has nothing left to score at that k and is left out of it (listed in the results).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from code_unlearn_bench.attacks.attack_run import Attack, AttackRun, Outcome, combine, write_results
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


@dataclass(frozen=True)
class PrefixSettings:
    k: tuple[int, ...] = (0, 8, 32)  # prefix lengths in tokens; 0 (the baseline) is always run

    def checked(self, config) -> "PrefixSettings":
        return PrefixSettings(tuple(parse_ks(",".join(map(str, self.k)))))

    def parameters(self) -> dict[str, Any]:
        return {"k": list(self.k)}


class PrefixAttack(Attack):
    name = "prefix"
    help = "prefix injection: the first k tokens of the forgotten text go into the prompt"
    Settings = PrefixSettings

    @classmethod
    def add_arguments(cls, parser) -> None:
        parser.add_argument("--k", default="0,8,32", help="prefix lengths in tokens, comma-separated "
                                                         "(default 0,8,32; 0 is always run: it is the baseline)")

    @classmethod
    def settings_from_args(cls, args) -> PrefixSettings:
        return PrefixSettings(tuple(parse_ks(args.k)))

    @classmethod
    def run(cls, run: AttackRun, settings: PrefixSettings) -> dict[str, Any]:
        ks = list(settings.k)
        handle = run.handle()
        tokenizer = handle.tokenizer
        outcomes: dict[str, dict[str, Outcome]] = {pt.task.name: {} for pt in run.prepared}
        left_out: dict[str, dict[str, list[str]]] = {pt.task.name: {} for pt in run.prepared}
        for k in ks:
            setting = f"k={k}"
            prepared = []
            for pt in run.prepared:
                samples, skipped = attacked_samples(pt.samples, tokenizer, k)
                left_out[pt.task.name][setting] = skipped
                if skipped:
                    run.note(f"{pt.task.name} k={k}: {len(skipped)} of {len(pt.samples)} references have "
                             f"<= {k} tokens and are left out of this setting")
                prepared.append(pt.derived(samples))
            for task, oc in run.evaluate_setting(setting, handle, prepared).items():
                outcomes[task][setting] = oc
        headline = f"k={ks[-1]}"  # the strongest attack of the run
        tasks = {task: combine(run, task, oc, baseline="k=0", headline=headline,
                               extra={s: {"left_out": ids} for s, ids in left_out[task].items()})
                 for task, oc in outcomes.items()}
        return write_results(run, tasks)


ATTACK = PrefixAttack
