"""The HTML report in a real browser (headless Chromium): no console errors, the
charts rendered, sorting and filtering work, and nothing is fetched.

Skipped only when Chromium or its driver is not installed (Debian packages
``chromium`` and ``chromium-driver``; ``.ci/run`` installs them). Set
``PHANTOMKEYS_UPDATE_DOCS=1`` to refresh ``docs/demo-report.png``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.report.conftest import COMMANDS, load_fixture

from phantomkeys.report import html_report

CHROMIUM = (
    shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
)
DRIVER = shutil.which("chromedriver")
DOCS = Path(__file__).resolve().parents[2] / "docs"

pytestmark = [
    pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="needs chromium and chromium-driver"),
    # One browser for the module: keep its tests on one xdist worker (--dist loadgroup).
    pytest.mark.xdist_group("chromium"),
]

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # The system driver: Selenium Manager must not try to download one.
    driver = webdriver.Chrome(service=Service(executable_path=str(DRIVER)), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def demo_page(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    page = tmp_path_factory.mktemp("report") / "demo-report.html"
    page.write_text(
        html_report.render_many(
            [load_fixture(c) for c in COMMANDS], title="phantomkeys demo report"
        ),
        "utf-8",
    )
    browser.get(page.as_uri())
    return browser


def _visible_rows(browser: Any, table_id: str) -> list[Any]:
    return browser.execute_script(
        "return Array.from(document.querySelectorAll('#' + arguments[0] + ' tbody tr'))"
        ".filter(r => !r.hidden).map(r => r.getAttribute('data-severity') + '|' +"
        " r.getAttribute('data-status'));",
        table_id,
    )


def test_page_loads_without_console_errors_or_requests(demo_page: Any) -> None:
    assert demo_page.execute_script("return document.documentElement.dataset.ready") == "1"
    severe = [e for e in demo_page.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    assert severe == []
    resources = demo_page.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    assert resources == []


def test_every_chart_rendered_with_marks(demo_page: Any) -> None:
    charts = demo_page.execute_script("""
        return Array.from(document.querySelectorAll('svg[data-chart]')).map(svg => {
          const box = svg.getBoundingClientRect();
          const marks = Array.from(svg.querySelectorAll('.mark'))
            .filter(m => m.getBBox().width > 0 && m.getBBox().height > 0).length;
          return [svg.dataset.chart, Math.round(box.width), Math.round(box.height), marks];
        });""")
    rendered = {name: (w, h, marks) for name, w, h, marks in charts}
    for name in (
        "status",
        "key-age",
        "key-expiry",
        "capabilities",
        "heat-map",
        "scp-coverage",
        "hunt-timeline",
    ):
        w, h, marks = rendered[name]
        assert w > 100, (name, rendered[name])
        assert h > 40, (name, rendered[name])
        assert marks > 0, (name, rendered[name])
    # the status chart has one bar per non-empty status (5 statuses in the fixture)
    assert rendered["status"][2] == 5


def test_text_filter_and_select_filter_narrow_the_table(demo_page: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    table = "scan-0-identities"
    assert len(_visible_rows(demo_page, table)) == 9
    box = demo_page.find_element(By.CSS_SELECTOR, f'input.filter-text[data-table="{table}"]')
    box.send_keys("AeaApiKey")
    assert len(_visible_rows(demo_page, table)) == 2
    counter = demo_page.find_element(By.CSS_SELECTOR, f'.row-count[data-table="{table}"]')
    assert counter.text == "2 of 9"
    box.clear()
    box.send_keys(" ")  # clear() fires no input event; a space does (and is trimmed)
    status = Select(
        demo_page.find_element(
            By.CSS_SELECTOR, f'select.filter-select[data-table="{table}"][data-attr="status"]'
        )
    )
    status.select_by_value("at-risk")
    rows = _visible_rows(demo_page, table)
    assert len(rows) == 3
    assert all(r.endswith("|at-risk") for r in rows)
    status.select_by_value("")
    assert len(_visible_rows(demo_page, table)) == 9


def test_clicking_a_header_sorts_the_table(demo_page: Any) -> None:
    from selenium.webdriver.common.by import By

    table = "scan-0-findings"
    header = demo_page.find_elements(By.CSS_SELECTOR, f"#{table} th")[0]  # Severity
    order = ["critical", "high", "medium", "low", "info"]

    def severities() -> list[str]:
        return [r.split("|")[0] for r in _visible_rows(demo_page, table)]

    header.click()
    ascending = severities()
    assert [order.index(s) for s in ascending] == sorted(
        (order.index(s) for s in ascending), reverse=True
    )
    header.click()
    descending = severities()
    assert descending == list(reversed(ascending))
    assert header.get_attribute("aria-sort") == "descending"


def test_screenshot_of_the_demo_report(demo_page: Any, tmp_path: Path) -> None:
    demo_page.set_window_size(1400, 1600)
    demo_page.execute_script("window.scrollTo(0, 0)")
    shot = tmp_path / "demo-report.png"
    assert demo_page.save_screenshot(str(shot))
    assert shot.stat().st_size > 50_000
    if os.environ.get("PHANTOMKEYS_UPDATE_DOCS") == "1":
        DOCS.mkdir(exist_ok=True)
        shutil.copyfile(shot, DOCS / "demo-report.png")
