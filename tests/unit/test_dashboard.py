"""The dashboard's JSON API, served for real on loopback, over an in-memory store."""

from __future__ import annotations

import pickle
import sys
import time

import httpx
import pytest

from xptrack.application.dashboard import DashboardUnavailable, start_dashboard


@pytest.fixture
def session(make_experiment):
    """An experiment with three finished trials (with a ``loss`` metric) and a failed one."""
    ex = make_experiment("dash")
    a = ex.parameter("a")

    @ex.persist
    def features(a):
        return [a] * 3

    @ex.result
    def score(a, f):
        for epoch in range(5):
            ex.save_metric("loss", epoch, 1 / (epoch + a))
        return 10 / a

    call = score(a, features(a))
    for value in (1, 2, 4):
        ex.set_parameters(a=value)
        call.compute(seed=1)
    ex.set_parameters(a=0)
    with pytest.raises(ZeroDivisionError):
        call.compute(seed=2)
    return ex, call


@pytest.fixture
def client(session):
    ex, _ = session
    dashboard = ex.start_dashboard(port=0, blocking=False)
    with httpx.Client(base_url=dashboard.url, timeout=10) as http:
        yield http
    dashboard.stop()


def trials(client, **params):
    response = client.get("/api/experiments/dash/trials", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def ids(answer):
    return [row["id"] for row in answer["trials"]]


def test_experiments_list_counts_statuses_and_last_activity(client):
    answer = client.get("/api/experiments").json()
    assert answer["default"] == "dash"
    (row,) = answer["experiments"]
    assert row["id"] == "dash"
    assert row["trials"] == 4
    assert row["statuses"] == {"finished": 3, "failed": 1}
    assert row["last_activity"].startswith("20")


def test_trials_page_carries_parameters_result_status_and_last_metric_values(client):
    answer = trials(client, sort="id", order="asc")
    assert answer["total"] == 4
    assert answer["columns"] == {"parameters": ["a"], "metrics": ["loss"]}
    first, *_, failed = answer["trials"]
    assert first["parameters"] == {"a": 1}
    assert first["result"] == 10.0
    assert first["status"] == "finished"
    assert first["metrics"] == {"loss": pytest.approx(1 / 5)}
    assert failed["status"] == "failed"
    assert failed["error"] == "ZeroDivisionError: division by zero"
    assert failed["metrics"] == {}


def test_trials_are_paged_sorted_and_filtered_on_the_server(client):
    page = trials(client, sort="result", order="desc", limit=2, offset=0)
    assert [row["id"] for row in page["trials"]] == [1, 2]
    assert page["total"] == 4
    assert ids(trials(client, sort="result", limit=2, offset=2)) == [1, 4]
    assert ids(trials(client, where="a > 1 and Success")) == [2, 3]
    assert ids(trials(client, filter="status:fail")) == [4]
    assert ids(trials(client, filter=["parameters.a:>=2", "result:<3"])) == [3]
    assert ids(trials(client, sort="metrics.loss", order="asc"))[:1] == [3]


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"where": "a >"}, "cannot be evaluated"),
        ({"where": "__import__('os').system('true')"}, "'__' or '@'"),
        ({"where": "@client"}, "'__' or '@'"),
        ({"sort": "nothing"}, "unknown trials column"),
        ({"order": "up"}, "'asc' or 'desc'"),
        ({"limit": "5000"}, "limit must be 1 to 1000"),
        ({"filter": "status"}, "KEY:TEXT"),
    ],
)
def test_a_bad_query_is_a_400_that_says_what_is_accepted(client, params, words):
    response = client.get("/api/experiments/dash/trials", params=params)
    assert response.status_code == 400
    assert words in response.json()["error"]


def test_trial_page_has_status_error_parameters_metrics_code_and_environment(client):
    failed = client.get("/api/experiments/dash/trials/4").json()
    assert failed["status"] == "failed"
    assert failed["error"] == "ZeroDivisionError: division by zero"
    assert failed["seed"] == 2
    assert failed["parameters"] == {"a": 0}
    assert failed["traceback"].startswith("Traceback (most recent call last):")
    assert failed["traceback"].rstrip().endswith("ZeroDivisionError: division by zero")
    assert [step["name"] for step in failed["steps"]] == ["features", "score"]
    assert "def score(a, f):" in failed["code"]
    assert failed["environment"]["python"] == "version: 3.11"
    finished = client.get("/api/experiments/dash/trials/1").json()
    assert finished["metrics"] == [
        {"key": "loss", "points": 5, "last": pytest.approx(0.2), "last_epoch": 4}
    ]
    assert finished["packages"]["list"] == ["dask==1"]


