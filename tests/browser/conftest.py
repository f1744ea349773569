"""Browser tests: Playwright for Python driving Debian's chromium (never a downloaded one).

One browser for the session; a fresh context per test, whose every request is checked to
stay on the dashboard's own address. When chromium or Playwright is missing the tests
skip, unless ``XPTRACK_REQUIRE_BROWSER=1`` (as in CI) asks for them: then they fail,
saying what to install.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

import xptrack
from xptrack.adapters.local import LocalBackend
from xptrack.application.dashboard import Dashboard, start_dashboard

from .fill import fill_store

REQUIRE_ENV = "XPTRACK_REQUIRE_BROWSER"
CHROMIUM = os.environ.get("XPTRACK_CHROMIUM", "/usr/bin/chromium")
BIG = 10_000
#: The dashboards the tests serve: the only addresses a page may reach.
SERVED: set[str] = set()


def _unavailable(reason: str) -> None:
    hint = "install it with: sudo apt-get install chromium (and pip install playwright)"
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{REQUIRE_ENV}=1 but {reason}; {hint}", pytrace=False)
    pytest.skip(f"{reason}; {hint}")


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Debian's chromium, headless, driven by Playwright."""
    if not shutil.which(CHROMIUM):
        _unavailable(f"no chromium at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright for Python is not installed")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        yield chromium
        chromium.close()


def _small_experiment(root: Path) -> xptrack.Experiment:
    """Four trials by the real calls: three finished with a ``loss`` series, one failed."""
    ex = xptrack.Experiment("small", backend=LocalBackend(root))
    a = ex.parameter("a")

    @ex.persist
    def features(a):
        return [a] * 3

    @ex.result
    def score(a, f):
        print("training with", a)
        for epoch in range(300):
            ex.save_metric("loss", epoch, 1 / (epoch / 10 + a))
        return 10 / a

    call = score(a, features(a))
    for value in (1, 2, 4):
        ex.set_parameters(a=value)
        call.compute(seed=value)
    ex.set_parameters(a=0)
    with pytest.raises(ZeroDivisionError):
        call.compute(seed=7)
    return ex


@pytest.fixture(scope="session")
def served(tmp_path_factory, browser) -> Iterator[tuple[Path, Dashboard]]:
    """One local store folder, and the dashboard of every experiment in it."""
    root = tmp_path_factory.mktemp("store")
    dashboard = start_dashboard(LocalBackend(root), port=0, blocking=False)
    SERVED.add(dashboard.url)
    yield root, dashboard
    dashboard.stop()


@pytest.fixture(scope="session")
def small(served) -> Dashboard:
    """The dashboard, with the four-trial experiment ``small`` in its store."""
    root, dashboard = served
    _small_experiment(root)
    return dashboard


@pytest.fixture(scope="session")
def big(served) -> Dashboard:
    """The dashboard, with an experiment ``big`` of 10,000 trials written through the store."""
    root, dashboard = served
    store = LocalBackend(root).open("big")
    fill_store(store, BIG)
    store.close()
    return dashboard


@pytest.fixture
def outside() -> list[str]:
    """Requests the page made to anywhere but the dashboard (none, ever)."""
    return []


@pytest.fixture
def page(browser, outside) -> Iterator[object]:
    """A fresh page whose requests to any other address are recorded and refused."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})

    def guard(route: object) -> None:
        url = route.request.url
        if any(url.startswith(origin) for origin in SERVED):
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    context.route("**/*", guard)
    errors: list[str] = []
    tab = context.new_page()
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.set_default_timeout(15_000)
    yield tab
    context.close()
    assert not errors, f"the page raised: {errors}"
