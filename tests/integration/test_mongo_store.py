"""The MongoDB store against a real MongoDB-wire server (SecantusDB, or XPTRACK_MONGO_URI).

Documents are read back with plain pymongo to check they are the seed's layout and
hold no pickles; everything else goes through the store as a user's code would.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import pickle
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import bson
import pymongo
import pytest
from bson.raw_bson import RawBSONDocument
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from xptrack.adapters.mongo import MongoBackend, MongoExperimentStore
from xptrack.domain.environment import CATEGORIES, EnvironmentSnapshot
from xptrack.domain.errors import (
    CorruptRecord,
    InvalidBackend,
    InvalidName,
    NotFoundError,
    StoreUnavailable,
    UnstorableValue,
)
from xptrack.domain.metric import MetricSeries
from xptrack.domain.trial import TrialRecord

pytestmark = pytest.mark.mongo

STARTED = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.timezone.utc)
FINISHED = STARTED + dt.timedelta(seconds=3)
PASSWORD = "s3cret-Pa55word"
T = TypeVar("T")


@pytest.fixture(scope="module")
def raw_database(mongo_url: str) -> Iterator[Database[dict[str, Any]]]:
    """The test database seen through plain pymongo, bypassing the store."""
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(mongo_url)
    yield client.get_default_database()
    client.close()


@pytest.fixture
def store(mongo_backend: MongoBackend, mongo_experiment_id: str) -> MongoExperimentStore:
    return mongo_backend.open(mongo_experiment_id)


@pytest.fixture
def raw(
    raw_database: Database[dict[str, Any]], mongo_experiment_id: str
) -> Collection[dict[str, Any]]:
    """The experiment's collection, read and written with plain pymongo."""
    return raw_database[mongo_experiment_id]


def finished_trial(trial_id: int, parameters: dict[str, Any], result: Any = 0.5) -> TrialRecord:
    record = TrialRecord(trial_id, parameters, STARTED, seed=7)
    return record.succeeded(result, FINISHED, process_time=1.5)


def unused_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def fill_every_category(store: MongoExperimentStore) -> None:
    trial_id = store.next_trial_id()
    store.save_trial(finished_trial(trial_id, {"a": 1, "b": "x"}))
    store.append_metrics([(trial_id, "loss", MetricSeries([0, 1], [0.5, 0.25]))])
    store.save_persisted("features", trial_id, b"\x80\x05user-object-bytes")
    store.swap_step_hash("features", "in-hash", "out-hash")
    store.save_code(trial_id, "@ex\ndef prepare(a, b):\n    return a + b\n")
    store.save_environment(
        trial_id, EnvironmentSnapshot({"device": '{"platform": "linux"}', "requirements": "x==1"})
    )


# --- layout ------------------------------------------------------------------------------------


def test_documents_follow_the_seeds_layout(
    store: MongoExperimentStore, raw: Collection[dict[str, Any]], mongo_experiment_id: str
) -> None:
    fill_every_category(store)

    def one(category: str) -> dict[str, Any]:
        (document,) = raw.find({"category": category}, {"_id": False})
        assert document["experiment_id"] == mongo_experiment_id
        return document

    assert one("trial_id")["trial_id"] == 1
    trial = one("trial")
    assert trial["trial_id"] == 1
    assert trial["parameter"] == {"a": 1, "b": "x"}
    assert trial["history"]["result"] == 0.5
    assert trial["history"]["status"] == "finished"
    persist = one("persist")
    assert (persist["step"], persist["trial_id"]) == ("features", 1)
    assert persist["data"] == b"\x80\x05user-object-bytes"
    metric = one("metric")
    assert (metric["metric_key"], metric["trial_id"]) == ("loss", 1)
    step_hash = one("step_hash")
    assert step_hash["input_hash"] == "features-in-hash"
    assert step_hash["output_hash"] == "out-hash"
    assert step_hash["step"] == "features"
    # Code and environment texts are kept once per content; per-trial documents refer to them.
    texts = {d["digest"]: d["text"] for d in raw.find({"category": "text"})}
    code = one("code")
    assert code["trial_id"] == 1
    assert texts[code["code_digest"]].startswith("@ex\ndef prepare")
    environment = one("environment")
    assert environment["trial_id"] == 1
    assert texts[environment["digests"]["device"]] == '{"platform": "linux"}'
    assert texts[environment["digests"]["requirements"]] == "x==1"