def test_metric_series_of_several_trials_leaves_out_those_without_it(client):
    answer = client.get("/api/experiments/dash/metrics/loss", params={"trials": "1,2,4"}).json()
    assert [series["trial"] for series in answer["series"]] == [1, 2]
    assert answer["series"][0]["epochs"] == [0, 1, 2, 3, 4]
    assert answer["missing"] == [4]


def test_columns_give_the_filtered_trials_values_for_scatter_and_parallel_coordinates(client):
    response = client.get(
        "/api/experiments/dash/columns", params={"keys": "parameters.a,result", "where": "a > 0"}
    )
    answer = response.json()
    assert answer["ids"] == [1, 2, 3]
    assert answer["columns"] == {"parameters.a": [1.0, 2.0, 4.0], "result": [10.0, 5.0, 2.5]}


def test_diff_shows_both_trials(client):
    answer = client.get("/api/experiments/dash/diff", params={"a": 1, "b": 4}).json()
    assert answer["trials"]["1"]["parameters"] == {"a": 1}
    assert answer["trials"]["4"]["status"] == "failed"
    assert answer["diff"]["parameters"] == {"a": {"a": 1, "b": 0}}
    assert answer["diff"]["status"] == {"a": "finished", "b": "failed"}
    assert answer["diff"]["code"] == {}


def test_unknown_experiments_and_trials_are_404_and_nothing_is_created(client):
    assert client.get("/api/experiments/other/trials").status_code == 404
    assert client.get("/api/experiments/dash/trials/99").status_code == 404
    assert client.get("/api/experiments/dash/trials/x").status_code == 400
    assert [row["id"] for row in client.get("/api/experiments").json()["experiments"]] == ["dash"]


def test_a_new_trial_appears_without_restarting(client, session):
    ex, call = session
    assert trials(client)["total"] == 4
    ex.set_parameters(a=5)
    call.compute(seed=3)
    deadline = time.monotonic() + 10
    while trials(client)["total"] != 5:
        assert time.monotonic() < deadline, "the new trial never appeared"
    assert trials(client, sort="id", order="desc")["trials"][0]["parameters"] == {"a": 5}


def test_requests_for_another_host_are_refused(client):
    response = client.get("/api/experiments", headers={"Host": "attacker.example:80"})
    assert response.status_code == 421
    assert client.get("/api/experiments", headers={"Host": "localhost"}).status_code == 200


def test_tags_and_note_are_the_only_writes(client):
    url = "/api/experiments/dash/trials/2/labels"
    answer = client.post(url, json={"add_tags": ["best", "baseline"], "note": "keep"}).json()
    assert answer["tags"] == ["baseline", "best"]
    assert answer["note"] == "keep"
    assert client.post(url, json={"remove_tags": ["baseline"]}).json()["tags"] == ["best"]
    assert ids(trials(client, filter="tags:best")) == [2]
    assert trials(client, where="Note == 'keep'")["total"] == 1
    assert client.post(url, json={"add_tags": [""]}).status_code == 400
    assert client.post(url, json={"colour": "red"}).status_code == 400
    assert (
        client.post("/api/experiments/dash/trials/99/labels", json={"note": "x"}).status_code == 404
    )
    assert client.get(url).status_code == 405


def test_persisted_outputs_are_described_and_downloaded_never_unpickled(client, session):
    ex, _ = session
    (persisted,) = client.get("/api/experiments/dash/trials/1").json()["persisted"]
    assert persisted["step"] == "features"
    assert persisted["repr"] == f"<pickled list, {persisted['bytes']} bytes>"
    download = client.get("/api/experiments/dash/trials/1/persisted/features")
    assert download.headers["content-disposition"] == 'attachment; filename="dash-1-features.pkl"'
    assert pickle.loads(download.content) == ex.get_persisted("features", 1) == [1, 1, 1]
    assert client.get("/api/experiments/dash/trials/1/persisted/nothing").status_code == 404


def test_writes_must_be_json_from_the_same_origin(client):
    form = client.post("/api/experiments/dash/trials/1/labels", data={"note": "x"})
    assert form.status_code == 403
    foreign = client.post(
        "/api/experiments/dash/trials/1/labels",
        json={"note": "x"},
        headers={"Origin": "http://attacker.example"},
    )
    assert foreign.status_code == 403


