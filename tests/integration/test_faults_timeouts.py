"""A store that stops answering fails every call within its budget (README "Faults"), during a
trial too; a write the driver sends again is stored once. Real servers the tests started,
paused with SIGSTOP or behind a connection that drops a reply; timeouts made small in the URI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration import _steps
from tests.integration._faults import ReplyDroppingProxy, pause, poll, resume
from tests.servers.processes import free_port, mongo_answers, stop, wait_until_answers
from tests.servers.redis_server import running_redis_server
from xptrack.adapters.mongo_connection import OPERATION_TIMEOUT_MS, shared_client
from xptrack.adapters.redis_connection import RedisConnection, RedisTimeouts
from xptrack.adapters.serialization import decode_metric_chunks
from xptrack.errors import StoreUnavailable

#: Waits made small so that a paused server is noticed within a second or two.
SHORT_REDIS = "socket_timeout=0.5&socket_connect_timeout=0.5"
SHORT_MONGO = "timeoutMS=800&serverSelectionTimeoutMS=500&connectTimeoutMS=500"


def build_training(ex, points: int = 1000, then=None):
    """A result step saving ``points`` points of ``loss`` (fewer than a flush's worth, so they
    reach the store when the step ends), calling ``then()`` before it returns."""
    x = ex.parameter("x")

    @ex.result
    def train(x):
        for epoch in range(points):
            ex.save_metric("loss", epoch=epoch, value=epoch / points)
        if then is not None:
            then()
        return x

    return train(x)


# --- the budgets, as configured ------------------------------------------------------------------


def test_a_redis_command_is_bounded_by_ten_seconds_unless_the_uri_says_otherwise():
    default = RedisConnection.from_url("redis://127.0.0.1:6379/0")
    given = RedisConnection.from_url(f"redis://127.0.0.1:6379/0?{SHORT_REDIS}")

    assert default.timeouts.worst_case <= 10
    assert given.timeouts == RedisTimeouts(connect=0.5, read=0.5)
    for connection in (default, given):
        settings = connection.client().connection_pool.connection_kwargs  # connects on use only
        assert settings["socket_connect_timeout"] == connection.timeouts.connect
        assert settings["socket_timeout"] == connection.timeouts.read
        assert settings["retry"].get_retries() == connection.timeouts.retries == 1


@pytest.mark.mongo
def test_a_mongodb_operation_is_bounded_by_its_timeout_unless_the_uri_says_otherwise(mongo_url):
    assert shared_client(mongo_url).options.timeout == OPERATION_TIMEOUT_MS / 1000 <= 10
    assert shared_client(f"{mongo_url}&timeoutMS=750").options.timeout == 0.75


# --- Redis ---------------------------------------------------------------------------------------


@pytest.mark.redis
@pytest.mark.timeout(60)
def test_redis_paused_during_a_metric_flush_fails_the_trial_and_keeps_each_point_once(tmp_path):
    import redis

    with running_redis_server(tmp_path) as server:
        ex = _steps.open_experiment(f"{server.url}?{SHORT_REDIS}", "paused")
        call = build_training(ex, then=lambda: pause(server.process))
        ex.set_parameters(x=1)
        try:
            with pytest.raises(StoreUnavailable, match="did not answer"):
                ex.run_trial(call)
            # Later calls give up sooner while the server keeps silent.
            with pytest.raises(StoreUnavailable, match="as it had not answered lately"):
                ex.get_history()
        finally:
            resume(server.process)
        ex.backend.close()
        with redis.Redis(port=server.port) as raw:
            # The timed-out requests run when the server wakes; once it has closed their
            # connections, nothing more can arrive.
            poll(lambda: len(raw.client_list()) == 1, "the timed-out connections to close")
            points = decode_metric_chunks(raw.lrange("paused:metric:loss:1", 0, -1))
    assert sorted(points.epochs) == list(range(1000))


@pytest.mark.redis
def test_a_metric_batch_sent_again_after_a_dropped_reply_is_stored_once(
    redis_server, experiment_id
):
    import redis

    proxy = ReplyDroppingProxy(redis_server.port)
    uri = f"redis://127.0.0.1:{proxy.port}/0"
    try:
        ex = _steps.open_experiment(uri, experiment_id)
        call = build_training(ex, points=100)
        ex.run_trials(call, [{"x": 1}])
        proxy.arm(f"{experiment_id}:metric:loss:2".encode())
        ex.run_trials(call, [{"x": 2}])

        assert proxy.dropped.is_set()
        assert list(ex.get_history()["Success"]) == [True, True]
        with redis.Redis(port=redis_server.port) as raw:
            points = decode_metric_chunks(raw.lrange(f"{experiment_id}:metric:loss:2", 0, -1))
        assert points.epochs == list(range(100))
    finally:
        proxy.close()
        ex.backend.open(experiment_id).delete_experiment()


# --- MongoDB -------------------------------------------------------------------------------------


@pytest.fixture
def own_mongo(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """A SecantusDB of this test's own (it gets paused), in memory."""
    executable = Path(sys.executable).with_name("secantusd-py")
    if not executable.exists() and shutil.which("secantusd-py") is None:
        if os.environ.get("XPTRACK_REQUIRE_MONGO") == "1":
            pytest.fail("XPTRACK_REQUIRE_MONGO=1 but secantusd-py is not installed", pytrace=False)
        pytest.skip("secantusd-py is not installed")
    port = free_port()
    config = tmp_path / "secantusd.toml"
    config.write_text("")
    args = [str(executable), "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    args += ["--storage-path", ":memory:", "--log-level", "WARNING"]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_until_answers(process, lambda: mongo_answers(port), 60)
        yield process, port
    finally:
        resume(process)
        stop(process)


@pytest.mark.mongo
@pytest.mark.timeout(90)
def test_a_paused_mongodb_fails_the_trial_and_every_call_within_the_timeout(own_mongo):
    process, port = own_mongo
    ex = _steps.open_experiment(f"mongodb://127.0.0.1:{port}/faults?{SHORT_MONGO}", "paused")
    ex.run_trials(build_training(ex, points=10), [{"x": 1}])
    call = build_training(ex, then=lambda: pause(process))
    ex.set_parameters(x=2)

    try:
        with pytest.raises(StoreUnavailable, match=r"did not answer in time|is unreachable"):
            ex.run_trial(call)
        for read in (ex.get_history, lambda: ex.load_metric("loss", 1), lambda: ex.get_code(1)):
            with pytest.raises(StoreUnavailable, match="as it had not answered lately"):
                read()
    finally:
        resume(process)

    poll(lambda: _answers(ex.get_history), "the resumed server to answer")
    assert list(ex.get_history().index) == [1, 2]


def _answers(call) -> bool:
    try:
        call()
    except StoreUnavailable:
        return False
    return True


@pytest.mark.mongo
def test_mongodb_chunks_sent_again_are_stored_once(mongo_url, mongo_experiment_id):
    from xptrack.adapters.mongo import MongoBackend
    from xptrack.adapters.mongo_connection import insert_once
    from xptrack.adapters.serialization import encode_metric_chunk
    from xptrack.domain.metric import MetricSeries

    backend = MongoBackend(mongo_url)
    store = backend.open(mongo_experiment_id)
    collection = shared_client(mongo_url)[backend.database_name][mongo_experiment_id]
    key = {"experiment_id": mongo_experiment_id, "category": "metric", "metric_key": "loss"}
    chunks = [
        {**key, "trial_id": 1, "seq": i, "points": encode_metric_chunk(MetricSeries([i], [i / 2]))}
        for i in range(3)
    ]

    insert_once(collection, chunks[:2])  # a first send that reached the server in part
    insert_once(collection, chunks)  # the driver sends the same documents (same _ids) again

    assert store.load_metric(1, "loss") == MetricSeries([0, 1, 2], [0.0, 0.5, 1.0])