def test_texts_are_stored_once_and_the_seeds_documents_still_read(
    store: MongoExperimentStore, raw: Collection[dict[str, Any]], mongo_experiment_id: str
) -> None:
    snapshot = EnvironmentSnapshot({"python": "3.11", "requirements": "x==1"})
    for trial_id in (1, 2, 3):
        store.save_code(trial_id, "def f(): pass\n")
        store.save_environment(trial_id, snapshot)
    seed = {"experiment_id": mongo_experiment_id, "trial_id": 4}
    raw.insert_one({**seed, "category": "code", "code": "old code\n"})
    raw.insert_one({**seed, "category": "environment", "python": "3.8", "requirements": "y==2"})

    assert raw.count_documents({"category": "text"}) == 3
    assert [store.load_code(t) for t in (1, 3, 4)] == ["def f(): pass\n"] * 2 + ["old code\n"]
    assert store.load_environment(2) == snapshot
    assert dict(store.load_environment(4).categories) == {"python": "3.8", "requirements": "y==2"}


def test_plain_parameters_are_a_queryable_sub_document(
    store: MongoExperimentStore, raw: Collection[dict[str, Any]]
) -> None:
    for trial_id, lr in enumerate([0.1, 0.01, 0.1], start=1):
        store.save_trial(finished_trial(trial_id, {"lr": lr, "layers": [64, 32]}))

    found = raw.find({"category": "trial", "parameter.lr": 0.1}).sort("trial_id")

    assert [document["trial_id"] for document in found] == [1, 3]


def test_ids_are_unique_per_category(
    store: MongoExperimentStore, raw: Collection[dict[str, Any]], mongo_experiment_id: str
) -> None:
    fill_every_category(store)

    for category in ("trial", "code", "environment"):
        with pytest.raises(DuplicateKeyError):
            raw.insert_one(
                {"experiment_id": mongo_experiment_id, "category": category, "trial_id": 1}
            )


