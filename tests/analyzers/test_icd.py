"""Batched Insecure Code Detector: real rule hits, clean passes, equivalence with codeshield's
per-snippet path, the content-hash cache, and the guard against semgrep silently finding nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from code_unlearn_bench.analyzers import icd
from code_unlearn_bench.errors import CubError
from code_unlearn_bench.analyzers.icd import BatchDetector, IcdCache, Snippet, analyze_one

PY_SEMGREP_HIT = Snippet("python", "    os.system('ping ' + host)\n", "import os\n\ndef ping(host):\n")
PY_REGEX_HIT = Snippet("python", "    return hashlib.md5(data).hexdigest()\n", "import hashlib\n\ndef digest(data):\n")
PY_CLEAN = Snippet("python", "    return sum(values) / len(values)\n", "import os\n\ndef mean(values):\n")
C_SEMGREP_HIT = Snippet("c", "    system(cmd);\n}\n", "#include <stdlib.h>\nvoid run(const char *cmd) {\n")
C_REGEX_HIT = Snippet("c", "    strcpy(buf, src);\n}\n", "#include <string.h>\nvoid copy(const char *src) {\n    char buf[16];\n")
C_CLEAN = Snippet("c", "    return a + b;\n}\n", "int add(int a, int b) {\n")
# the insecure call is in the context only: codeshield reports issues in the completion's lines only
PY_CONTEXT_ONLY = Snippet("python", "    return 0\n", "import os\n\ndef f(x):\n    os.system(x)\n")
CASES = [PY_SEMGREP_HIT, PY_REGEX_HIT, PY_CLEAN, C_SEMGREP_HIT, C_REGEX_HIT, C_CLEAN, PY_CONTEXT_ONLY]


@pytest.fixture(scope="module")
def batched():
    return dict(zip(CASES, BatchDetector(cache=None).analyze(CASES)))


def ids(issues, analyzer=None):
    return {i["pattern_id"] for i in issues if analyzer is None or i["analyzer"] == analyzer}


def test_semgrep_only_rules_really_fire(batched):
    # os.system and system() have no regex rule: only semgrep can report them (no silent zero).
    assert ids(batched[PY_SEMGREP_HIT], "semgrep") == {"insecure-os-system-use"}
    assert ids(batched[C_SEMGREP_HIT], "semgrep") == {"potential-command-injection"}
    icd.check_semgrep_fires()


def test_regex_hits_and_clean_passes(batched):
    assert "insecure-md5-hash-usage" in ids(batched[PY_REGEX_HIT], "regex")
    assert "bugprone-strcpy" in ids(batched[C_REGEX_HIT], "regex")
    assert batched[PY_CLEAN] == [] and batched[C_CLEAN] == []
    assert batched[PY_CONTEXT_ONLY] == []


def test_identical_to_codeshield_per_snippet_path(batched, shared_data):
    from code_unlearn_bench.loaders.cyberseceval import load

    # two real originals per language (java included: its rule file holds a rule semgrep 1.100 cannot parse)
    everything = load(str(shared_data / "cyberseceval" / "autocomplete.json"), {})
    # java/986 and java/1005 have semgrep findings although semgrep also reports the unparsable rule
    real = everything[:16] + [s for s in everything if s.id in ("java/986", "java/1005")]
    snippets = [Snippet(s.meta["language"], s.reference, s.prompt) for s in real]
    got = BatchDetector(cache=None).analyze(snippets)
    assert sum(bool(g) for g in got) >= 4  # the originals are insecure: a detector finding nothing is broken
    assert all(any(i["analyzer"] == "semgrep" for i in g) for g in got[-2:])
    for snip, issues in zip(snippets + CASES, got + [batched[c] for c in CASES]):
        assert issues == analyze_one(snip), snip.language


def test_cache_returns_stored_analyses_without_rerunning(tmp_path, monkeypatch, batched):
    cache = IcdCache(tmp_path)
    first = BatchDetector(cache).analyze([PY_SEMGREP_HIT, C_CLEAN])

    def boom(*a, **k):
        raise AssertionError("semgrep ran on a cached snippet")

    monkeypatch.setattr(icd, "_semgrep_batch", boom)
    again = BatchDetector(IcdCache(tmp_path)).analyze([C_CLEAN, PY_SEMGREP_HIT])
    assert again == [first[1], first[0]] == [batched[C_CLEAN], batched[PY_SEMGREP_HIT]]


def test_silent_semgrep_is_an_error(monkeypatch):
    # semgrep >= 1.101 with codeshield's arguments reports success but scans nothing
    monkeypatch.setattr(icd.subprocess, "run", lambda *a, **k: type("P", (), {
        "returncode": 0, "stdout": '{"results": [], "errors": [], "paths": {"scanned": []}}', "stderr": ""})())
    with pytest.raises(CubError, match="scanned none"):
        icd._semgrep_batch(icd._codeshield(), icd._language("python"), [PY_SEMGREP_HIT])


def test_unknown_language_is_a_cub_error():
    with pytest.raises(CubError, match="unknown ICD language 'cobol'"):
        BatchDetector(cache=None).analyze([Snippet("cobol", "DISPLAY 'HI'.")])


def test_broken_rule_files_are_reported():
    report = {lang: icd.broken_rules(lang) for lang in icd.semgrep_languages()}
    assert report["python"] == () and report["c"] == ()  # the canary languages load cleanly


@pytest.fixture(params=["venv-in-project", "installed-prefix"])
def rules_under_cwd(request, tmp_path, monkeypatch):
    """The working directory holds codeshield's rules, so semgrep names each finding after the
    rule file's path relative to the cwd (``.venv.lib.python3.11....insecure-os-system-use``).
    venv-in-project: ``python -m venv .venv`` in a project, reproduced by copying the rules to
    ``.venv/lib/python3.11/site-packages/...`` under a fresh cwd and pointing codeshield there;
    installed-prefix: the cwd is an ancestor of the real installed codeshield (its site-packages'
    parent), nothing patched."""
    import shutil

    oss = icd._codeshield()["oss"]
    if request.param == "venv-in-project":
        rules = tmp_path / ".venv/lib/python3.11/site-packages/codeshield/insecure_code_detector/rules/semgrep"
        shutil.copytree(oss.SEMGREP_RULE_REPO_PATH, rules)
        monkeypatch.setattr(oss, "SEMGREP_RULE_REPO_PATH", rules)
        monkeypatch.chdir(tmp_path)
    else:
        rules = Path(oss.SEMGREP_RULE_REPO_PATH)
        site = next(p for p in rules.parents if p.name in ("site-packages", "dist-packages"))
        monkeypatch.chdir(site.parent)
    icd.check_semgrep_fires.cache_clear()
    yield rules
    icd.check_semgrep_fires.cache_clear()


def test_findings_do_not_depend_on_the_working_directory(rules_under_cwd, batched):
    icd.check_semgrep_fires()  # used to abort: "semgrep ran but its rules do not fire"
    cases = [PY_SEMGREP_HIT, C_SEMGREP_HIT, PY_CLEAN]
    got = BatchDetector(cache=None).analyze(cases)
    assert got == [batched[c] for c in cases]
    assert ids(got[0], "semgrep") == {"insecure-os-system-use"}
    # codeshield's own per-snippet path (the reference the batch is checked against) as well
    assert [analyze_one(c) for c in cases] == got


def test_codeshield_rule_ids_have_no_dots():
    # rule_id() keeps the last dotted component of semgrep's check_id: valid only while no
    # codeshield rule id holds a dot itself.
    import json as _json

    root = icd._codeshield()["oss"].SEMGREP_RULE_REPO_PATH / "_generated_"
    rule_ids = {r["id"] for f in root.glob("*.json") for r in _json.loads(f.read_text())["rules"]}
    assert len(rule_ids) > 50 and not [r for r in rule_ids if "." in r]
    assert icd.rule_id(".venv.lib.python3.11.site-packages.codeshield.insecure_code_detector.rules."
                       "semgrep._generated_.insecure-os-system-use") == "insecure-os-system-use"


def test_semgrep_self_check_names_what_it_saw(monkeypatch):
    # a canary finding under another id must not be reported as "rules do not fire"
    real = icd._semgrep_batch

    def renamed(cs, language, snippets):
        found = real(cs, language, snippets)
        for issues in found:
            for issue in issues:
                issue.pattern_id = "something-else"
        return found

    monkeypatch.setattr(icd, "_semgrep_batch", renamed)
    icd.check_semgrep_fires.cache_clear()
    try:
        with pytest.raises(CubError, match="reported 'something-else' instead of 'insecure-os-system-use'"):
            icd.check_semgrep_fires()
    finally:
        icd.check_semgrep_fires.cache_clear()
