"""The Redis store on a real redis-server of the tests' own: layout, safety, connections."""

from __future__ import annotations

import datetime as dt
import json
import logging
import multiprocessing
import pickle
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.servers.redis_server import (
    REDIS_TEST_PASSWORD,
    RedisServer,
    new_experiment_id,
    running_redis_server,
)
from xptrack.adapters.redis import RedisBackend, RedisExperimentStore
from xptrack.adapters.redis_texts import digest
from xptrack.adapters.serialization import encode_value
from xptrack.domain.environment import EnvironmentSnapshot
from xptrack.domain.errors import CorruptRecord, InvalidBackend, StoreUnavailable
from xptrack.domain.metric import MetricSeries
from xptrack.domain.trial import TrialRecord

pytestmark = pytest.mark.redis

STARTED = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.timezone.utc)
ENVIRONMENT = EnvironmentSnapshot(
    {"device": '{"system": "Linux"}', "numpy": "blas_opt_info: ...", "requirements": "numpy==2.0"}
)


@pytest.fixture
def raw(redis_url: str) -> Iterator[redis.Redis]:
    """A plain redis-py client on the test server, to look at the keys as they are."""
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def store(redis_backend: RedisBackend, redis_experiment_id: str) -> RedisExperimentStore:
    return redis_backend.open(redis_experiment_id)


def finished_trial(trial_id: int) -> TrialRecord:
    record = TrialRecord(trial_id, {"a": 1, "b": (2, 3), "lr": 1e-3}, STARTED, seed=7)
    return record.succeeded(10 / 3, STARTED + dt.timedelta(seconds=2), 1.5)


def fill(store: RedisExperimentStore) -> int:
    """Record one trial with something of every kind; return its id."""
    trial_id = store.next_trial_id()
    store.save_trial(finished_trial(trial_id))
    store.append_metrics([(trial_id, "loss", MetricSeries([0, 1], [0.5, 0.25]))])
    store.append_metrics([(trial_id, "loss", MetricSeries([2], [0.125]))])
    store.save_persisted("features", trial_id, b"user bytes")
    store.swap_step_hash("prepare", "in123", "out456")
    store.save_code(trial_id, "@ex\ndef prepare(a, b):\n    return a + b\n")
    store.save_environment(trial_id, ENVIRONMENT)
    return trial_id


def keys_of(raw: redis.Redis, experiment_id: str) -> set[str]:
    return {key.decode() for key in raw.scan_iter(match=f"{experiment_id}:*")}


def test_keys_follow_the_seed_layout(store, raw, redis_experiment_id):
    trial_id = fill(store)
    x = redis_experiment_id

    seed_keys = {
        f"{x}:trial_id",
        f"{x}:parameter:{trial_id}",
        f"{x}:history:{trial_id}",
        f"{x}:persist:features:{trial_id}",
        f"{x}:metric:loss:{trial_id}",
        f"{x}:step_hash:prepare-in123",
        f"{x}:code:{trial_id}",
        f"{x}:device:{trial_id}",
        f"{x}:numpy:{trial_id}",
        f"{x}:requirements:{trial_id}",
    }
    index_keys = {f"{x}:trials", f"{x}:metric_keys:{trial_id}", f"{x}:environment:{trial_id}"}
    index_keys.add(f"{x}:persisted:{trial_id}")
    # The code and environment texts, once per content; the per-trial keys refer to them.
    texts = [store.load_code(trial_id), *ENVIRONMENT.categories.values()]
    text_keys = {f"{x}:text:{digest(text)}" for text in texts} | {f"{x}:text_refs"}
    # Beside them, expiring markers of applied metric batches (a repeated batch is ignored).
    markers = {key for key in keys_of(raw, x) if key.startswith(f"{x}:metric_batch:")}
    assert markers and all(0 < raw.ttl(marker) <= 3600 for marker in markers)
    assert keys_of(raw, x) - markers == seed_keys | index_keys | text_keys
    assert x.encode() in raw.smembers("_xptrack:experiments")
    assert raw.get(f"{x}:trial_id") == b"1"
    parameters = json.loads(raw.get(f"{x}:parameter:{trial_id}"))
    assert parameters == encode_value({"a": 1, "b": (2, 3), "lr": 1e-3})
    history = json.loads(raw.get(f"{x}:history:{trial_id}"))
    assert history["result"] == pytest.approx(10 / 3)
    assert history["status"] == "finished"
    assert "parameters" not in history
    assert raw.get(f"{x}:persist:features:{trial_id}") == b"user bytes"
    assert raw.get(f"{x}:step_hash:prepare-in123") == b"out456"
    code = store.load_code(trial_id)
    assert raw.get(f"{x}:code:{trial_id}") == f"\xfftext:{digest(code)}".encode("latin-1")
    assert raw.get(f"{x}:text:{digest(code)}").decode() == code
    device = raw.get(f"{x}:device:{trial_id}")
    assert raw.get(f"{x}:{device[1:].decode()}") == b'{"system": "Linux"}'
    requirements = raw.get(f"{x}:requirements:{trial_id}")
    assert raw.get(f"{x}:{requirements[1:].decode()}") == b"numpy==2.0"


