"""The web app in a real browser: ``querygym serve`` on a free port, driven by headless Chromium.

Every request the pages make must go to the local server; any other is blocked and fails the test.
Set ``QUERYGYM_SCREENSHOTS=DIR`` to keep screenshots of the pages (the README's come from here).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

playwright_api = pytest.importorskip("playwright.sync_api")
pytest.importorskip("starlette")

import querygym  # noqa: E402
from querygym.runs.runner import run_agent  # noqa: E402
from tests.support import DATA, SPIDER  # noqa: E402

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
ROOT = Path(__file__).resolve().parents[2]
SHOTS = os.environ.get("QUERYGYM_SCREENSHOTS")

if not Path(CHROMIUM).exists():
    pytest.skip("no chromium on this machine (apt-get install chromium)", allow_module_level=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(*args: str):
    """``querygym serve ARGS`` on a free port, as a generator yielding its base URL (for fixtures)."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "querygym", "serve", *args, "--port", str(port)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}/" in line, line + (proc.stdout.read() if proc.poll() is not None else "")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    tasks = querygym.builtin_tasks()
    run_agent(tasks.select(["2", "3"]), {"name": "oracle"}, runs / "oracle", progress=None)
    yield from serve("--runs", str(runs))


@pytest.fixture(scope="module")
def spider_server(tmp_path_factory):
    """The app on Spider dev with an analysis of 20 of DIN-SQL's predictions (folder din_sql)."""
    if not (SPIDER / "dev.json").is_file():
        pytest.skip("../shared/data/spider_dev is absent")
    dataset = ["--data", str(SPIDER / "dev.json"), "--db-root", str(SPIDER / "database"),
               "--tables", str(SPIDER / "tables.json")]
    tasks = querygym.load_tasks(SPIDER / "dev.json", db_root=SPIDER / "database", tables=SPIDER / "tables.json")
    out = tmp_path_factory.mktemp("analyses") / "din_sql"
    querygym.analyze(DATA / "predictions" / "spider_dev" / "din_sql_gpt4" / "pred.sql", tasks, out,
                     only=[*range(10), 16, 23, 37, 54, 65, 66, 75, 312, 429, 632])
    yield from serve(*dataset, "--analyses", str(out))


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def local_page(browser, server):
    """A page whose requests may go only to ``server``; fails the test on any other request or a script error."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    outside, errors = [], []

    def only_local(route):
        if route.request.url.startswith(server + "/") or route.request.url.startswith("data:"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    pg.route("**/*", only_local)
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    context.close()
    assert not outside, f"requests to other hosts: {outside}"
    assert not errors, f"script errors: {errors}"


@pytest.fixture
def page(browser, server):
    yield from local_page(browser, server)


@pytest.fixture
def spider_page(browser, spider_server):
    yield from local_page(browser, spider_server)


def shot(pg, name):
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        pg.screenshot(path=str(Path(SHOTS) / name), full_page=True)


def test_play_a_task_to_success_through_the_forms(page, server):
    page.goto(server + "/tasks/3")
    page.get_by_label("Action", exact=True).fill('Action: ["get_tables"]')
    page.get_by_role("button", name="Step", exact=True).click()
    page.wait_for_selector("#step-1")
    page.select_option("#action-picker", "perform_filter")
    form = page.locator('form.action-form[data-action="perform_filter"]')
    form.get_by_label("table_id").fill("subscriptions")
    form.get_by_label("conditions").fill("status = 'A'")
    form.get_by_role("button").click()
    page.wait_for_selector("#plan-graph [data-node='T_0']")
    page.select_option("#action-picker", "perform_aggregate")
    form = page.locator('form.action-form[data-action="perform_aggregate"]')
    inputs = form.locator("input[name^=arg], textarea[name^=arg]")
    inputs.nth(0).fill("T_0")
    inputs.nth(1).fill("")
    inputs.nth(2).fill("SUM(monthly_amount)")
    form.get_by_role("button").click()
    page.wait_for_selector("#step-3 .badge.good")
    assert page.locator("#step-3 .badge.rel-equal").inner_text() == "equal"
    page.locator("#plan-graph [data-node='T_1']").click()
    page.wait_for_selector(".node-detail[data-node='T_1']")
    assert "SQL · sqlite" in page.locator("#node-detail").inner_text()
    shot(page, "explore.png")


def test_analyse_a_broken_query_and_see_the_failing_step(page, server):
    page.goto(server + "/analyze?task=7")
    page.get_by_label("SQL", exact=True).fill("SELECT COUNT(*) FROM orders AS o JOIN customers AS c "
                                              "ON o.customer_id = c.customer_id WHERE o.order_dat LIKE '2023-03%'")
    page.get_by_role("button", name="Analyse").click()
    failing = page.locator("#steps-graph .gnode.failing")
    failing.wait_for()
    assert failing.count() == 1 and failing.get_attribute("data-node") == "step 2"
    assert page.locator("#steps-graph [data-node='T_0']").count() == 1  # the join before it ran
    assert "Did you mean 'order_date'?" in page.locator("mark.suggestion").first.inner_text()
    assert page.locator("#verdict").inner_text() == "error"
    shot(page, "analyze.png")
    page.get_by_role("button", name="Open these steps in Explore").click()
    page.wait_for_selector("#episode")
    assert "order_dat" in page.locator(".repair").inner_text()  # open for repair, after the join that ran
    page.wait_for_selector("#plan-graph [data-node='T_0']")  # the graph is drawn by script after the page loads
    assert page.locator("#plan-graph [data-node^='T_']").count() == 1  # the join only: the failing step made nothing


def test_step_through_an_oracle_episode_with_the_keyboard(page, server):
    page.goto(server + "/runs/oracle/3")
    page.wait_for_selector("#plan-graph .gnode")
    assert page.locator("#step-1.selected").count() == 1
    page.keyboard.press("ArrowRight")
    assert page.locator("#step-2.selected").count() == 1
    assert page.locator("#plan-graph .gnode.selected").get_attribute("data-node") == "T_1"
    assert page.url.endswith("?step=2")
    page.locator("#plan-graph [data-node='T_0']").click()
    assert page.locator("#step-1.selected").count() == 1
    page.keyboard.press("ArrowLeft")
    assert page.locator("#step-1.selected").count() == 1
    page.keyboard.press("ArrowRight")
    shot(page, "episode.png")
    page.goto(server + "/runs/oracle")
    assert page.locator("#episodes tbody tr").count() == 2


def test_hostile_values_from_the_database_stay_text(page, server):
    page.goto(server + "/tasks/0")
    hostile = "<script>window.pwned=1</script><img src=x onerror=window.pwned=2>"
    quoted = hostile.replace("'", "''")
    page.get_by_label("Action", exact=True).fill(
        f'Action: ["perform_projection", "products", "\'{quoted}\' AS \\"<b>x</b>\\""]')
    page.get_by_role("button", name="Step", exact=True).click()
    page.wait_for_selector("#step-1")
    assert page.evaluate("window.pwned") is None
    assert hostile in page.locator("#step-1").inner_text()
    page.locator("#plan-graph [data-node='T_0']").click()
    page.wait_for_selector(".node-detail")
    assert page.evaluate("window.pwned") is None
    assert hostile in page.locator(".node-detail").inner_text()


def test_live_mode_streams_an_oracle_episode(page, server):
    page.goto(server + "/live?task=5")
    page.get_by_role("button", name="Start").click()
    page.wait_for_function("document.getElementById('live-status').textContent.startsWith('ended')")
    assert "solved" in page.locator("#live-status").inner_text()
    assert page.locator("#live-steps .step").count() == 2
    assert page.locator("#plan-graph [data-node='T_1']").count() == 1
    assert page.locator("#live-steps table.result").count() >= 1


UNLABELLED = """() => Array.from(document.querySelectorAll('input:not([type=hidden]), select, textarea, button'))
  .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !(e.tagName === 'BUTTON' && e.textContent.trim()))
  .map(e => e.outerHTML.slice(0, 80))"""


def test_every_control_has_an_accessible_label(page, server):
    for path in ["/tasks", "/tasks/0", "/analyze?task=0&source=gold", "/runs", "/runs/oracle", "/runs/oracle/3",
                 "/compare?a=oracle&b=oracle", "/live", "/analyses"]:
        page.goto(server + path)
        assert page.evaluate(UNLABELLED) == [], path


def test_open_an_analysis_filter_to_a_category_and_repair_a_question(spider_page, spider_server):
    page = spider_page
    page.goto(spider_server + "/analyses")
    page.get_by_role("link", name="din_sql", exact=True).click()
    page.wait_for_selector("#questions")
    assert page.locator("#questions tbody tr").count() == 20
    assert page.evaluate(UNLABELLED) == []
    shot(page, "analysis.png")
    page.get_by_label("Category").select_option("execution_error")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**category=execution_error**")
    rows = page.locator("#questions tbody tr")
    assert rows.count() == 2 and page.locator("#questions .badge.cat-execution_error").count() == 2
    page.locator('#questions tr[data-index="632"] a').first.click()
    page.wait_for_selector("#pred-plan")
    assert page.locator("#category").inner_text() == "execution_error"
    failing = page.locator("#pred-plan li.failing")
    assert failing.count() == 1 and "series_name" in page.locator("#detail").inner_text()
    assert page.evaluate(UNLABELLED) == []
    page.get_by_role("button", name="Open in SQL analysis to repair").click()
    page.wait_for_selector("#sql")
    assert "T2.series_name" in page.locator("#sql").input_value()
    assert page.locator("#verdict").inner_text() == "error"  # as one statement it fails, as the analysis said
    page.locator("#steps-graph .gnode").first.wait_for()  # and its steps are drawn, ready for Explore
