"""Batched Insecure Code Detector (ICD) on top of Meta's ``codeshield`` package.

CyberSecEval scores a completion with ``insecure_code_detector.analyze(language, completion,
code_before)``: codeshield's regex rules run on the completion alone, its semgrep rules run on
``code_before + completion`` written to a temp file, and semgrep findings outside the completion's
lines are dropped. That path starts one semgrep process per snippet (~150 s for the 1,916
CyberSecEval originals on 2 cores).

This module produces the same findings in batches: the regex rules run in-process (codeshield's own
pattern loader and matcher, minus its per-call thread pool), and semgrep runs once per language over
a temp tree holding every snippet's file; findings are mapped back by path and filtered with
codeshield's own line filter. No rule is rewritten: rule files, semgrep command line, output parser
and line filter are all codeshield's. Analyses are cached by content hash (see :class:`IcdCache`).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import os
import sqlite3
import subprocess
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable, Sequence

from code_unlearn_bench.errors import CubError

CACHE_SCHEMA = 1  # bump when the stored form of an analysis changes


def _codeshield():
    """Import codeshield lazily: its ``oss`` module creates a semgrep symlink at import time."""
    try:
        from codeshield.insecure_code_detector import insecure_code_detector, insecure_patterns, oss
        from codeshield.insecure_code_detector.analyzers import Analyzer as Engine
        from codeshield.insecure_code_detector.languages import Language, get_file_extension
        from codeshield.insecure_code_detector.usecases import UseCase
    except Exception as exc:  # ImportError, or the symlink/semgrep-core lookup failing
        raise CubError(f"the insecure code detector (codeshield) is unavailable: {exc}") from None
    return {
        "icd": insecure_code_detector, "patterns": insecure_patterns, "oss": oss, "Engine": Engine,
        "Language": Language, "ext": get_file_extension, "UseCase": UseCase,
    }


@dataclass(frozen=True)
class Snippet:
    """One thing to analyse: a completion plus the code the model saw before it."""

    language: str
    code: str
    code_before: str | None = None


def _language(name: str):
    cs = _codeshield()
    try:
        return cs["Language"](name)
    except ValueError:
        known = ", ".join(lang.value for lang in cs["Language"])
        raise CubError(f"unknown ICD language '{name}' (known: {known})") from None


def rule_id(check_id: str | None) -> str | None:
    """The bare rule id of a semgrep ``check_id``.

    semgrep prefixes each rule id with the rule file's directory *relative to the working
    directory*, dot-joined, when that directory lies under it (codeshield in ``.venv/`` inside the
    project: ``.venv.lib.python3.11.site-packages.codeshield....insecure-os-system-use``).
    codeshield's rule ids hold no dot (a test checks), so the last component is the rule id,
    whatever the working directory."""
    return check_id.rsplit(".", 1)[-1] if check_id else check_id


def issue_to_dict(issue: Any) -> dict[str, Any]:
    """A codeshield Issue as JSON, without ``path`` (a temp file name that differs between runs);
    semgrep rule ids normalised (:func:`rule_id`), for the batch and codeshield's own path alike."""
    semgrep = issue.analyzer is not None and str(issue.analyzer) == "semgrep"
    return {
        "analyzer": None if issue.analyzer is None else str(issue.analyzer),
        "cwe_id": issue.cwe_id,
        "description": issue.description,
        "severity": str(issue.severity),
        "pattern_id": rule_id(issue.pattern_id) if semgrep else issue.pattern_id,
        "rule": issue.rule,
        "line": issue.line,
        "char": issue.char,
        "name": rule_id(issue.name) if semgrep else issue.name,
    }


def canonical(issues: Iterable[Any]) -> list[dict[str, Any]]:
    """Issues as sorted dicts: codeshield collects regex hits with ``as_completed``, so its own
    order is not deterministic; comparisons and the cache use this canonical form."""
    dicts = [issue if isinstance(issue, dict) else issue_to_dict(issue) for issue in issues]
    return sorted(dicts, key=lambda d: json.dumps(d, sort_keys=True))


def analyze_one(snippet: Snippet) -> list[dict[str, Any]]:
    """The reference path: codeshield's own per-snippet ``analyze`` (one semgrep process)."""
    cs = _codeshield()
    issues = asyncio.run(cs["icd"].analyze(_language(snippet.language), snippet.code, snippet.code_before))
    return canonical(issues)


# --------------------------------------------------------------------------------------------
# cache


def default_cache_dir() -> Path:
    """``$CUB_CACHE_DIR``, else the platform's user cache dir for code-unlearn-bench."""
    from code_unlearn_bench.env import get_env

    return get_env().cache_dir


@functools.lru_cache(maxsize=None)
def detector_version() -> str:
    """Findings depend on the codeshield rules and the semgrep engine: both are in the cache key."""
    parts = []
    for dist in ("codeshield", "semgrep"):
        try:
            parts.append(f"{dist}=={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{dist}==?")
    return ";".join(parts)