def test_metrics_are_a_redis_list_that_reads_back_in_order(store, raw, redis_experiment_id):
    trial_id = fill(store)

    assert raw.type(f"{redis_experiment_id}:metric:loss:{trial_id}") == b"list"
    assert store.load_metric(trial_id, "loss") == MetricSeries([0, 1, 2], [0.5, 0.25, 0.125])
    assert store.metric_keys(trial_id) == ["loss"]


def test_no_tracker_owned_value_is_a_pickle(store, raw, redis_experiment_id):
    fill(store)

    values = []
    for key in keys_of(raw, redis_experiment_id):
        kind = raw.type(key)
        if ":persist:" in key:
            continue  # the user's own bytes, stored as given
        if kind == b"string":
            values.append(raw.get(key))
        elif kind == b"list":
            values.extend(raw.lrange(key, 0, -1))
        elif kind == b"hash":
            values.extend(raw.hvals(key))
        else:
            values.extend(raw.zrange(key, 0, -1) if kind == b"zset" else raw.smembers(key))
    assert values
    assert not [value for value in values if value.startswith(b"\x80")]


def test_list_trials_returns_every_saved_trial_in_id_order(store):
    ids = [store.next_trial_id() for _ in range(1_203)]
    for trial_id in reversed(ids):
        store.save_trial(finished_trial(trial_id))

    trials = store.list_trials()

    assert [t.trial_id for t in trials] == ids
    assert trials[5] == store.get_trial(ids[5])
    assert store.last_trial_id() == 1_203


def test_unix_socket_uri_reaches_the_same_data(
    store, redis_server: RedisServer, redis_experiment_id
):
    trial_id = fill(store)

    backend = RedisBackend(redis_server.unix_url)

    assert backend.location == redis_server.unix_url
    assert backend.open(redis_experiment_id).get_trial(trial_id) == store.get_trial(trial_id)


def test_password_protected_server_works_and_the_password_never_shows(
    redis_password_server: RedisServer, caplog
):
    caplog.set_level(logging.DEBUG)
    backend = RedisBackend(redis_password_server.url)

    store = backend.open(new_experiment_id())
    trial_id = store.next_trial_id()
    store.save_trial(finished_trial(trial_id))

    assert store.get_trial(trial_id).result == pytest.approx(10 / 3)
    assert backend.location == f"redis://:***@127.0.0.1:{redis_password_server.port}/0"
    for shown in (repr(backend), backend.location, caplog.text):
        assert REDIS_TEST_PASSWORD not in shown


def test_password_in_unix_socket_uri_works_and_is_redacted(redis_password_server: RedisServer):
    backend = RedisBackend(redis_password_server.unix_url)

    assert backend.open(new_experiment_id()).next_trial_id() == 1
    assert REDIS_TEST_PASSWORD not in repr(backend)
    assert repr(backend) == f"RedisBackend('unix://:***@{redis_password_server.unix_socket}?db=0')"


@pytest.mark.parametrize("password", ["wrong-Pa55word", None])
def test_wrong_or_missing_password_is_store_unavailable(
    redis_password_server: RedisServer, password: str | None
):
    auth = f":{password}@" if password else ""
    url = f"redis://{auth}127.0.0.1:{redis_password_server.port}/0"

    with pytest.raises(StoreUnavailable) as caught:
        RedisBackend(url).open(new_experiment_id())

    message = str(caught.value)
    assert f"127.0.0.1:{redis_password_server.port}" in message
    assert "refused" in message
    assert REDIS_TEST_PASSWORD not in message
    assert not password or password not in message


def test_unreachable_server_is_store_unavailable_within_5_seconds():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"redis://:{REDIS_TEST_PASSWORD}@127.0.0.1:{port}/0"

    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as caught:
        RedisBackend(url).open("unreachable")

    assert time.monotonic() - started < 5
    assert f"redis://:***@127.0.0.1:{port}/0" in str(caught.value)
    assert REDIS_TEST_PASSWORD not in str(caught.value)


def test_server_that_never_answers_is_store_unavailable_within_5_seconds():
    with socket.socket() as silent:  # accepts connections, never replies
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"

        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match=r"127\.0\.0\.1"):
            RedisBackend(url).open("silent")

        assert time.monotonic() - started < 5


def test_server_gone_after_open_is_store_unavailable(tmp_path: Path):
    with running_redis_server(tmp_path) as server:
        store = RedisBackend(server.url).open("gone")
        store.next_trial_id()

    with pytest.raises(StoreUnavailable, match=f"127.0.0.1:{server.port}"):
        store.next_trial_id()


def test_delete_experiment_removes_only_its_own_keys(redis_backend, raw, redis_experiment_id):
    mine = redis_backend.open(redis_experiment_id)
    # An id that extends mine: its keys start with my id but not with "<my id>:".
    neighbour = redis_backend.open(f"{redis_experiment_id}x")
    fill(mine)
    fill(neighbour)
    unrelated = f"{redis_experiment_id}-unrelated"
    raw.set(unrelated, b"not xptrack's")
    neighbour_keys = keys_of(raw, f"{redis_experiment_id}x")

    mine.delete_experiment()

    assert keys_of(raw, redis_experiment_id) == set()
    assert mine.last_trial_id() == 0
    assert mine.list_trials() == []
    assert keys_of(raw, f"{redis_experiment_id}x") == neighbour_keys
    assert neighbour.list_trials() == [finished_trial(1)]
    assert raw.get(unrelated) == b"not xptrack's"


