"""The built leaderboard in a real headless browser (Debian's chromium + chromedriver via Selenium):
the table renders, sorting works, nothing logs a console error, the hostile model name is inert."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from pathlib import Path

import pytest

from code_unlearn_bench.leaderboard import build, submit
from code_unlearn_bench.ranking import synthetic

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
HOSTILE = "<script>alert(1)</script>"
HOSTILE_IMG = '<img src=x onerror="window.__pwned=1">'


@pytest.fixture(scope="module")
def site(tmp_path_factory, synthetic_verifier):
    root = tmp_path_factory.mktemp("browser_site")
    runs = synthetic.write_demo_set(root / "runs")
    runs.append(synthetic.write_run(root / "runs" / "hostile", synthetic.results(
        HOSTILE, {"copyright": 0.6, "humaneval": 0.25}, method=HOSTILE_IMG, epoch=1)))
    lookup = lambda name: (synthetic.TASKS[name][3], synthetic.data_hash(name))  # noqa: E731
    for run in runs:
        submit.submit(run, root / "subs", lookup=lookup, verifier=synthetic_verifier)
    # robustness column: two attacked checkpoints, one skipped (hostile reason), the rest not attacked
    for name, doc in (("prod-e3", synthetic.attack_results("prod-e3", {"k=0": 0.85, "k=8": 0.70, "k=32": 0.75})),
                      ("ga-e2", synthetic.attack_results("ga-e2", {"k=0": 0.80, "k=32": 0.60})),
                      ("ga-e3", synthetic.attack_results("ga-e3", skipped=HOSTILE_IMG))):
        submit.submit_attack(synthetic.write_run(root / "attacks" / name, doc), root / "subs")
    build.build_site(root / "subs", root / "site")
    return root / "site"


@pytest.fixture(scope="module")
def server(site):
    handler = functools.partial(_QuietHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture(scope="module")
def driver():
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip(f"needs Debian's chromium and chromium-driver ({CHROMIUM}, {CHROMEDRIVER} not found)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (pip install selenium)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1400,1000"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = webdriver.ChromeService(executable_path=CHROMEDRIVER)
    drv = webdriver.Chrome(options=options, service=service)
    drv.set_page_load_timeout(30)
    yield drv
    drv.quit()


def _errors(driver):
    return [entry for entry in driver.get_log("browser") if entry["level"] in ("SEVERE", "ERROR")]


def _column(table, index):
    return [row.find_elements("css selector", "td")[index].get_attribute("data-sort")
            for row in table.find_elements("css selector", "tbody tr")]


def _wait_ready(driver):
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 10).until(lambda d: d.find_elements("css selector", "table.sortable-ready"))


def test_table_renders_and_sorts(driver, server):
    driver.get(f"{server}/index.html")
    _wait_ready(driver)
    table = driver.find_element("css selector", "section#task-copyright table.sortable")
    assert len(table.find_elements("css selector", "tbody tr")) == 8
    headers = table.find_elements("css selector", "thead th")
    pdr_col = [h.text.rstrip(" ↕↑↓") for h in headers].index("PDR per model")

    headers[pdr_col].click()
    ascending = [float(v) for v in _column(table, pdr_col)]
    assert ascending == sorted(ascending) and ascending[0] < ascending[-1]
    assert headers[pdr_col].get_attribute("aria-sort") == "ascending"
    headers[pdr_col].click()
    descending = [float(v) for v in _column(table, pdr_col)]
    assert descending == sorted(descending, reverse=True)
    assert headers[pdr_col].get_attribute("aria-sort") == "descending"

    effect_col = [h.text.rstrip(" ↕↑↓") for h in headers].index("Effect of prefix attack")
    headers[effect_col].click()
    keys = _column(table, effect_col)
    assert [float(k) for k in keys[:2]] == pytest.approx([0.15, 0.2]) and keys[2:] == [""] * 6  # missing last
    headers[effect_col].click()
    assert [float(k) for k in _column(table, effect_col)[:2]] == pytest.approx([0.2, 0.15])

    name_col = [h.text.rstrip(" ↕↑↓") for h in headers].index("Model")
    headers[name_col].click()
    names = _column(table, name_col)
    assert names == sorted(names, key=str.lower)
    # the plot image loaded (naturalWidth is 0 for a broken image)
    img = driver.find_element("css selector", "section#task-copyright img")
    assert driver.execute_script("return arguments[0].naturalWidth", img) > 100
    assert _errors(driver) == []


def test_hostile_names_are_inert(driver, server):
    from selenium.common.exceptions import NoAlertPresentException

    driver.get(f"{server}/index.html")
    _wait_ready(driver)
    link = driver.find_element("css selector", "a[href^='models/script-alert-1-script-']")
    assert link.text == HOSTILE
    assert HOSTILE_IMG in driver.find_element("css selector", "section#task-copyright").text
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text  # noqa: B018 - raises when no alert() ran
    assert driver.execute_script("return window.__pwned === undefined")
    assert len(driver.find_elements("css selector", "script")) == 1  # only sort.js

    link.click()
    assert driver.find_element("css selector", "h1.model-name").text == HOSTILE
    assert driver.title.startswith(HOSTILE)
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text  # noqa: B018
    assert driver.execute_script("return window.__pwned === undefined")
    assert _errors(driver) == []


def test_works_from_the_file_system(driver, site):
    # People open a built site straight from disk too: the CSP must still allow the local assets.
    driver.get((site / "index.html").as_uri())
    _wait_ready(driver)
    color = driver.execute_script("return getComputedStyle(document.querySelector('header')).backgroundColor")
    assert color == "rgb(36, 41, 47)"  # style.css applied
    assert _errors(driver) == []
