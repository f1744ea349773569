"""The dashboard in a real browser: each view as a user sees and works it."""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

import pytest

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture says what to install, or fails when it is required
    if os.environ.get("XPTRACK_REQUIRE_BROWSER") == "1":
        raise
    pytest.skip("Playwright for Python is not installed", allow_module_level=True)

import xptrack
from xptrack.adapters.local import LocalBackend
from xptrack.application.dashboard import start_dashboard

from .conftest import BIG, SERVED

pytestmark = pytest.mark.browser
#: Where to keep the screenshots of each view (the README shows those in docs/).
SCREENSHOTS = os.environ.get("XPTRACK_SCREENSHOTS")


def shoot(page, name: str, tmp_path: Path, full_page: bool = True) -> None:
    folder = Path(SCREENSHOTS) if SCREENSHOTS else tmp_path
    page.screenshot(path=str(folder / f"dashboard-{name}.png"), full_page=full_page)


def trial_ids(page) -> list[int]:
    return [
        int(value)
        for value in page.locator("#trials tbody tr").evaluate_all(
            "rows => rows.map(row => row.dataset.trial)"
        )
    ]


def column_texts(page, label: str) -> list[str]:
    names = page.locator("#trials thead tr").first.locator("th").all_inner_texts()
    index = [name.strip(" ▲▼") for name in names].index(label)
    return page.locator(f"#trials tbody tr td:nth-child({index + 1})").all_inner_texts()


def test_experiments_page_lists_counts_and_statuses(page, small, big, tmp_path):
    page.goto(small.url)  # opened on no experiment in particular: the experiments page
    row = page.locator("#experiments tr[data-experiment=small]")
    row.wait_for()
    cells = row.locator("td").all_inner_texts()
    assert cells[0] == "small"
    assert cells[1] == "4"
    assert "finished 3" in cells[2] and "failed 1" in cells[2]
    big_row = page.locator("#experiments tr[data-experiment=big]")
    expect(big_row.locator("td").nth(1)).to_have_text(f"{BIG:,}")
    # Read in the background: "reading the trials…" until then, the counts after.
    statuses = big_row.locator("td").nth(2)
    expect(statuses).to_contain_text(f"failed {BIG // 97}", timeout=60_000)
    page.click("#experiments a:text-is('small')")
    page.locator("#trials tbody tr").first.wait_for()
    page.goto(small.url + "#/experiments")
    row.wait_for()
    shoot(page, "experiments", tmp_path)


def test_ten_thousand_trials_are_paged_the_dom_holds_one_page(page, big, tmp_path):
    page.goto(big.url + "#/e/big")
    page.locator("#trials tbody tr").first.wait_for()
    assert page.locator("#trials tbody tr").count() == 50
    assert page.locator("#summary").inner_text().startswith(f"1–50 of {BIG:,}")
    assert trial_ids(page)[:2] == [BIG, BIG - 1]
    shoot(page, "trials", tmp_path)
    page.click("#next")
    page.locator(f"#trials tbody tr[data-trial='{BIG - 50}']").wait_for()
    assert page.locator("#trials tbody tr").count() == 50
    assert page.locator("#summary").inner_text().startswith(f"51–100 of {BIG:,}")


def test_sort_and_filter_run_on_the_server(page, big):
    page.goto(big.url + "#/e/big")
    page.locator("#trials tbody tr").first.wait_for()
    page.locator("#trials th.sortable[data-key=result]").click()  # descending first
    expect(page.locator("#trials th[data-key=result]")).to_contain_text("▼")
    results = [float(text) for text in column_texts(page, "Result")]
    assert results == sorted(results, reverse=True)
    assert results[0] > 0.99
    page.fill("#where", "layers == 8")
    page.press("#where", "Enter")
    expect(page.locator("#summary")).to_contain_text("filtered")
    page.fill("input[data-filter='parameters.optimizer']", "adam")
    expect(page.locator("#trials tbody tr").filter(has_not_text="adam")).to_have_count(0)
    assert set(column_texts(page, "layers")) == {"8"}
    assert set(column_texts(page, "optimizer")) == {"adam"}
    summary = page.locator("#summary").inner_text()
    total = int(re.search(r"of ([\d,]+)", summary)[1].replace(",", ""))
    assert 0 < total < BIG / 8


