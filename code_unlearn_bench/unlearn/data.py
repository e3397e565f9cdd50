"""Forget data: (x_f, y_f) pairs from any registered forget task, tokenised for training.

Which text is x_f (the prompt) and which is y_f (what must be forgotten) follows the paper:
  copyright   x_f empty, y_f the whole file (sample.meta["content"]; the evaluation sample
              splits the file into prompt = first half and reference = second half)
  insecure    x_f the code before the insecure line, y_f the insecure continuation
  deprecated  x_f the code before the call, y_f the API call
i.e. every task but the whole-file ones uses the evaluation sample's prompt and reference.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import torch

from code_unlearn_bench.errors import CubError, DataError
from code_unlearn_bench.samples import Sample, data_hash
from code_unlearn_bench.unlearn.tokens import SeqBatch

# Tasks whose whole text is the thing to forget (no prompt): the paper's copyright setting.
WHOLE_TEXT_TASKS = {"copyright"}
# Samples a forget task evaluates but that must be kept (deprecated: the still-valid APIs).
RETAIN_SPLIT = "retain"


@dataclass(frozen=True)
class ForgetPair:
    id: str
    prompt: str  # x_f (may be empty)
    answer: str  # y_f


@dataclass
class ForgetSet:
    task: str
    pairs: list[ForgetPair]
    hash: str  # data hash of the samples the pairs came from
    source: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


def to_pair(task: str, sample: Sample) -> ForgetPair:
    if task in WHOLE_TEXT_TASKS:
        whole = sample.meta.get("content") or (sample.prompt + sample.reference)
        return ForgetPair(sample.id, "", whole)
    return ForgetPair(sample.id, sample.prompt, sample.reference)


def trained_split(samples: list[Sample]) -> list[Sample]:
    """The samples unlearning may train on: whatever a loader tags as retained (deprecated's current
    APIs) is evaluated but never forget data, so never an MIA member or holdout either."""
    return [s for s in samples if s.meta.get("split") != RETAIN_SPLIT]


def load_forget_set(task_name: str, source: str | None = None, options: dict[str, Any] | None = None,
                    limit: int | None = None) -> ForgetSet:
    from code_unlearn_bench.tasks.spec import get_task

    task = get_task(task_name)
    if task.kind != "forget":
        raise CubError(f"task '{task_name}' is a {task.kind} task; learn/unlearn need a forget task")
    options = dict(options or {})
    if "split" in task.loader_options:
        # A task with forget/retain splits (deprecated) evaluates both, but unlearning must train
        # on the forget split only; asking the loader for it makes --limit count forget samples.
        if options.get("split") not in (None, "", "forget"):
            raise CubError(f"task '{task_name}': unlearning trains on the forget split only "
                           f"(got split={options['split']!r})")
        options["split"] = "forget"
    samples = trained_split(task.load_samples(source=source, options=options, limit=limit))
    pairs = [p for p in (to_pair(task_name, s) for s in samples) if p.answer.strip()]
    if not pairs:
        raise DataError(f"the forget set of task '{task_name}' is empty (nothing to forget in "
                        f"{source or task.default_source or 'the default source'})")
    return ForgetSet(task_name, pairs, data_hash(samples), source, options)


def evaluation_limit(task_name: str, source: str | None = None, options: dict[str, Any] | None = None,
                     limit: int | None = None) -> int | None:
    """The shortest prefix of the task's evaluation samples that holds every sample ``--limit limit``
    trains on. For most tasks that is ``limit`` itself; a task with forget/retain splits (deprecated)
    evaluates both, interleaved, so its first ``limit`` samples hold only about half of the trained
    ones (``cub reproduce`` evaluates this prefix instead)."""
    if not limit:
        return limit
    from code_unlearn_bench.tasks.spec import get_task

    trained = {p.id for p in load_forget_set(task_name, source, options, limit).pairs}
    positions = [i for i, s in enumerate(get_task(task_name).load_samples(source=source, options=dict(options or {})))
                 if s.id in trained]
    if len(positions) != len(trained):
        raise DataError(f"task '{task_name}': {len(trained) - len(positions)} trained sample(s) are not among its "
                        f"evaluation samples")
    return max(limit, positions[-1] + 1)


@dataclass
class Example:
    """One tokenised pair; ``seqs[name] = (token ids, number of prompt tokens)``."""

    id: str
    seqs: dict[str, tuple[list[int], int]]


def encode(tokenizer, prompt: str, answer: str, max_length: int) -> tuple[list[int], int]:
    """Prompt ids (with the tokenizer's special tokens, as at evaluation) + answer ids.

    Longer than max_length: the prompt loses tokens from the left until at least half the
    window is answer, then the answer is cut at the end (the reference code truncates files).
    """
    p_ids = tokenizer(prompt, add_special_tokens=True)["input_ids"]
    a_ids = tokenizer(answer, add_special_tokens=False)["input_ids"]
    if len(p_ids) + len(a_ids) > max_length:
        keep_prompt = max(max_length - len(a_ids), max_length // 2)
        p_ids = p_ids[len(p_ids) - keep_prompt:] if keep_prompt < len(p_ids) else p_ids
        a_ids = a_ids[:max_length - len(p_ids)]
    return p_ids + a_ids, len(p_ids)


def refusal_answer(refusals: list[str], seed: int, example_id: str) -> str:
    """The refusal paired with one example: "\\n" + a random line + "\\n" (as the reference code),
    drawn once per example from (seed, id) so that reference log-probs can be precomputed."""
    return "\n" + random.Random(f"{seed}:{example_id}").choice(refusals) + "\n"


def tokenise(forget: ForgetSet, tokenizer, max_length: int, sequences: tuple[str, ...],
             refusals: list[str] | None = None, seed: int = 0,
             retain: list[ForgetPair] | None = None) -> list[Example]:
    """``retain`` pairs are cycled over the forget examples (example i gets retain pair i mod
    n), so each step sees as many retain as forget sequences and the pairing is stable."""
    if "retain" in sequences and not retain:
        raise DataError("this method needs a retain set but it is empty")
    examples = []
    for i, pair in enumerate(forget.pairs):
        seqs = {"forget": encode(tokenizer, pair.prompt, pair.answer, max_length)}
        if "retain" in sequences:
            kept = retain[i % len(retain)]
            seqs["retain"] = encode(tokenizer, kept.prompt, kept.answer, max_length)
        if "refusal" in sequences:
            if not refusals:
                raise DataError("this method needs refusal answers but the refusal list is empty")
            seqs["refusal"] = encode(tokenizer, pair.prompt, refusal_answer(refusals, seed, pair.id), max_length)
        # a sequence needs one answer token after some context, or there is nothing to train on
        if all(len(ids) > max(n_prompt, 1) for ids, n_prompt in seqs.values()):
            examples.append(Example(pair.id, seqs))
    if not examples:
        raise DataError(f"the forget set of task '{forget.task}' has no answer tokens to train on "
                        f"(all answers empty after tokenisation/truncation to {max_length})")
    return examples


def collate(examples: list[Example], pad_id: int) -> dict[str, SeqBatch]:
    """Right-padded SeqBatch per sequence name (padding is masked out of attention and targets)."""
    out = {}
    for name in examples[0].seqs:
        rows = [e.seqs[name] for e in examples]
        width = max(len(ids) for ids, _ in rows)
        ids_t = torch.full((len(rows), width), pad_id, dtype=torch.long)
        attn = torch.zeros((len(rows), width), dtype=torch.long)
        target = torch.zeros((len(rows), width), dtype=torch.bool)
        for i, (ids, n_prompt) in enumerate(rows):
            ids_t[i, :len(ids)] = torch.tensor(ids, dtype=torch.long)
            attn[i, :len(ids)] = 1
            target[i, n_prompt:len(ids)] = True
        out[name] = SeqBatch(ids_t, attn, target)
    return out
