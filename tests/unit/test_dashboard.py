"""The dashboard serves the history, a trial's code/environment and metric charts."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_dashboard_pages(make_experiment):
    ex = make_experiment("dash")
    lr = ex.parameter("lr")

    @ex.result
    def train(lr):
        for epoch in range(5):
            ex.save_metric("loss", epoch, lr / (epoch + 1))
        return lr * 2

    for value in (0.1, 0.2):
        ex.set_parameters(lr=value)
        train(lr).compute()
    dashboard = ex.start_dashboard(port=0)
    try:
        status, page = fetch(dashboard.url)
        assert status == 200 and "History (2 trials)" in page and "0.4" in page
        status, page = fetch(dashboard.url + "trial?id=2")
        assert status == 200 and "def train(lr):" in page and "requirements" in page
        assert "/metric?key=loss&ids=2" in page
        status, page = fetch(dashboard.url + "metric?key=loss&ids=1,2")
        assert status == 200 and "<svg" in page and page.count("<polyline") == 2
        status, page = fetch(dashboard.url + "trial?id=99")
        assert status == 404 and "no trial 99" in page
        assert fetch(dashboard.url + "nowhere")[0] == 404
    finally:
        dashboard.stop()
    with pytest.raises(OSError):
        urllib.request.urlopen(dashboard.url, timeout=2)
