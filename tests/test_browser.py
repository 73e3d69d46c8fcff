"""The example project in a real browser (Debian's headless Chromium through Selenium):
the home page against a live server with a running queue_consumer and run_dumbwaiter,
"enqueue" clicked and the result seen arriving; the admin dashboard. Screenshots go to
test-artifacts/. Also: Ctrl-C stops the whole group cleanly (exit 0, no orphans).
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.example_server import ROOT, ExampleServer
from tests.services import missing

ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,1000",
]

pytestmark = pytest.mark.slow


@pytest.fixture
def browser(tmp_path):
    for path in (CHROMIUM, CHROMEDRIVER):
        if not shutil.which(path):
            missing(f"{path} (apt-get install chromium chromium-driver)")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing("selenium (pip install -e '.[test]')")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="chromium-profile-", dir=tmp_path)
    options.add_argument(f"--user-data-dir={profile}")
    # An explicit driver path: Selenium Manager never runs, so nothing is downloaded.
    driver = webdriver.Chrome(
        service=Service(executable_path=CHROMEDRIVER, log_output=str(tmp_path / "chromedriver.log")), options=options
    )
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture
def example(tmp_path):
    server = ExampleServer(tmp_path)
    server.start()
    yield server
    server.stop()


def screenshot(driver, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    driver.save_screenshot(str(path))
    return path


def test_home_page_enqueue_and_admin_dashboard(example, browser):
    """X4/X5/Q1/D5: the page shows cached values, runs clicked jobs and shows their results."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 60, poll_frequency=0.25)
    browser.get(example.url + "/")
    assert browser.title == "djworkers demo"

    # The periodic cache: run_dumbwaiter computes server-time at start; the page picks it up.
    wait.until(lambda d: "UTC" in d.find_element(By.CSS_SELECTOR, '#cached tr[data-name="server-time"]').text)

    # Enqueue: the job is queued, the consumer runs it, the page shows its result.
    browser.find_element(By.ID, "enqueue-upload").click()
    done = wait.until(
        EC.presence_of_element_located((By.CSS_SELECTOR, '#runs tr[data-kind="upload"][data-status="done"]'))
    )
    assert "words" in done.find_element(By.CSS_SELECTOR, "td.result").text

    # A job that keeps failing ends as failed after its retries, and is counted.
    browser.find_element(By.ID, "enqueue-doomed").click()
    failed = wait.until(
        EC.presence_of_element_located((By.CSS_SELECTOR, '#runs tr[data-kind="doomed"][data-status="failed"]'))
    )
    assert failed.find_elements(By.TAG_NAME, "td")[3].text == "3"  # 1 attempt + 2 retries
    wait.until(lambda d: d.find_element(By.ID, "failed-total").text == "1")
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, '#queues tr[data-queue="default"]'))

    # ztask (Z1): the button's task goes over ZeroMQ to ztaskd, which runs it; its node shows up.
    browser.find_element(By.ID, "enqueue-ztask-email").click()
    sent = wait.until(
        EC.presence_of_element_located((By.CSS_SELECTOR, '#runs tr[data-kind="ztask-email"][data-status="done"]'))
    )
    assert "thank-you sent to" in sent.find_element(By.CSS_SELECTOR, "td.result").text
    wait.until(lambda d: "up" in d.find_element(By.ID, "ztask-nodes").text)
    screenshot(browser, "example-home.png")

    # The admin dashboard, reached from the admin index.
    browser.get(example.url + "/admin/")
    browser.find_element(By.NAME, "username").send_keys("demo")
    browser.find_element(By.NAME, "password").send_keys("demo")
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    wait.until(EC.presence_of_element_located((By.LINK_TEXT, "Dashboard"))).click()
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "svg.djworkers-chart")))
    page = browser.find_element(By.ID, "djw-dashboard").text
    assert "Queue (database backend)" in page
    assert "Periodic cache (dumbwaiter)" in page
    assert "server-time" in page and "upload-stats" in page
    # Stats are flushed every 2 s in the example project; the page reloads every 10 s.
    WebDriverWait(browser, 60, poll_frequency=1).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "svg.djworkers-chart rect.bar-failed") or d.refresh()
    )
    screenshot(browser, "admin-dashboard.png")

    # Ctrl-C stops the web server, the consumer and the runner; nothing is left behind.
    assert example.interrupt() == 0, example.log.read_text()[-3000:]
    log = example.log.read_text()
    for name in ("dumbwaiter", "queue", "ztaskd", "web"):
        assert re.search(rf"^ *{name} \| stopped$", log, re.MULTILINE), log[-3000:]


