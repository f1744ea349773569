"""What someone with write access to the store can plant is refused, never run; with a signing
key, users' pickles are checked; passwords never show."""

from __future__ import annotations

import base64
import json
import logging
import pathlib
import pickle
import sqlite3
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from uuid import uuid4

import pytest

import xptrack
from tests.integration import _steps
from xptrack.errors import CorruptRecord, SignatureError, StoreUnavailable

SIGNING_KEY = "test-signing-key"
TAG = "__xptrack__"


class Planted:
    """Unpickling this creates ``path``: what a malicious pickle would do, harmlessly."""

    def __init__(self, path: pathlib.Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (pathlib.Path.touch, (self.path,))


@pytest.fixture
def marker(tmp_path: pathlib.Path) -> pathlib.Path:
    """The file a planted pickle creates if anything ever unpickles it."""
    return tmp_path / "unpickled"


def two_trials(backend: Any, experiment_id: str) -> xptrack.Experiment:
    ex = _steps.open_experiment(backend, experiment_id)
    call = _steps.build_inverse(ex)
    ex.run_trials(call, [{"x": 1}, {"x": 2}])
    return ex


# --- planting data behind xptrack's back, with each store's own driver ----------------------


def plant(kind: str, backend: Any, experiment_id: str, trial_id: int, part: str, data: Any) -> None:
    """Overwrite ``part`` of trial ``trial_id``'s stored record with ``data``: for the local
    store the ``trials.record`` column (``part`` is ignored: the record is one text), for
    Redis the key ``<id>:<part>:<trial>``, for MongoDB the trial document's field ``part``."""
    if kind == "local":
        with sqlite3.connect(backend / f"{experiment_id}.db") as connection:
            connection.execute("UPDATE trials SET record = ? WHERE trial_id = ?", (data, trial_id))
        connection.close()
    elif kind == "redis":
        import redis

        with redis.Redis.from_url(backend) as client:
            client.set(f"{experiment_id}:{part}:{trial_id}", data)
    else:
        import bson
        import pymongo

        value = bson.Binary(data) if isinstance(data, bytes) else data
        with pymongo.MongoClient(backend) as client:
            client.get_default_database()[experiment_id].update_one(
                {"category": "trial", "trial_id": trial_id}, {"$set": {part: value}}
            )


def plant_parameter(
    kind: str, backend: Any, experiment_id: str, trial_id: int, encoded: Any
) -> None:
    """Make parameter ``x`` of trial ``trial_id`` the encoded value ``encoded``."""
    if kind == "local":
        with sqlite3.connect(backend / f"{experiment_id}.db") as connection:
            (text,) = connection.execute(
                "SELECT record FROM trials WHERE trial_id = ?", (trial_id,)
            ).fetchone()
        connection.close()
        record = json.loads(text)
        record["parameters"]["x"] = encoded
        plant(kind, backend, experiment_id, trial_id, "record", json.dumps(record))
    elif kind == "redis":
        plant(kind, backend, experiment_id, trial_id, "parameter", json.dumps({"x": encoded}))
    else:
        plant(kind, backend, experiment_id, trial_id, "parameter", {"x": encoded})


# --- tracker-owned records ----------------------------------------------------------------------


def test_a_pickle_planted_in_a_trial_record_is_refused_and_never_run(
    backend_kind, backend_uri, experiment_id, marker
):
    ex = two_trials(backend_uri, experiment_id)
    first, second = ("record", "record") if backend_kind == "local" else ("history", "parameter")
    plant(backend_kind, backend_uri, experiment_id, 1, first, pickle.dumps(Planted(marker)))
    # Protocol 0 is plain ASCII: it even passes for text.
    plant(
        backend_kind,
        backend_uri,
        experiment_id,
        2,
        second,
        pickle.dumps(Planted(marker), 0).decode(),
    )

    for read in (lambda: ex.get_parameters(1), lambda: ex.get_parameters(2)):
        with pytest.raises(CorruptRecord):
            read()
    # The history isolates each unreadable record to its trial (see test_faults_records).
    reopened = _steps.open_experiment(backend_uri, experiment_id)
    for history in (ex.get_history(), reopened.get_history()):
        assert list(history.index) == [1, 2]
        assert all(d.startswith("unreadable record: CorruptRecord") for d in history["Description"])
    assert not marker.exists()


def test_with_a_signing_key_an_unsigned_pickle_inside_a_record_is_refused_when_loaded(
    backend_kind, backend_uri, experiment_id, marker, monkeypatch
):
    monkeypatch.setenv("XPTRACK_SIGNING_KEY", SIGNING_KEY)
    ex = two_trials(backend_uri, experiment_id)
    unsigned = base64.b64encode(pickle.dumps(Planted(marker))).decode()
    plant_parameter(backend_kind, backend_uri, experiment_id, 1, {TAG: "pickle", "v": unsigned})

    # The history never unpickles, so it shows the placeholder; loading the value refuses it.
    assert str(ex.get_history()["x"][1]).startswith("<pickled ")
    with pytest.raises(SignatureError, match="not signed"):
        ex.get_parameters(1)
    assert ex.get_parameters(2) == {"x": 2}
    assert not marker.exists()


# --- users' own pickles: persisted outputs, signed ----------------------------------------------


def test_with_a_signing_key_persisted_outputs_round_trip_and_tampered_ones_are_refused(
    backend_uri, experiment_id, marker, monkeypatch
):
    monkeypatch.setenv("XPTRACK_SIGNING_KEY", SIGNING_KEY)
    ex = two_trials(backend_uri, experiment_id)
    assert [ex.get_persisted("half", n) for n in (1, 2)] == [0.5, 1.0]
    store = xptrack.open_backend(backend_uri, experiment_id).open(experiment_id)

    signed = store.load_persisted("half", 1)
    store.save_persisted("half", 1, signed[:-1] + bytes([signed[-1] ^ 1]))
    with pytest.raises(SignatureError, match="does not match"):
        ex.get_persisted("half", 1)
    store.save_persisted("half", 2, pickle.dumps(Planted(marker)))
    with pytest.raises(SignatureError, match="not signed"):
        ex.get_persisted("half", 2)
    monkeypatch.setenv("XPTRACK_SIGNING_KEY", "another-key")
    store.save_persisted("half", 1, signed)
    with pytest.raises(SignatureError, match="does not match"):
        ex.get_persisted("half", 1)
    assert not marker.exists()


# --- passwords ----------------------------------------------------------------------------------

PASSWORD_BACKENDS = [
    pytest.param("redis", marks=pytest.mark.redis),
    pytest.param("mongo", marks=pytest.mark.mongo),
]


@pytest.fixture
def uri_with_password(
    request: pytest.FixtureRequest, experiment_id: str
) -> Iterator[tuple[str, str, str]]:
    """``(kind, URI with a password, password)`` on a server that checks it; the test's
    experiment is deleted afterwards."""
    if request.param == "redis":
        from tests.servers.redis_server import REDIS_TEST_PASSWORD

        server = request.getfixturevalue("redis_password_server")
        yield "redis", server.url, REDIS_TEST_PASSWORD
        xptrack.open_backend(server.url, experiment_id).open(experiment_id).delete_experiment()
        return
    import pymongo

    # A user of our own on the session's server (which checks credentials when given).
    user, password = f"u{uuid4().hex[:8]}", f"Pw-{uuid4().hex}"
    plain = request.getfixturevalue("mongo_url")
    with pymongo.MongoClient(plain) as client:
        client.admin.command("createUser", user, pwd=password, roles=["root"])
        parts = urlsplit(plain)
        netloc = f"{user}:{password}@{parts.netloc}"
        query = f"{parts.query}&authSource=admin"
        uri = urlunsplit((parts.scheme, netloc, parts.path, query, ""))
        yield "mongo", uri, password
        xptrack.open_backend(uri, experiment_id).open(experiment_id).delete_experiment()
        client.admin.command("dropUser", user)


def stored_text(kind: str, uri: str, experiment_id: str) -> str:
    """Everything stored for the experiment, as one text."""
    if kind == "redis":
        import redis

        with redis.Redis.from_url(uri) as client:
            keys = list(client.scan_iter(match=f"{experiment_id}:*"))
            values = [client.dump(key) or b"" for key in keys]
            return repr(keys) + repr(values)
    import pymongo

    with pymongo.MongoClient(uri) as client:
        return repr(list(client.get_default_database()[experiment_id].find()))


@pytest.mark.slow
@pytest.mark.parametrize("uri_with_password", PASSWORD_BACKENDS, indirect=True)
def test_the_password_never_shows_in_repr_logs_errors_or_stored_records(
    uri_with_password, experiment_id, caplog
):
    kind, uri, password = uri_with_password
    caplog.set_level(logging.DEBUG)

    # With environment capture: what is stored about the machine must not hold it either.
    ex = xptrack.Experiment(experiment_id, backend=uri)
    call = _steps.build_inverse(ex)
    ex.run_trials(call, [{"x": 1}, {"x": 0}], errors="return")
    reopened = xptrack.Experiment(experiment_id, backend=uri, capture_environment=False)
    wrong = uri.replace(password, "wrong-password")
    with pytest.raises(StoreUnavailable) as refused:
        xptrack.Experiment(experiment_id, backend=wrong, capture_environment=False)

    assert list(reopened.get_history()["Success"]) == [True, False]
    assert "***" in repr(ex) and "***" in repr(reopened.backend)
    shown = [repr(ex), repr(reopened), str(refused.value), caplog.text]
    shown += [record.getMessage() for record in caplog.records]
    environment = ex.get_environment(1)
    assert "dask" in environment["requirements"]  # captured, and stored with the trial
    shown += [json.dumps(environment), stored_text(kind, uri, experiment_id)]
    for text in shown:
        assert password not in text
    assert "wrong-password" not in str(refused.value)
