"""`cub leaderboard submit` validation and `cub leaderboard build` output (static HTML checks)."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest

from code_unlearn_bench.leaderboard import submit as submit_mod
from code_unlearn_bench.ranking import synthetic

HOSTILE = "<script>alert(1)</script>"


def registered(name):
    """Stand-in for the task registry: the synthetic runs' versions and data hashes."""
    if name not in synthetic.TASKS:
        from code_unlearn_bench.errors import CubError

        raise CubError(f"unknown task '{name}'")
    return synthetic.TASKS[name][3], synthetic.data_hash(name)


@pytest.fixture(autouse=True)
def fake_registry(monkeypatch, synthetic_verifier):
    monkeypatch.setattr(submit_mod, "registered_task", registered)
    monkeypatch.setattr(submit_mod, "verify_run", synthetic_verifier)


@pytest.fixture
def site(tmp_path, cub):
    runs = synthetic.write_demo_set(tmp_path / "runs")
    runs.append(synthetic.write_run(tmp_path / "runs" / "hostile", synthetic.results(
        HOSTILE, {"copyright": 0.6, "humaneval": 0.25, "heldout": 1.3}, method="<b>npo</b>", epoch=1)))
    for run in runs:
        code, out, err = cub("leaderboard", "submit", run, "--to", tmp_path / "subs")
        assert code == 0, err
    code, out, err = cub("leaderboard", "build", "--submissions", tmp_path / "subs", "--out", tmp_path / "site")
    assert code == 0, err
    return tmp_path / "site"


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.urls, self.text = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.urls += [v for k, v in attrs if k in ("src", "href") and v]

    def handle_data(self, data):
        self.text.append(data)


def parse(path):
    c = _Collector()
    c.feed(path.read_text(encoding="utf-8"))
    return c


def test_submission_is_normalised(tmp_path, cub):
    doc = synthetic.results("m1", {"copyright": 0.5, "humaneval": 0.2})
    doc["tasks"]["copyright"]["breakdown"] = {"per_file": [1, 2, 3]}
    run = synthetic.write_run(tmp_path / "run", doc)
    code, out, _ = cub("leaderboard", "submit", run, "--to", tmp_path / "subs")
    assert code == 0
    files = list((tmp_path / "subs").glob("*.json"))
    assert len(files) == 1 and files[0].name.startswith("m1-") and str(files[0]) in out
    stored = json.loads(files[0].read_text())
    assert stored["submission"]["id"] == files[0].stem
    assert "breakdown" not in stored["tasks"]["copyright"]
    assert stored["tasks"]["copyright"]["metrics"] == doc["tasks"]["copyright"]["metrics"]
    # the same model+config again is refused unless forced
    code, _, err = cub("leaderboard", "submit", run, "--to", tmp_path / "subs")
    assert code == 2 and "--force" in err
    assert cub("leaderboard", "submit", run, "--to", tmp_path / "subs", "--force")[0] == 0


def test_bad_submission_lists_every_problem(tmp_path, cub):
    doc = synthetic.results("bad", {"copyright": 0.5, "insecure": 0.4})  # no utility task
    doc["tasks"]["copyright"]["task"]["data_hash"] = synthetic.sha256("my own data")
    doc["tasks"]["insecure"]["task"]["version"] = "0.9"
    run = synthetic.write_run(tmp_path / "run", doc)
    code, out, err = cub("leaderboard", "submit", run, "--to", tmp_path / "subs", "--require", "copyright,deprecated")
    assert code == 2 and not (tmp_path / "subs").exists()
    problems = [line for line in err.splitlines() if line.startswith("  - ")]
    assert len(problems) == 3, err
    assert "required task 'deprecated' is missing" in err
    assert "task 'copyright': data hash" in err and "differs from the registered default data" in err
    assert "task 'insecure': version 0.9 but the registered task is version 1.0" in err


def test_schema_errors_and_unregistered_tasks(tmp_path, cub):
    doc = synthetic.results("bad", {"copyright": 0.5, "humaneval": 0.2})
    doc["tasks"]["copyright"]["metrics"]["forget_quality"]["n"] = -1
    doc["seed"] = "zero"
    run = synthetic.write_run(tmp_path / "run", doc)
    errors = submit_mod.validate(json.loads((run / "results.json").read_text()))
    assert len(errors) == 2 and all(e.startswith("schema: at ") for e in errors)
    assert any("tasks.copyright.metrics.forget_quality.n" in e for e in errors)
    doc = synthetic.results("odd", {"copyright": 0.5, "humaneval": 0.2})
    doc["tasks"]["mystery"] = {**doc["tasks"]["humaneval"], "task": {**doc["tasks"]["humaneval"]["task"],
                                                                     "name": "mystery"}}
    assert submit_mod.validate(doc) == ["task 'mystery': not a registered task (unknown task 'mystery')"]