def _login(browser, wait, url: str) -> None:
    """Log in as the demo user and wait for the admin to show its user tools: the click only
    starts the POST, and a page asked for before its answer sets the session cookie is
    answered with the login form (CI once timed out that way)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC

    browser.get(url + "/admin/login/")
    browser.find_element(By.NAME, "username").send_keys("demo")
    browser.find_element(By.NAME, "password").send_keys("demo")
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    wait.until(EC.presence_of_element_located((By.ID, "user-tools")))


def _fail_a_job(browser, wait) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC

    browser.find_element(By.ID, "enqueue-doomed").click()
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, '#runs tr[data-kind="doomed"][data-status="failed"]')))
    wait.until(lambda d: d.find_element(By.ID, "failed-total").text == "1")


def test_example_page_does_not_say_all_healthy_with_a_failed_job(example, browser, tmp_path):
    """X4/X5: with a failed job in the store the example page says so, not "All healthy."."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 60, poll_frequency=0.25)
    browser.set_window_size(1280, 1000)
    browser.get(example.url + "/")
    wait.until(lambda d: d.find_element(By.ID, "health").text == "All healthy.")
    _fail_a_job(browser, wait)
    wait.until(lambda d: "1 failed job" in d.find_element(By.ID, "health").text)
    health = browser.find_element(By.ID, "health")
    assert "All healthy" not in health.text
    assert "bad" in health.get_attribute("class") or "warn" in health.get_attribute("class")
    browser.save_screenshot(str(tmp_path / "example-home-failed-job.png"))


def test_failed_job_admin_at_1280px(example, browser, tmp_path):
    """X5: at 1280 px the failed-job list fits (the Reason column is in view, no horizontal
    scrollbar); the read-only change page has no Save buttons, keeps the traceback's indentation
    in a <pre>, and has a Replay button that replays the job."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 60, poll_frequency=0.25)
    browser.set_window_size(1280, 1000)
    browser.get(example.url + "/")
    _fail_a_job(browser, wait)
    _login(browser, wait, example.url)

    # The changelist: nothing hidden behind a horizontal scrollbar.
    browser.get(example.url + "/admin/djworkers/failedjob/")
    reason = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#result_list th.column-reason")))
    browser.save_screenshot(str(tmp_path / "admin-failedjob-changelist.png"))
    viewport = browser.execute_script("return document.documentElement.clientWidth")
    assert viewport <= 1280
    widest = browser.execute_script("return Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)")
    assert widest <= viewport, f"the page is {widest}px wide in a {viewport}px viewport"
    # The admin puts the table in a box that scrolls sideways (div.results): the Reason column,
    # and the last one, must end inside what that box shows, and the box must not scroll.
    box = browser.find_element(By.CSS_SELECTOR, "#changelist .results")
    shown = browser.execute_script("return arguments[0].getBoundingClientRect().right", box)
    assert shown <= viewport
    last = browser.find_element(By.CSS_SELECTOR, "#result_list thead th:last-child")
    for column in (reason, last):
        right = browser.execute_script("return arguments[0].getBoundingClientRect().right", column)
        assert right <= shown, f"{column.text} column ends at {right}px, past the visible {shown}px"
    assert browser.execute_script("return arguments[0].scrollWidth <= arguments[0].clientWidth", box), (
        "the results table scrolls sideways"
    )

    # The change page: read-only, no Save buttons, the traceback in a <pre> with its indentation.
    browser.find_element(By.CSS_SELECTOR, "#result_list tbody tr th a, #result_list tbody tr td a").click()
    wait.until(EC.presence_of_element_located((By.ID, "failedjob_form")))
    change_url = browser.current_url
    for name in ("_save", "_continue", "_addanother"):
        assert not browser.find_elements(By.NAME, name), f"a {name} button on a read-only page"
    pre = browser.find_element(By.CSS_SELECTOR, ".field-traceback_display pre")
    text = browser.execute_script("return arguments[0].textContent", pre)
    assert text.startswith("Traceback (most recent call last):"), text
    assert re.search(r"^  File \"", text, re.M), text  # leading spaces kept
    assert browser.execute_script("return getComputedStyle(arguments[0]).whiteSpace", pre).startswith("pre")
    replay = browser.find_element(By.CSS_SELECTOR, "button[name=replay]")
    assert replay.is_displayed()
    browser.save_screenshot(str(tmp_path / "admin-failedjob-change.png"))
    browser.execute_script("arguments[0].scrollIntoView()", pre)
    browser.save_screenshot(str(tmp_path / "admin-failedjob-traceback.png"))
    browser.execute_script("window.scrollTo(0, 0)")

    # Replay: the row is handed back to its queue and leaves the store.
    pk = change_url.rstrip("/").split("/")[-2]
    replay.click()
    message = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "ul.messagelist li")))
    assert "Replayed" in message.text, message.text
    browser.save_screenshot(str(tmp_path / "admin-failedjob-replayed.png"))
    browser.get(change_url)
    assert "doesn’t exist" in browser.page_source or "does not exist" in browser.page_source, pk
