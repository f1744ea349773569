"""The dashboard at 10,000 and 100,000 trials: the trials API and the first render in Chromium.

    .venv/bin/python benchmarks/dashboard.py                    # 10,000 and 100,000 trials
    .venv/bin/python benchmarks/dashboard.py --sizes 10000      # one size
    .venv/bin/python benchmarks/dashboard.py --keep /tmp/dash   # reuse the filled stores

Each store is a local store filled through the store port (finished trials with three
parameters, a result and two metrics; see tests/browser/fill.py). For each size it serves
the dashboard (uvicorn, loopback) and measures, as medians of ``--repeat`` requests:

- cold: server start to the first page of trials answered (the history read in the
  background; the newest trials are answered record by record meanwhile);
- ready: server start until the whole history is in memory;
- warm API: first page (by id), sorted (by result, descending), filtered (a ``where``
  query plus a per-column filter), after the first read — each query also uncached
  (a new trial written before it, so the frame is refreshed and the query re-run);
- first render in Chromium (Debian's, through Playwright): navigation to the trials page
  until its rows are in the DOM, on the warm server, and on a cold one.

Targets (issue 17): the API page within 300 ms and the first render within 1.5 s at
100,000 trials. Nothing fails on a missed target; the table says it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.browser.fill import fill_store  # noqa: E402

from xptrack.adapters.local import LocalBackend  # noqa: E402
from xptrack.application.dashboard import start_dashboard  # noqa: E402
from xptrack.domain.trial import TrialRecord, utcnow  # noqa: E402

QUERIES = {
    "first page": {"limit": 50, "sort": "id", "order": "desc"},
    "sorted": {"limit": 50, "sort": "result", "order": "desc"},
    "filtered": {
        "limit": 50,
        "where": "lr < 0.01 and layers > 2",
        "filter": "parameters.optimizer:adam",
    },
}


def filled(folder: Path, size: int) -> LocalBackend:
    """A local store of ``size`` trials in ``folder`` (filled once, then reused)."""
    backend = LocalBackend(folder / f"trials-{size}")
    store = backend.open("bench")
    if store.last_trial_id() < size:
        started = time.perf_counter()
        fill_store(store, size - store.last_trial_id())
        print(f"filled {size:,} trials in {time.perf_counter() - started:.1f} s", flush=True)
    store.close()
    return backend


def timed(call) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def measure_api(backend: LocalBackend, repeat: int) -> dict[str, float]:
    figures: dict[str, float] = {}
    started = time.perf_counter()
    dashboard = start_dashboard(backend, "bench", port=0, blocking=False)
    url = dashboard.url + "api/experiments/bench/trials"
    try:
        with httpx.Client(timeout=600) as http:
            http.get(url, params=QUERIES["first page"]).raise_for_status()
            figures["cold first page ms"] = (time.perf_counter() - started) * 1000
            http.get(url, params=QUERIES["sorted"]).raise_for_status()  # waits for the read
            figures["ready ms"] = (time.perf_counter() - started) * 1000
            _wait_for_metrics(http, url)
            figures["metrics read ms"] = (time.perf_counter() - started) * 1000
            for name, params in QUERIES.items():
                times = [
                    timed(lambda p=params: http.get(url, params=p).raise_for_status())
                    for _ in range(repeat)
                ]
                figures[f"{name} ms"] = statistics.median(times)
            store = backend.open("bench")
            for name, params in QUERIES.items():
                times = []
                for _ in range(repeat):
                    _new_trial(store)
                    time.sleep(1.05)  # past the refresh interval: the next request refreshes
                    times.append(timed(lambda p=params: http.get(url, params=p).raise_for_status()))
                figures[f"{name} after a new trial ms"] = statistics.median(times)
            store.close()
    finally:
        dashboard.stop()
    return figures


def _wait_for_metrics(http: httpx.Client, url: str, deadline: float = 900.0) -> None:
    """Until the last metric values of every trial are read (the background reader)."""
    end = time.monotonic() + deadline
    while http.get(url, params={"limit": 1}).json()["metrics_pending"]:
        if time.monotonic() > end:
            raise TimeoutError("the metric values were not all read in time")
        time.sleep(0.5)


def _new_trial(store) -> None:
    trial_id = store.next_trial_id()
    record = TrialRecord(trial_id, {"lr": 0.001, "layers": 3, "optimizer": "adam"}, utcnow())
    store.save_trial(record.succeeded(0.9, utcnow(), 0.1))


def measure_render(backend: LocalBackend, repeat: int) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    figures: dict[str, float] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
        )
        started = time.perf_counter()
        dashboard = start_dashboard(backend, "bench", port=0, blocking=False)
        try:
            page = browser.new_page()
            page.goto(dashboard.url + "#/e/bench")
            page.locator("#trials tbody tr").first.wait_for(timeout=600_000)
            figures["cold render ms"] = (time.perf_counter() - started) * 1000
            page.close()
            with httpx.Client(timeout=600) as http:
                _wait_for_metrics(http, dashboard.url + "api/experiments/bench/trials")
            times = []
            for _ in range(repeat):
                page = browser.new_page()
                t0 = time.perf_counter()
                page.goto(dashboard.url + "#/e/bench")
                page.locator("#trials tbody tr").first.wait_for(timeout=60_000)
                times.append((time.perf_counter() - t0) * 1000)
                assert page.locator("#trials tbody tr").count() == 50
                page.close()
            figures["warm render ms"] = statistics.median(times)
        finally:
            dashboard.stop()
            browser.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="folder for the filled stores (reused)")
    parser.add_argument("--json", type=Path, help="also write the figures there")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="xptrack-dashboard-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    results = {}
    for size in (int(s) for s in args.sizes.split(",")):
        backend = filled(folder, size)
        figures = {**measure_api(backend, args.repeat), **measure_render(backend, args.repeat)}
        results[size] = figures
        print(f"\n{size:,} trials")
        for name, value in figures.items():
            target = _target(name)
            verdict = "" if target is None else (" met" if value <= target else " MISSED")
            shown = f" (target {target:,.0f} ms){verdict}" if target else ""
            print(f"  {name:<38} {value:10,.1f}{shown}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


def _target(name: str) -> float | None:
    if name.startswith(("first page", "sorted", "filtered")):
        return 300.0
    if name == "warm render ms":
        return 1500.0
    return None


if __name__ == "__main__":
    main()