def test_site_is_self_contained_and_escaped(site):
    index = site / "index.html"
    html = index.read_text(encoding="utf-8")
    assert HOSTILE not in html and "<b>npo</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    page = parse(index)
    assert page.tags.count("script") == 1  # only the local sort.js
    assert HOSTILE in page.text  # ...the name is there, as text
    for url in page.urls:  # no CDN, nothing remote, every local file exists
        assert not re.match(r"^[a-z]+:", url) or url.startswith("#"), url
        assert (site / url).is_file(), url
    assert {"static/sort.js", "static/style.css", "plots/tradeoff-copyright.png"} <= set(page.urls)
    assert (site / "plots" / "tradeoff-copyright.png").read_bytes().startswith(b"\x89PNG")
    data = json.loads((site / "data" / "leaderboard.json").read_text())
    assert data["rankings"][0]["forget_task"] == "copyright"
    assert "run" not in data["rankings"][0]["models"][0]  # no builder-local paths published


def test_tables_have_pdr_and_sort_keys(site):
    html = (site / "index.html").read_text(encoding="utf-8")
    assert "PDR per model" in html and "PDR pooled" in html
    # prod-e3 dominates ga-e1, ga-e2 and the hostile npo checkpoint (.6,.25): 3 of 7
    row = re.search(r'<tr>\s*<td data-sort="1">1</td>\s*<td data-sort="prod-e3">.*?</tr>', html, re.S)
    assert row and 'data-sort="0.42857142857142855">42.9%' in row.group(0)


def test_model_pages(site):
    pages = sorted((site / "models").glob("*.html"))
    assert len(pages) == 8
    hostile = next(p for p in pages if p.name.startswith("script-alert-1-script-"))
    html = hostile.read_text(encoding="utf-8")
    assert HOSTILE not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    text = " ".join(parse(hostile).text)
    for expected in ("0.600 [0.580, 0.620]", "forget_quality (primary)", "lower is better", "Config hash",
                     synthetic.data_hash("copyright"), "torch", "2.5.0", "batch_size", "\"method\": \"<b>npo</b>\"",
                     "Comparability key", "generations re-scored via the `cub score` path"):
        assert expected in text, expected


def test_build_errors(tmp_path, cub):
    code, _, err = cub("leaderboard", "build", "--submissions", tmp_path / "none", "--out", tmp_path / "site")
    assert code == 2 and "no submissions folder" in err
    (tmp_path / "empty").mkdir()
    code, _, err = cub("leaderboard", "build", "--submissions", tmp_path / "empty", "--out", tmp_path / "site")
    assert code == 2 and "cub leaderboard submit" in err


REAL_LOOKUP = submit_mod.registered_task  # captured before the autouse fixture patches it


def test_real_registry_lookup_matches_the_task_registry():
    from code_unlearn_bench.tasks import spec as task_spec

    reg = REAL_LOOKUP("heldout")
    task = task_spec.get_task("heldout")
    assert reg.version == task.version and reg.data_hash == task.data_hash() and reg.data_hash.startswith("sha256:")
    assert reg.n == 164 == len(reg.ids) and reg.canonical == task.canonical_settings()
    errors = submit_mod.validate(synthetic.results("m", {"copyright": 0.5, "heldout": 1.0}), lookup=REAL_LOOKUP)
    # the synthetic runs use made-up data hashes: the real registry must reject them
    assert any("task 'heldout': data hash" in e for e in errors)


def test_limited_runs_are_refused():
    doc = synthetic.results("m", {"copyright": 0.5, "humaneval": 0.2})
    doc["config"]["limit"] = 5
    assert submit_mod.validate(doc) == ["run with --limit 5: a submission must cover every sample of its tasks"]


# --- attack submissions and robustness columns ----------------------------------------------------
HOSTILE_REASON = "<img src=x onerror=alert(2)> keeps 7% of the original utility"