def _leaves(data: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _leaves(value, f"{path}.{key}")
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _leaves(value, f"{path}[{index}]")
    else:
        yield path, data


def test_no_tracker_owned_field_holds_a_pickle(
    store: MongoExperimentStore, raw: Collection[dict[str, Any]]
) -> None:
    fill_every_category(store)
    store.save_trial(
        finished_trial(2, {"when": STARTED, "pair": (1, 2), "nan": math.nan}, result={3: b"x"})
    )

    for document in raw.find({"category": {"$ne": "persist"}}, {"_id": False}):
        for path, value in _leaves(document):
            assert isinstance(value, (str, int, float, bool, type(None))), (path, value)
            assert not (isinstance(value, str) and value.startswith("\x80")), (path, value)


# --- values MongoDB could misread -------------------------------------------------------------

AWKWARD_PARAMETERS = {
    "model.lr": 0.1,
    "plain": {"$where": "1", "a.b": {"": [1, {"x\x00y": "z"}]}, "ok": {"nested": (1, 2)}},
    "big": 2**70,
    "keys": {1: "int key", None: "none key", "__xptrack__": "our tag"},
    "text": "with \x00 inside",
}


def test_awkward_parameter_names_and_keys_round_trip(store: MongoExperimentStore) -> None:
    record = finished_trial(1, AWKWARD_PARAMETERS, result={"$set": {"x.y": 1}})

    store.save_trial(record)

    assert store.get_trial(1) == record
    assert store.list_trials() == [record]


def test_list_trials_is_ordered_by_trial_id(store: MongoExperimentStore) -> None:
    for trial_id in [3, 1, 10, 2]:
        store.save_trial(finished_trial(trial_id, {"i": trial_id}))

    assert [record.trial_id for record in store.list_trials()] == [1, 2, 3, 10]


# --- metrics -----------------------------------------------------------------------------------


def test_metrics_keep_append_order_across_calls_keys_and_trials(
    store: MongoExperimentStore,
) -> None:
    store.append_metrics(
        [(1, "loss", MetricSeries([0], [1.0])), (2, "loss", MetricSeries([0], [9.0]))]
    )
    store.append_metrics(
        [(1, "acc", MetricSeries([0], [0.1])), (1, "loss", MetricSeries([1, 0], [0.5, math.nan]))]
    )
    store.append_metrics([(1, "loss", MetricSeries([], []))])

    assert store.load_metric(1, "loss") == MetricSeries([0, 1, 0], [1.0, 0.5, math.nan])
    assert store.load_metric(2, "loss") == MetricSeries([0], [9.0])
    assert store.metric_keys(1) == ["acc", "loss"]
    assert store.metric_keys(3) == []
    with pytest.raises(NotFoundError):
        store.load_metric(2, "acc")


def test_two_million_points_store_and_load(
    store: MongoExperimentStore, raw: Collection[dict[str, Any]]
) -> None:
    count = 2_000_000
    series = MetricSeries(list(range(count)), [i / 7 for i in range(count)])

    store.append_metrics([(1, "loss", series)])

    assert store.load_metric(1, "loss") == series
    sizes = [len(bson.encode(d)) for d in raw.find({"category": "metric"})]
    assert max(sizes) < 4 * 1024 * 1024  # far from the 16 MB document limit


# --- persisted outputs -------------------------------------------------------------------------


def test_a_20_megabyte_persisted_output_round_trips_and_is_replaced_whole(
    store: MongoExperimentStore, raw: Collection[dict[str, Any]]
) -> None:
    big = bytes(range(256)) * (20 * 1024 * 1024 // 256) + b"tail"

    store.save_persisted("model", 1, big)
    loaded = store.load_persisted("model", 1)
    store.save_persisted("model", 1, b"small")

    assert loaded == big
    assert store.load_persisted("model", 1) == b"small"
    assert raw.count_documents({"category": {"$in": ["persist", "persist_chunk"]}}) == 1
    with pytest.raises(NotFoundError):
        store.load_persisted("model", 2)


# --- concurrency -------------------------------------------------------------------------------


def in_threads(work: Callable[[int], T], callers: int) -> list[T]:
    """``work(caller)`` in ``callers`` threads released together; results in caller order
    (a thread's exception is raised here)."""
    barrier = threading.Barrier(callers)

    def run(caller: int) -> T:
        barrier.wait()
        return work(caller)

    with ThreadPoolExecutor(callers) as pool:
        return list(pool.map(run, range(callers)))


def test_concurrent_next_trial_id_gives_unique_ids(
    mongo_backend: MongoBackend, mongo_experiment_id: str
) -> None:
    callers, count = 6, 20
    stores = [mongo_backend.open(mongo_experiment_id) for _ in range(callers)]

    allocated = in_threads(lambda i: [stores[i].next_trial_id() for _ in range(count)], callers)

    assert sorted(i for ids in allocated for i in ids) == list(range(1, callers * count + 1))
    assert all(ids == sorted(ids) for ids in allocated)  # increasing for each caller
    assert stores[0].last_trial_id() == callers * count


def test_concurrent_step_hash_swaps_see_every_previous_value(
    mongo_backend: MongoBackend, mongo_experiment_id: str
) -> None:
    callers = 6
    stores = [mongo_backend.open(mongo_experiment_id) for _ in range(callers)]

    previous = in_threads(lambda i: stores[i].swap_step_hash("step", "in", f"out{i}"), callers)

    final = stores[0].swap_step_hash("step", "in", "last")
    # Atomic swaps form one chain: exactly one caller saw nothing, every value is seen once.
    assert previous.count(None) == 1
    assert sorted(p for p in [*previous, final] if p) == sorted(f"out{i}" for i in range(callers))


def test_concurrent_saves_of_a_large_persisted_output_replace_it_whole(
    mongo_backend: MongoBackend, mongo_experiment_id: str, raw: Collection[dict[str, Any]]
) -> None:
    # Blobs of more than one document each, saved over one another while one caller reads.
    blobs = [bytes([i]) * (9 * 1024 * 1024) for i in range(3)]
    stores = [mongo_backend.open(mongo_experiment_id) for _ in range(len(blobs) + 1)]
    stores[0].save_persisted("model", 1, b"first")

    def save_or_read(caller: int) -> list[bytes]:
        if caller < len(blobs):
            stores[caller].save_persisted("model", 1, blobs[caller])
            return []
        return [stores[caller].load_persisted("model", 1) for _ in range(4)]

    seen = in_threads(save_or_read, len(blobs) + 1)[-1]

    assert all(data == b"first" or data in blobs for data in seen)
    final = stores[0].load_persisted("model", 1)
    assert final in blobs
    # Only the pieces of the winning version are left.
    assert raw.count_documents({"category": "persist_chunk"}) == 1


def test_step_hashes_are_stored_literally(store: MongoExperimentStore) -> None:
    assert store.swap_step_hash("step", "$in", "$output.hash") is None
    assert store.swap_step_hash("step", "$in", "{'$literal': 1}") == "$output.hash"
    assert store.swap_step_hash("step", "$in", "x") == "{'$literal': 1}"


def test_text_mongodb_cannot_store_is_refused_clearly(store: MongoExperimentStore) -> None:
    with pytest.raises(UnstorableValue, match="cannot store"):
        store.save_code(1, "a lone surrogate \ud800")
    with pytest.raises(NotFoundError):
        store.load_code(1)


# --- URIs, reachability, passwords -------------------------------------------------------------


@pytest.mark.parametrize(
    "uri",
    [
        "mongodb://localhost:27017",
        "mongodb://localhost:27017/",
        "mongodb://h:1/?retryWrites=false",
        "mongodb+srv://cluster0.example.net",
    ],
)
def test_a_uri_naming_no_database_is_refused(uri: str) -> None:
    with pytest.raises(InvalidBackend, match=r"mongodb://host:27017/<database>"):
        MongoBackend(uri)


@pytest.mark.parametrize("uri", ["redis://localhost/0", "mongodb://h:notaport/db", 42])
def test_a_malformed_uri_is_refused(uri: Any) -> None:
    with pytest.raises(InvalidBackend):
        MongoBackend(uri)


def test_a_mongo_client_is_refused_naming_what_to_pass() -> None:
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(connect=False)

    with pytest.raises(InvalidBackend, match=r"client\['<database>'\]"):
        MongoBackend(client)  # type: ignore[arg-type]
    client.close()


def test_repr_shows_the_uri() -> None:
    backend = MongoBackend("mongodb://localhost:27017/test_db")

    assert repr(backend) == "MongoBackend('mongodb://localhost:27017/test_db')"


def test_an_unreachable_server_fails_fast_naming_the_uri_without_its_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = unused_port()
    backend = MongoBackend(f"mongodb://ann:{PASSWORD}@127.0.0.1:{port}/lab")
    caplog.set_level(logging.DEBUG)

    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as raised:
        backend.open("exp")

    assert time.monotonic() - started < 5
    shown = f"mongodb://ann:***@127.0.0.1:{port}/lab"
    assert shown in str(raised.value)
    assert repr(backend) == f"MongoBackend({shown!r})"
    for text in [str(raised.value), str(raised.value.__cause__), repr(backend), caplog.text]:
        assert PASSWORD not in text


def test_an_srv_uri_is_accepted_without_resolving_it_yet() -> None:
    backend = MongoBackend(f"mongodb+srv://ann:{PASSWORD}@cluster0.example.net/lab")

    assert repr(backend) == "MongoBackend('mongodb+srv://ann:***@cluster0.example.net/lab')"


def test_secret_uri_options_are_redacted() -> None:
    uri = f"mongodb://h:1/db?tls=true&tlsCertificateKeyFilePassword={PASSWORD}"

    assert PASSWORD not in repr(MongoBackend(uri))


def test_system_collections_are_not_experiments(mongo_backend: MongoBackend) -> None:
    with pytest.raises(InvalidName):
        mongo_backend.open("system.users")


# --- what a store leaves alone, and who can see it ---------------------------------------------


def test_delete_experiment_removes_its_collection_only(
    mongo_backend: MongoBackend,
    mongo_collections: Callable[[], str],
    raw_database: Database[dict[str, Any]],
) -> None:
    doomed_id, kept_id, unrelated = mongo_collections(), mongo_collections(), mongo_collections()
    doomed, kept = mongo_backend.open(doomed_id), mongo_backend.open(kept_id)
    fill_every_category(doomed)
    fill_every_category(kept)
    raw_database[unrelated].insert_one({"not": "xptrack"})

    doomed.delete_experiment()

    names = raw_database.list_collection_names()
    assert doomed_id not in names
    assert {kept_id, unrelated} <= set(names)
    assert kept.load_code(1).startswith("@ex")
    assert raw_database[unrelated].count_documents({}) == 1
    assert doomed.last_trial_id() == 0
    with pytest.raises(NotFoundError):
        doomed.get_trial(1)
    assert doomed.next_trial_id() == 1  # the store stays usable, its ids unique again
    doomed.save_trial(finished_trial(1, {}))
    with pytest.raises(DuplicateKeyError):
        raw_database[doomed_id].insert_one({"category": "trial", "trial_id": 1})


def test_a_pickled_backend_sees_the_same_data(
    mongo_backend: MongoBackend, mongo_experiment_id: str
) -> None:
    store = mongo_backend.open(mongo_experiment_id)
    fill_every_category(store)

    copy = pickle.loads(pickle.dumps(mongo_backend))

    assert copy == mongo_backend
    assert repr(copy) == repr(mongo_backend)
    assert copy.open(mongo_experiment_id).list_trials() == store.list_trials()


@pytest.mark.parametrize("how", ["uri", "keywords"])
def test_from_database_reaches_the_same_data(
    how: str, mongo_url: str, mongo_experiment_id: str
) -> None:
    given = MongoBackend(mongo_url)
    fill_every_category(given.open(mongo_experiment_id))
    database_name = given.database_name
    if how == "uri":
        client: pymongo.MongoClient[Any] = pymongo.MongoClient(mongo_url)
    else:
        parts = urlsplit(mongo_url)
        # Raw documents: the store must not depend on how the given client decodes.
        client = pymongo.MongoClient(
            parts.hostname, parts.port, retryWrites=False, document_class=RawBSONDocument
        )

    with client:
        backend = MongoBackend.from_database(client[database_name])
        here = backend.open(mongo_experiment_id).list_trials()
        elsewhere = pickle.loads(pickle.dumps(backend)).open(mongo_experiment_id).list_trials()

    assert backend.location.endswith(f"/{database_name}?retryWrites=false")
    assert here == elsewhere == given.open(mongo_experiment_id).list_trials()
    assert len(here) == 1


def test_from_database_keeps_credentials_but_never_shows_them() -> None:
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
        "db.example", 27017, username="ann", password=PASSWORD, authSource="admin", connect=False
    )

    backend = MongoBackend.from_database(client["lab"])
    copy = pickle.loads(pickle.dumps(backend))

    assert repr(copy) == "MongoBackend('mongodb://ann:***@db.example:27017/lab?authSource=admin')"
    assert PASSWORD not in repr(copy)
    client.close()


# --- records xptrack did not write -------------------------------------------------------------


class CreatesFile:
    """Unpickling this creates a file: the proof that a pickle was executed."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.path), "w"))


PLANTS: dict[str, tuple[str, dict[str, Any], Callable[[MongoExperimentStore], Any]]] = {
    # name: (category, fields, read)
    "trial parameter": ("trial", {"parameter": "PICKLE", "history": {}}, lambda s: s.get_trial(1)),
    # A bulk read isolates the record to its trial instead (test_faults_records).
    "trial history": ("trial", {"parameter": {}, "history": "PICKLE"}, lambda s: s.get_trial(1)),
    "nested parameter": (
        "trial",
        {"parameter": {"a": "PICKLE"}, "history": {}},
        lambda s: s.get_trial(1),
    ),
    "seed-style value": ("trial", {"value": "PICKLE"}, lambda s: s.get_trial(1)),
    "metric points": (
        "metric",
        {"metric_key": "loss", "seq": 1, "points": "PICKLE"},
        lambda s: s.load_metric(1, "loss"),
    ),
    "code": ("code", {"code": "PICKLE"}, lambda s: s.load_code(1)),
    "environment": ("environment", {"device": "PICKLE"}, lambda s: s.load_environment(1)),
}


@pytest.mark.parametrize("plant", PLANTS)
def test_a_planted_pickle_is_refused_unexecuted(
    plant: str, store: MongoExperimentStore, raw: Collection[dict[str, Any]], tmp_path: Path
) -> None:
    category, fields, read = PLANTS[plant]
    payload = pickle.dumps(CreatesFile(tmp_path / "control"))
    pickle.loads(payload).close()
    assert (tmp_path / "control").exists()  # the payload is live
    payload = bson.Binary(pickle.dumps(CreatesFile(tmp_path / "pwned")))

    def planted(value: Any) -> Any:
        if value == "PICKLE":
            return payload
        return {k: planted(v) for k, v in value.items()} if isinstance(value, dict) else value

    raw.insert_one({"experiment_id": "x", "category": category, "trial_id": 1, **planted(fields)})

    with pytest.raises(CorruptRecord):
        read(store)
    assert not (tmp_path / "pwned").exists()


def test_a_planted_step_hash_is_refused(
    store: MongoExperimentStore, raw: Collection[dict[str, Any]]
) -> None:
    raw.insert_one(
        {"category": "step_hash", "input_hash": "s-in", "output_hash": bson.Binary(b"\x80\x05.")}
    )

    with pytest.raises(CorruptRecord):
        store.swap_step_hash("s", "in", "out")


def test_every_environment_category_round_trips(store: MongoExperimentStore) -> None:
    snapshot = EnvironmentSnapshot({name: f"text of {name}" for name in CATEGORIES})

    store.save_environment(3, snapshot)

    assert store.load_environment(3) == snapshot