def test_the_page_and_its_assets_are_served_with_a_same_origin_policy(client):
    page = client.get("/")
    assert page.status_code == 200
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    for asset in ("/static/main.js", "/static/vendor/uPlot.iife.min.js", "/static/app.css"):
        assert client.get(asset).status_code == 200, asset


def test_stop_frees_the_port_and_a_taken_port_is_a_clear_error(session):
    ex, _ = session
    dashboard = ex.start_dashboard(port=0, blocking=False)
    with pytest.raises(DashboardUnavailable, match="port=0 picks a free one"):
        start_dashboard(ex.backend, "dash", port=dashboard.port, blocking=False)
    dashboard.stop()
    with pytest.raises(httpx.HTTPError):
        httpx.get(dashboard.url, timeout=2)


def test_start_dashboard_needs_a_backend():
    with pytest.raises(TypeError, match="needs an xptrack Backend"):
        start_dashboard("not a backend", blocking=False)


def test_the_local_default_store_is_every_experiment_under_xptrack_cache():
    import xptrack

    first = xptrack.Experiment("first", capture_environment=False)
    xptrack.Experiment("second", capture_environment=False)
    dashboard = first.start_dashboard(port=0, blocking=False)
    try:
        answer = httpx.get(dashboard.url + "api/experiments", timeout=10).json()
    finally:
        dashboard.stop()
    assert answer["default"] == "first"
    assert [row["id"] for row in answer["experiments"]] == ["first", "second"]


UNPICKLED: list[str] = []


def _record_unpickling() -> str:
    UNPICKLED.append("unpickled")
    return "loaded"


class Planted:
    """A value whose unpickling is visible (it calls ``_record_unpickling``)."""

    def __reduce__(self):
        return (_record_unpickling, ())


def test_pickled_values_are_shown_as_placeholders_and_never_unpickled(make_experiment):
    ex = make_experiment("pickles")
    value = ex.parameter("value")

    @ex.result
    def keep(value):
        return Planted()

    ex.set_parameters(value=Planted())
    keep(value).compute(seed=1)
    UNPICKLED.clear()  # the trial itself may copy its values; what follows must not
    dashboard = ex.start_dashboard(port=0, blocking=False)
    try:
        with httpx.Client(base_url=dashboard.url, timeout=10) as http:
            (row,) = http.get("/api/experiments/pickles/trials").json()["trials"]
            detail = http.get("/api/experiments/pickles/trials/1").json()
            by_value = http.get("/api/experiments/pickles/trials", params={"sort": "result"})
    finally:
        dashboard.stop()
    assert by_value.status_code == 200
    for shown in (row["parameters"]["value"], row["result"], detail["result"]):
        assert shown.startswith("<pickled ") and "Planted" in shown, shown
    assert UNPICKLED == []


def test_an_unreadable_new_record_never_breaks_the_trials_page(tmp_path):
    import sqlite3

    import xptrack

    ex = xptrack.Experiment("planted", backend=tmp_path, capture_environment=False)
    a = ex.parameter("a")

    @ex.result
    def echo(a):
        return a

    ex.set_parameters(a=1)
    echo(a).compute(seed=1)
    dashboard = ex.start_dashboard(port=0, blocking=False)
    try:
        with httpx.Client(base_url=dashboard.url, timeout=10) as http:
            url = "/api/experiments/planted/trials"
            assert http.get(url).json()["total"] == 1
            with sqlite3.connect(tmp_path / "planted.db") as db:
                db.execute("INSERT INTO trials (trial_id, record) VALUES (2, 'not a record')")
            ex.set_parameters(a=3)
            echo(a).compute(seed=1)  # trial 3, after the planted one
            deadline = time.monotonic() + 10
            while (answer := http.get(url)).json().get("total") != 2:
                assert answer.status_code == 200, answer.text
                assert time.monotonic() < deadline, answer.text
    finally:
        dashboard.stop()
    assert ids(answer.json()) == [1, 3]


def test_inside_ipython_start_dashboard_returns_a_running_handle(session, monkeypatch):
    import types

    ex, _ = session
    shell = types.SimpleNamespace(get_ipython=lambda: object())  # what a kernel answers
    monkeypatch.setitem(sys.modules, "IPython", shell)
    dashboard = ex.start_dashboard(port=0)  # blocking=None: a notebook must not freeze
    try:
        assert httpx.get(dashboard.url + "api/experiments", timeout=10).status_code == 200
    finally:
        dashboard.stop()