def test_two_selected_trials_overlay_as_two_series_with_a_legend(page, small, tmp_path):
    page.goto(small.url + "#/e/small")
    page.locator("#trials tbody tr").first.wait_for()
    page.check("input[aria-label='select trial 1']")
    page.check("input[aria-label='select trial 2']")
    page.click("#compare")
    chart = page.locator(".chart[data-metric=loss]")
    chart.wait_for()
    labels = chart.locator(".u-legend .u-series .u-label").all_inner_texts()
    assert labels == ["epoch", "trial 1", "trial 2"]
    box = chart.locator(".u-over").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 3, box["y"] + box["height"] / 2)
    values = chart.locator(".u-legend .u-series .u-value").all_inner_texts()
    assert all(re.match(r"^[\d.]+$", value) for value in values[1:]), values
    page.check("#log-scale")
    page.locator("#parallel").wait_for()
    page.locator("#diff table").wait_for()
    page.set_viewport_size({"width": 1400, "height": 1800})  # the whole view, hover kept
    box = chart.locator(".u-over").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 4, box["y"] + box["height"] / 2)
    expect(chart.locator(".u-legend .u-series .u-value").nth(1)).not_to_have_text("--")
    shoot(page, "compare", tmp_path, full_page=False)


def test_a_failed_trial_shows_its_error_traceback_output_and_steps(page, small, tmp_path):
    page.goto(small.url + "#/e/small/trial/4")
    page.locator(".error-line").wait_for()
    assert page.locator(".error-line").inner_text() == "ZeroDivisionError: float division by zero"
    assert page.locator("h1 .status").inner_text() == "failed"
    traceback = page.locator("#traceback").inner_text()
    assert traceback.startswith("Traceback (most recent call last):")
    assert "in score" in traceback
    assert page.locator("#output").inner_text().strip() == "training with 0"
    assert page.locator(".timeline th").all_inner_texts() == ["features", "score"]
    shoot(page, "trial", tmp_path)


def test_tags_and_note_are_edited_on_the_trial_page(page, small):
    page.goto(small.url + "#/e/small/trial/2")
    page.fill("#new-tag", "best")
    page.click("#add-tag")
    expect(page.locator("#tags .tag")).to_have_text(["best×"])
    page.fill("#note", "the one to keep")
    with page.expect_response(lambda response: response.url.endswith("/labels")):
        page.click("#save-note")
    page.reload()
    expect(page.locator("#tags .tag")).to_have_text(["best×"])
    expect(page.locator("#note")).to_have_value("the one to keep")
    page.goto(small.url + "#/e/small?filter=tags:best")
    expect(page.locator("#trials tbody tr")).to_have_count(1)
    expect(page.locator("#trials tbody tr[data-trial='2']")).to_contain_text("best")
    page.goto(small.url + "#/e/small/trial/2")
    page.click("button[aria-label='remove tag best']")
    expect(page.locator("#tags")).to_have_text("No tags.")


def test_no_request_leaves_the_server(page, small, big, outside):
    for url in (
        small.url + "#/experiments",
        small.url + "#/e/small",
        small.url + "#/e/small/compare?ids=1,2,3",
        small.url + "#/e/small/trial/1",
        big.url + "#/e/big",
    ):
        page.goto(url)
        page.wait_for_load_state("networkidle")
    assert outside == []


def test_a_running_trial_appears_then_turns_finished_without_a_reload(page, tmp_path):
    backend = LocalBackend(tmp_path / "live")
    ex = xptrack.Experiment("live", backend=backend)
    a = ex.parameter("a", default=1)
    release = threading.Event()

    @ex.result
    def slow(a):
        release.wait(60)
        return a

    dashboard = start_dashboard(backend, "live", port=0, blocking=False)
    SERVED.add(dashboard.url)
    worker = threading.Thread(target=slow(a).compute)
    try:
        page.goto(dashboard.url)
        expect(page.locator("#summary")).to_contain_text("of 0")
        worker.start()
        status = page.locator("#trials tbody tr[data-trial='1'] .status")
        expect(status).to_have_text("running")
        release.set()
        expect(status).to_have_text("finished")
    finally:
        release.set()
        worker.join(60)
        dashboard.stop()


def test_values_are_shown_as_text_never_as_html(page, tmp_path):
    backend = LocalBackend(tmp_path / "escaped")
    ex = xptrack.Experiment("escaped", backend=backend)
    name = ex.parameter("name")
    planted = '<img src=x onerror="document.title=`pwned`"><b>bold</b>'

    @ex.result
    def echo(name):
        print(planted)
        raise ValueError(planted)

    ex.set_parameters(name=planted)
    with pytest.raises(ValueError):
        echo(name).compute(seed=1)
    dashboard = start_dashboard(backend, "escaped", port=0, blocking=False)
    SERVED.add(dashboard.url)
    try:
        page.goto(dashboard.url)
        expect(page.locator("#trials tbody tr[data-trial='1']")).to_contain_text("<b>bold</b>")
        page.goto(dashboard.url + "#/e/escaped/trial/1")
        expect(page.locator("#output")).to_contain_text(planted)
        expect(page.locator(".error-line")).to_contain_text(planted)
        assert page.locator("main img, main b").count() == 0
        assert page.title() != "pwned"
    finally:
        dashboard.stop()