@pytest.fixture
def attack_site(tmp_path, cub):
    runs = synthetic.write_demo_set(tmp_path / "runs")
    for run in runs:
        assert cub("leaderboard", "submit", run, "--to", tmp_path / "subs")[0] == 0
    attacks = {
        "prod-e3": synthetic.attack_results("prod-e3", {"k=0": 0.85, "k=8": 0.70, "k=32": 0.75}),
        "ga-e2": synthetic.attack_results("ga-e2", {"k=0": 0.80, "k=32": 0.60}),
        "ga-e3": synthetic.attack_results("ga-e3", skipped=HOSTILE_REASON),
    }
    for name, doc in attacks.items():
        code, out, err = cub("leaderboard", "submit-attack", synthetic.write_run(tmp_path / "atk" / name, doc),
                             "--to", tmp_path / "subs")
        assert code == 0, err
        assert "/attacks/" in out
    code, out, err = cub("leaderboard", "build", "--submissions", tmp_path / "subs", "--out", tmp_path / "site")
    assert code == 0, err
    return tmp_path / "site"


def test_submit_attack_is_validated(tmp_path, cub):
    run = synthetic.write_run(tmp_path / "runs" / "m1", synthetic.results("m1", {"copyright": 0.5, "humaneval": 0.2}))
    assert cub("leaderboard", "submit", run, "--to", tmp_path / "subs")[0] == 0
    # evaluate runs go through `submit`; attack runs are refused there
    code, _, err = cub("leaderboard", "submit-attack", run, "--to", tmp_path / "subs")
    assert code == 2 and "kind is 'evaluate'" in err and err.count("\n") == 1
    atk = synthetic.write_run(tmp_path / "atk", synthetic.attack_results("m1"))
    code, _, err = cub("leaderboard", "submit", atk, "--to", tmp_path / "subs")
    assert code == 2 and "only evaluate results can be submitted" in err
    # the attacked model must have a submission
    other = synthetic.write_run(tmp_path / "other", synthetic.attack_results("someone-else"))
    code, _, err = cub("leaderboard", "submit-attack", other, "--to", tmp_path / "subs")
    assert code == 2 and "matches no submission" in err and "cub leaderboard submit" in err and err.count("\n") == 1
    code, _, err = cub("leaderboard", "submit-attack", atk, "--to", tmp_path / "nowhere")
    assert code == 2 and "no submissions folder" in err
    # other data than the submission's, schema problems
    doc = synthetic.attack_results("m1")
    doc["tasks"]["copyright"]["task"]["data_hash"] = synthetic.sha256("my own data")
    code, _, err = cub("leaderboard", "submit-attack", synthetic.write_run(tmp_path / "d", doc),
                       "--to", tmp_path / "subs")
    assert code == 2 and "task 'copyright': data hash" in err and "differs from the submission" in err
    doc = synthetic.attack_results("m1")
    doc["model"]["fingerprint"] = "md5:nope"
    code, _, err = cub("leaderboard", "submit-attack", synthetic.write_run(tmp_path / "s", doc),
                       "--to", tmp_path / "subs")
    assert code == 2 and "schema: at model.fingerprint" in err
    # accepted once; again only with --force
    code, out, err = cub("leaderboard", "submit-attack", atk, "--to", tmp_path / "subs")
    assert code == 0, err
    stored = json.loads(next((tmp_path / "subs" / "attacks").glob("*.json")).read_text())
    assert stored["kind"] == "attack" and stored["submission"]["models"] == [
        p.stem for p in (tmp_path / "subs").glob("*.json")]
    assert cub("leaderboard", "submit-attack", atk, "--to", tmp_path / "subs")[0] == 2
    assert cub("leaderboard", "submit-attack", atk, "--to", tmp_path / "subs", "--force")[0] == 0


def test_robustness_column_is_sortable_and_escaped(attack_site):
    html = (attack_site / "index.html").read_text(encoding="utf-8")
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(2)&gt;" in html
    assert parse(attack_site / "index.html").tags.count("script") == 1
    section = html[html.index('<section id="task-copyright">'):]
    assert '<th data-type="number" title="largest effect of the prefix attack' in section
    assert ">Effect of prefix attack</th>" in section and ">Mean effect of prefix attack</th>" in section
    # one cell per model row: the effect (sort key = value), skipped with its reason, or not attacked
    prod = re.search(r'<td data-sort="prod-e3">.*?</tr>', section, re.S).group(0)
    assert re.search(r'<td data-sort="0\.15\d*" title="forget_quality@k=32 under attack: 0\.750 \[0\.700, 0\.800\] '
                     r'\(k=32\)">\+0\.150 \(k=8\)</td>', prod), prod
    ga3 = re.search(r'<td data-sort="ga-e3">.*?</tr>', section, re.S).group(0)
    assert '<td data-sort="" title="skipped: &lt;img' in ga3 and ">skipped: &lt;img src=x" in ga3
    ga1 = re.search(r'<td data-sort="ga-e1">.*?</tr>', section, re.S).group(0)
    assert '<td data-sort="" title="missing: no prefix attack run of this model">not attacked</td>' in ga1
    data = json.loads((attack_site / "data" / "leaderboard.json").read_text())
    assert data["rankings"][0]["attacks"] == ["prefix"]
    assert not any("/" in note for note in data["rankings"][0]["notes"])  # no builder-local paths


