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
def fake_registry(monkeypatch):
    monkeypatch.setattr(submit_mod, "registered_task", registered)


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
                     synthetic.data_hash("copyright"), "torch", "2.5.0", "batch_size", "\"method\": \"<b>npo</b>\""):
        assert expected in text, expected


def test_build_errors(tmp_path, cub):
    code, _, err = cub("leaderboard", "build", "--submissions", tmp_path / "none", "--out", tmp_path / "site")
    assert code == 2 and "no submissions folder" in err
    (tmp_path / "empty").mkdir()
    code, _, err = cub("leaderboard", "build", "--submissions", tmp_path / "empty", "--out", tmp_path / "site")
    assert code == 2 and "cub leaderboard submit" in err


REAL_LOOKUP = submit_mod.registered_task  # captured before the autouse fixture patches it


def test_real_registry_lookup_matches_the_task_registry():
    from code_unlearn_bench import tasks_registry

    version, data_hash = REAL_LOOKUP("heldout")
    task = tasks_registry.get_task("heldout")
    assert version == task.version and data_hash == task.data_hash() and data_hash.startswith("sha256:")
    errors = submit_mod.validate(synthetic.results("m", {"copyright": 0.5, "heldout": 1.0}), lookup=REAL_LOOKUP)
    # the synthetic runs use made-up data hashes: the real registry must reject them
    assert any("task 'heldout': data hash" in e for e in errors)


def test_limited_runs_are_refused():
    doc = synthetic.results("m", {"copyright": 0.5, "humaneval": 0.2})
    doc["config"]["limit"] = 5
    assert submit_mod.validate(doc) == ["run with --limit 5: a submission must cover every sample of its tasks"]