def cache_key(snippet: Snippet) -> str:
    payload = json.dumps([CACHE_SCHEMA, detector_version(), snippet.language, snippet.code_before, snippet.code])
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class IcdCache:
    """Content-addressed store of analyses (SQLite: safe for concurrent processes, one file)."""

    def __init__(self, directory: str | os.PathLike | None = None):
        self.path = Path(directory or default_cache_dir()) / "icd.sqlite"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as db:
                db.execute("CREATE TABLE IF NOT EXISTS analyses (key TEXT PRIMARY KEY, issues TEXT NOT NULL)")
        except (OSError, sqlite3.Error) as exc:
            raise CubError(f"cannot use ICD cache {self.path}: {exc}") from None

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=60)

    def get_many(self, keys: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        found: dict[str, list[dict[str, Any]]] = {}
        with self._connect() as db:
            for start in range(0, len(keys), 500):  # SQLite caps bound parameters per statement
                chunk = list(keys[start:start + 500])
                marks = ",".join("?" * len(chunk))
                for key, issues in db.execute(f"SELECT key, issues FROM analyses WHERE key IN ({marks})", chunk):
                    found[key] = json.loads(issues)
        return found

    def put_many(self, items: dict[str, list[dict[str, Any]]]) -> None:
        with self._connect() as db:
            db.executemany("INSERT OR REPLACE INTO analyses VALUES (?, ?)",
                           [(k, json.dumps(v, sort_keys=True)) for k, v in items.items()])


# --------------------------------------------------------------------------------------------
# batched detector


def _regex_issues(cs: dict, language, code: str) -> list[Any]:
    """codeshield's regex analysis (``_regex_analyze``) without its per-call thread pool."""
    patterns = cs["patterns"].load(language, cs["Engine"].REGEX, cs["UseCase"].CYBERSECEVAL)
    return [issue for pattern in patterns for issue in cs["icd"]._search_pattern(pattern, code)]


def _semgrep_config(cs: dict, language) -> str:
    """The rule file codeshield's ``_semgrep_analyze`` picks for this language."""
    root = cs["oss"].SEMGREP_RULE_REPO_PATH
    generated = root / "_generated_" / f"{language.value}_{cs['UseCase'].CYBERSECEVAL.value}.json"
    return str(generated if generated.exists() else root / language)


def _run_semgrep(cs: dict, config: str, targets: list[str], cwd: str) -> dict[str, Any]:
    # codeshield adds "--project-root /"; semgrep >= 1.101 then scans nothing, and explicit file
    # targets in a fresh temp dir need no project root, so it is left out here. ``cwd`` is that
    # temp dir: semgrep's rule ids then never carry the user's working directory (see rule_id).
    command = cs["oss"].SEMGREP_COMMAND + [config] + targets
    try:
        proc = subprocess.run(command, capture_output=True, text=True, check=False, cwd=cwd)
    except OSError as exc:
        raise CubError(f"cannot run semgrep ({exc})") from None
    try:
        output = json.loads(proc.stdout)
    except json.JSONDecodeError:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise CubError(f"semgrep failed with exit code {proc.returncode}: "
                       f"{detail[0][:200] if detail else 'no output'}") from None
    errors = output.get("errors", [])
    if proc.returncode != 0 and not any(e.get("type") == "Rule parse error" for e in errors):
        # A rule this semgrep cannot parse (semgrep 1.100: Java's ssrf_insecure_patterns) makes
        # semgrep exit 2 on some files, yet every other rule's findings are reported, and codeshield
        # keeps them: so do we (broken_rules() lists such rules in the protocol). Any other failure
        # must not pass for "no finding".
        first = errors[0].get("message", "") if errors else (proc.stderr or "").strip()
        raise CubError(f"semgrep failed with exit code {proc.returncode}: {first.splitlines()[0][:200] if first else 'no detail'}")
    scanned = output.get("paths", {}).get("scanned")
    if targets and scanned is not None and not scanned:
        # The silent-zero failure mode (e.g. an incompatible semgrep release): refuse to report passes.
        raise CubError(f"semgrep scanned none of {len(targets)} files; use semgrep>1.68,<1.101")
    return output


SEMGREP_CHUNK = 1000  # files per semgrep process: bounds the command line and semgrep's memory


def _semgrep_batch(cs: dict, language, snippets: list[Snippet]) -> list[list[Any]]:
    """One semgrep run (per chunk) over a temp tree with one file per snippet."""
    found: list[list[Any]] = [[] for _ in snippets]
    ext = cs["ext"](language)
    with tempfile.TemporaryDirectory(prefix="cub-icd-") as tmp:
        root = Path(os.path.realpath(tmp))
        paths = []
        for i, snip in enumerate(snippets):
            # Same file content as codeshield's _write_code_to_file (before + code, no code after).
            path = root / f"s{i}{ext}"
            path.write_text((snip.code_before or "") + snip.code, encoding="utf-8")
            paths.append(str(path))
        index = {p: i for i, p in enumerate(paths)}
        config = _semgrep_config(cs, language)
        for start in range(0, len(paths), SEMGREP_CHUNK):
            output = _run_semgrep(cs, config, paths[start:start + SEMGREP_CHUNK], cwd=str(root))
            for issue in cs["icd"]._parse_semgrep_issues(json.dumps(output)):
                issue.pattern_id, issue.name = rule_id(issue.pattern_id), rule_id(issue.name)
                i = index.get(os.path.realpath(issue.path)) if issue.path else None
                if i is None:
                    raise CubError(f"semgrep reported an unknown file '{issue.path}'")
                found[i].append(issue)
    return [cs["icd"]._filter_issues_in_generated_code(issues, snip.code, snip.code_before)
            for issues, snip in zip(found, snippets)]


@functools.lru_cache(maxsize=None)
def broken_rules(language: str) -> tuple[str, ...]:
    """Ids of the codeshield semgrep rules for ``language`` that this semgrep release fails to
    parse (semgrep 1.100: Java's ``ssrf_insecure_patterns``), found by scanning an empty file.
    Such a rule never fires, in codeshield's per-snippet path as in the batch; the analyzer
    reports the list in its protocol so the gap is visible."""
    cs = _codeshield()
    lang = _language(language)
    with tempfile.TemporaryDirectory(prefix="cub-icd-") as tmp:
        empty = Path(os.path.realpath(tmp)) / f"empty{cs['ext'](lang)}"
        empty.write_text("", encoding="utf-8")
        output = _run_semgrep(cs, _semgrep_config(cs, lang), [str(empty)], cwd=str(empty.parent))
    return tuple(sorted({rule_id(e.get("rule_id")) or "?" for e in output.get("errors", [])
                         if e.get("type") == "Rule parse error"}))


def semgrep_languages() -> list[str]:
    cs = _codeshield()
    return sorted(lang.value for lang, engines in cs["icd"].LANGUAGE_ANALYZER_MAP.items()
                  if cs["Engine"].SEMGREP in engines)


@functools.lru_cache(maxsize=None)
def check_semgrep_fires() -> None:
    """Run a semgrep-only rule on a snippet it must flag; raise if semgrep silently finds nothing."""
    cs = _codeshield()
    canary = Snippet("python", 'os.system("ls " + path)\n', "import os\n")
    issues = _semgrep_batch(cs, _language("python"), [canary])
    seen = sorted({str(i.pattern_id) for i in issues[0]})
    if "insecure-os-system-use" in seen:
        return
    if seen:  # it fired, under another name: say what it saw rather than blame the version
        raise CubError(f"semgrep self-check: semgrep reported {', '.join(repr(s) for s in seen)} instead of "
                       f"'insecure-os-system-use' on a known os.system call (rules at {cs['oss'].SEMGREP_RULE_REPO_PATH})")
    raise CubError("semgrep ran but its rules do not fire on a known os.system call "
                   "(check the semgrep version: >1.68,<1.101)")


class BatchDetector:
    """Analyse many snippets with codeshield's rules: regex in-process, one semgrep run per language.

    ``analyze`` returns, per snippet, the canonical issue list (``canonical``) that the per-snippet
    path ``analyze_one`` returns for it.
    """

    def __init__(self, cache: IcdCache | None = None):
        self.cache = cache

    def analyze(self, snippets: Sequence[Snippet]) -> list[list[dict[str, Any]]]:
        keys = [cache_key(s) for s in snippets]
        cached = self.cache.get_many(sorted(set(keys))) if self.cache else {}
        todo: dict[str, Snippet] = {k: s for k, s in zip(keys, snippets) if k not in cached}
        fresh = self._analyze_uncached(list(todo.items()))
        if self.cache and fresh:
            self.cache.put_many(fresh)
        results = {**cached, **fresh}
        return [results[k] for k in keys]

    def _analyze_uncached(self, items: list[tuple[str, Snippet]]) -> dict[str, list[dict[str, Any]]]:
        if not items:
            return {}
        cs = _codeshield()
        engines = cs["icd"].LANGUAGE_ANALYZER_MAP
        by_language: dict[Any, list[tuple[str, Snippet]]] = {}
        for key, snip in items:
            by_language.setdefault(_language(snip.language), []).append((key, snip))
        out: dict[str, list[dict[str, Any]]] = {}
        for language, group in by_language.items():
            issues: list[list[Any]] = [[] for _ in group]
            if cs["oss"].ENABLE_REGEX_ANALYZER and cs["Engine"].REGEX in engines.get(language, []):
                for n, (_, snip) in enumerate(group):
                    issues[n] += _regex_issues(cs, language, snip.code)
            if cs["oss"].ENABLE_SEMGREP and cs["Engine"].SEMGREP in engines.get(language, []):
                check_semgrep_fires()
                for n, found in enumerate(_semgrep_batch(cs, language, [s for _, s in group])):
                    issues[n] += found
            for (key, _), found in zip(group, issues):
                out[key] = canonical(found)
        return out