def test_pickled_backend_opens_a_store_that_sees_the_same_data(store, redis_backend):
    trial_id = fill(store)

    copy = pickle.loads(pickle.dumps(redis_backend))

    assert copy == redis_backend
    assert repr(copy) == repr(redis_backend)
    assert copy.open(store.experiment_id).get_trial(trial_id) == store.get_trial(trial_id)


def _allocate_ids(backend: RedisBackend, experiment_id: str) -> list[int]:
    store = backend.open(experiment_id)
    return [store.next_trial_id() for _ in range(25)]


def test_forked_processes_reuse_the_backend_and_allocate_unique_ids(store, redis_backend):
    first = store.next_trial_id()  # the parent now holds a live connection

    with multiprocessing.get_context("fork").Pool(2) as pool:
        batches = pool.starmap(_allocate_ids, [(redis_backend, store.experiment_id)] * 4)

    allocated = [first, *(i for batch in batches for i in batch)]
    assert sorted(allocated) == list(range(1, 102))
    assert store.next_trial_id() == 102


def test_from_pool_reaches_the_pools_server(store, redis_url, redis_server: RedisServer):
    trial_id = fill(store)

    backend = RedisBackend.from_pool(redis.ConnectionPool.from_url(redis_url))
    unix = RedisBackend.from_pool(redis.ConnectionPool.from_url(redis_server.unix_url))

    assert repr(backend) == f"RedisBackend('{redis_url}')"
    assert backend.open(store.experiment_id).get_trial(trial_id) == store.get_trial(trial_id)
    assert unix.open(store.experiment_id).last_trial_id() == trial_id


def test_from_pool_that_decodes_responses_still_returns_bytes(store, redis_url):
    trial_id = fill(store)
    store.save_persisted("blob", trial_id, b"\x80\xff\x00")
    pool = redis.ConnectionPool.from_url(redis_url, decode_responses=True)

    copy = RedisBackend.from_pool(pool).open(store.experiment_id)

    assert copy.load_persisted("blob", trial_id) == b"\x80\xff\x00"
    assert copy.load_metric(trial_id, "loss") == store.load_metric(trial_id, "loss")


def test_from_tls_pool_keeps_its_settings_and_redacts_the_password():
    pool = redis.ConnectionPool.from_url(
        f"rediss://alice:{REDIS_TEST_PASSWORD}@cache.example:6380/2?ssl_cert_reqs=none"
    )

    backend = RedisBackend.from_pool(pool)

    assert backend.location == "rediss://alice:***@cache.example:6380/2"
    assert pickle.loads(pickle.dumps(backend)) == backend
    assert backend == RedisBackend(
        f"rediss://alice:{REDIS_TEST_PASSWORD}@cache.example:6380/2?ssl_cert_reqs=none"
    )


def test_malformed_uri_is_refused_without_showing_the_password():
    with pytest.raises(InvalidBackend) as caught:
        RedisBackend(f"redis://:{REDIS_TEST_PASSWORD}@localhost:notaport/0")

    assert "redis://:***@localhost:notaport/0" in str(caught.value)
    assert REDIS_TEST_PASSWORD not in str(caught.value)


def test_from_pool_with_password_works_and_is_redacted(redis_password_server: RedisServer):
    pool = redis.ConnectionPool.from_url(redis_password_server.url)

    backend = RedisBackend.from_pool(pool)

    assert backend.open(new_experiment_id()).next_trial_id() == 1
    assert backend.location == f"redis://:***@127.0.0.1:{redis_password_server.port}/0"
    assert REDIS_TEST_PASSWORD not in pickle.loads(pickle.dumps(backend)).location


class _CreatesAFile:
    """A pickle that, if ever loaded, creates a file: proof that something unpickled it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


@pytest.mark.parametrize("half", ["history", "parameter"])
def test_planted_pickle_is_refused_and_never_executed(store, raw, tmp_path: Path, half: str):
    trial_id = fill(store)
    marker = tmp_path / "pwned"
    raw.set(f"{store.experiment_id}:{half}:{trial_id}", pickle.dumps(_CreatesAFile(marker)))

    with pytest.raises(CorruptRecord):
        store.get_trial(trial_id)
    # A bulk read isolates the record to its trial (test_faults_records).
    (unreadable,) = store.list_trials()
    assert unreadable.description.startswith("unreadable record: CorruptRecord")

    assert not marker.exists()


def test_foreign_value_under_a_metric_key_is_corrupt_record(store, raw):
    trial_id = fill(store)
    raw.delete(f"{store.experiment_id}:metric:loss:{trial_id}")
    raw.set(f"{store.experiment_id}:metric:loss:{trial_id}", b"a string, not a list")

    with pytest.raises(CorruptRecord):
        store.load_metric(trial_id, "loss")