def test_model_page_shows_attack_details(attack_site):
    pages = sorted((attack_site / "models").glob("*.html"))
    assert len(pages) == 7  # attack submissions get no page of their own
    prod = next(p for p in pages if p.name.startswith("prod-e3-"))
    text = " ".join(parse(prod).text)
    for expected in ("Attacks", "prefix on copyright", "eligible: keeps >= 60% of the original utility",
                     "forget_quality@k=32", "0.750 [0.700, 0.800]", "+0.150", "(k=8)", "effect_of_attack@k=8",
                     "k=0, k=8, k=32"):
        assert expected in text, expected
    ga3 = next(p for p in pages if p.name.startswith("ga-e3-")).read_text(encoding="utf-8")
    assert "<img src=x" not in ga3 and "skipped: &lt;img src=x onerror=alert(2)&gt;" in ga3
    plain = next(p for p in pages if p.name.startswith("ga-e1-")).read_text(encoding="utf-8")
    assert 'id="attacks"' not in plain


def test_site_without_attacks_has_no_robustness_column(site):
    html = (site / "index.html").read_text(encoding="utf-8")
    assert "Effect of" not in html and "Robustness" not in html


def test_build_shows_only_verified_submissions_made_alike(tmp_path, cub):
    subs = tmp_path / "subs"
    subs.mkdir()
    doc = synthetic.results("m1", {"copyright": 0.5, "humaneval": 0.2})
    (subs / "m1.json").write_text(json.dumps(submit_mod.normalise(doc)))  # placed by hand: never re-scored
    code, _, err = cub("leaderboard", "build", "--submissions", subs, "--out", tmp_path / "site")
    assert code == 2 and "m1.json is not a verified submission" in err and not (tmp_path / "site").exists()
    verified = submit_mod.normalise(doc, rescored={})
    (subs / "m1.json").write_text(json.dumps(verified))
    assert cub("leaderboard", "build", "--submissions", subs, "--out", tmp_path / "site")[0] == 0
    other = synthetic.results("m2", {"copyright": 0.6, "humaneval": 0.2})
    other["tasks"]["copyright"]["generation"] = {"max_new_tokens": 3}
    (subs / "m2.json").write_text(json.dumps(submit_mod.normalise(other, rescored={})))
    code, _, err = cub("leaderboard", "build", "--submissions", subs, "--out", tmp_path / "site2")
    assert code == 2 and "were made differently on task 'copyright'" in err
    assert "generation.max_new_tokens null vs 3" in err


def test_privleak_on_the_site(tmp_path, cub):
    runs = synthetic.write_demo_set(tmp_path / "runs")
    for run in runs:
        assert cub("leaderboard", "submit", run, "--to", tmp_path / "subs")[0] == 0
    atk = synthetic.write_run(tmp_path / "atk", synthetic.mia_results("prod-e3", 0.8, 0.6))
    assert cub("leaderboard", "submit-attack", atk, "--to", tmp_path / "subs")[0] == 0
    code, _, err = cub("leaderboard", "build", "--submissions", tmp_path / "subs", "--out", tmp_path / "site")
    assert code == 0, err
    html = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    section = html[html.index('<section id="task-copyright">'):]
    assert ">PrivLeak (mia)</th>" in section and ">Mean PrivLeak (mia)</th>" in section
    prod = re.search(r'<td data-sort="prod-e3">.*?</tr>', section, re.S).group(0)
    assert re.search(r'<td data-sort="0\.6" title="mia_auc@min_k under attack: 0\.800 [^"]*">\+0\.600 \(PrivLeak\)</td>',
                     prod), prod
    page = next((tmp_path / "site" / "models").glob("prod-e3-*.html")).read_text(encoding="utf-8")
    assert "privleak@min_k" in page and "0.600 [0.500, 0.700]" in page
