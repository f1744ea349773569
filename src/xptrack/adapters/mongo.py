"""The MongoDB store: the seed's documents, one collection per experiment.

Every record of experiment ``<id>`` is a document of collection ``<id>`` carrying
``experiment_id`` and ``category``, as in the seed's MongoBackend table; a unique
partial index per category keeps ids unique. Records are the JSON-compatible data of
:mod:`xptrack.adapters.serialization`, never pickles; only persisted step outputs (a
user's own bytes) are BSON binary. Long metric series and large persisted outputs are
split over several documents, so none comes near MongoDB's 16 MB limit.

Needs MongoDB 5.0 or later (partial indexes sharing a key pattern, update pipelines);
it speaks plain pymongo, so MongoDB-wire servers such as SecantusDB work too.
Only this module and its parts, :mod:`~xptrack.adapters.mongo_connection` (URIs, clients,
errors), :mod:`~xptrack.adapters.mongo_documents` (fields), :mod:`~xptrack.adapters.mongo_indexes`,
:mod:`~xptrack.adapters.mongo_writes` (the per-trial writes) and
:mod:`~xptrack.adapters.mongo_outputs` (outputs in pieces), import ``pymongo`` and ``bson``.
"""

from __future__ import annotations

import contextlib
import functools
import random
import time
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

from pymongo import ASCENDING, DeleteMany, MongoClient, ReadPreference
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError, DuplicateKeyError

from xptrack.adapters.error_translation import translated
from xptrack.adapters.mongo_connection import (
    ErrorTranslator,
    insert_once,
    named_database,
    only_duplicates,
    ping,
    shared_client,
    uri_of_client,
)
from xptrack.adapters.mongo_documents import (
    COLUMN_PROJECTION,
    TRIAL_CATEGORIES,
    Document,
    columns_document,
    int_field,
    text_field,
    trial_fields,
    trial_from_fields,
)
from xptrack.adapters.mongo_indexes import CATALOG, indexes_for, is_experiment
from xptrack.adapters.mongo_outputs import MongoOutputs
from xptrack.adapters.mongo_writes import TextStore, increment, insert_new, put, swap
from xptrack.adapters.process_local import PerProcess
from xptrack.adapters.serialization import (
    decode_metric_chunks,
    labelled,
    labels_from_document,
    labels_to_document,
    metric_rows,
    read_trial_isolated,
)
from xptrack.adapters.trial_columns_codec import (
    columns_or_records,
    trial_columns_from_documents,
)
from xptrack.domain.environment import CATEGORIES, EnvironmentSnapshot
from xptrack.domain.errors import (
    ConflictError,
    CorruptRecord,
    InvalidBackend,
    InvalidName,
    NotFoundError,
)
from xptrack.domain.labels import LabelChange, TrialLabels
from xptrack.domain.metric import MetricSeries
from xptrack.domain.names import validate_name
from xptrack.domain.step_cache import CachedOutput
from xptrack.domain.step_hash import StepHash
from xptrack.domain.trial import TrialRecord
from xptrack.domain.trial_columns import TrialColumns
from xptrack.ports.not_found import no_metric, no_text, no_trial
from xptrack.ports.repositories import Backend, ExperimentStore

#: Compare-and-set rounds of change_labels; losers back off a random few milliseconds.
_LABEL_ATTEMPTS = 200


def _trial_id_of(document: Document) -> int:
    """The trial id a document claims (0 when it has none: a foreign document)."""
    trial_id = document.get("trial_id")
    return trial_id if isinstance(trial_id, int) and not isinstance(trial_id, bool) else 0


# --- the store ---------------------------------------------------------------------------------


class MongoExperimentStore(ExperimentStore):
    """One experiment's documents in the collection named after it."""

    def __init__(
        self, collection: Collection[Document], experiment_id: str, errors: ErrorTranslator
    ) -> None:
        self._collection = collection
        self._experiment_id = experiment_id
        self._errors = errors
        self._indexed = False
        self._texts = TextStore(collection, experiment_id)
        self._outputs = MongoOutputs(collection, experiment_id)
        self._written: set[int] = set()  # trials this store saved: later saves replace
        self._counters: dict[str, int] = {}  # counter -> the value this store last saw

    def translating(self, action: str) -> contextlib.AbstractContextManager[None]:
        """Turn a driver error raised while doing ``action`` into xptrack's error (each
        store method runs in it: :func:`translated`)."""
        return self._errors.translating(action)

    def create_indexes(self) -> None:
        """Create the collection's indexes (idempotent; driver errors are the caller's)."""
        existing = self._collection.index_information()
        self._collection.create_indexes(list(indexes_for(existing)))
        self._indexed = True

    def _ready(self) -> Collection[Document]:
        if not self._indexed:  # the collection was dropped: uniqueness needs its indexes back
            self.create_indexes()
        return self._collection

    def _document(self, key: Mapping[str, Any], **fields: Any) -> Document:
        """A document of this experiment: ``key`` (category and identity) and ``fields``."""
        return {"experiment_id": self._experiment_id, **key, **fields}

    def _find(self, key: Document, missing: NotFoundError) -> Document:
        document = self._collection.find_one(key)
        if document is None:
            raise missing
        return document

    def _increment(self, counter: str, by: int) -> int:
        """Atomically add ``by`` to the counter document ``counter``; its new value."""
        document = self._document({"category": counter})
        value = increment(self._ready(), document, counter, by, self._counters.get(counter))
        self._counters[counter] = value
        return value

    def _save_once(self, key: Document, document: Document) -> None:
        """Store a document written once per trial (code, environment, output): an insert."""
        insert_new(self._ready(), key, document)

    # trials

    @translated("allocating a trial id")
    def next_trial_id(self) -> int:
        return self._increment("trial_id", 1)

    @translated("reading the last trial id")
    def last_trial_id(self) -> int:
        last = int_field(self._collection.find_one({"category": "trial_id"}), "trial_id")
        self._counters["trial_id"] = last
        return last

    @translated("saving a trial")
    def save_trial(self, record: TrialRecord) -> None:
        key = {"category": "trial", "trial_id": record.trial_id}
        document = self._document(key, **trial_fields(record))
        if record.trial_id in self._written:  # the running record is there: one replace
            put(self._ready(), key, document)
        else:
            insert_new(self._ready(), key, document)
            self._written.add(record.trial_id)

    @translated("saving a starting trial")
    def save_trial_start(
        self,
        record: TrialRecord,
        code: str | None = None,
        environment: EnvironmentSnapshot | None = None,
    ) -> None:
        # One insert of the trial, code and environment documents, in that order (a reader
        # may see the trial a moment before the other two), after the texts they refer to
        # (none to store while the code and environment are ones this store has kept).
        key = {"category": "trial", "trial_id": record.trial_id}
        documents = [(key, self._document(key, **trial_fields(record)))]
        texts = [] if code is None else [code]
        texts += [] if environment is None else list(environment.categories.values())
        names = iter(self._texts.keep(texts))
        if code is not None:
            code_key = {"category": "code", "trial_id": record.trial_id}
            documents.append((code_key, self._document(code_key, code_digest=next(names))))
        if environment is not None:
            digests = {category: next(names) for category in environment.categories}
            env_key = {"category": "environment", "trial_id": record.trial_id}
            documents.append((env_key, self._document(env_key, digests=digests)))
        collection = self._ready()
        try:  # copies: the driver gives what it sends an _id, which a replace must not carry
            collection.insert_many([dict(document) for _, document in documents], ordered=True)
        except BulkWriteError as error:
            if not only_duplicates(error):
                raise
            for document_key, document in documents:  # one stored already (a repeated start)
                insert_new(collection, document_key, document)
        self._written.add(record.trial_id)

    @translated("reading a trial")
    def get_trial(self, trial_id: int) -> TrialRecord:
        key = {"category": "trial", "trial_id": trial_id}
        record = trial_from_fields(self._find(key, no_trial(trial_id)))
        labels = self._collection.find_one({"category": "labels", "trial_id": trial_id})
        return labelled(record, None if labels is None else _labels_in(labels))

    @translated("listing trials")
    def list_trials(self) -> list[TrialRecord]:
        cursor = self._collection.find({"category": "trial"}).sort("trial_id", ASCENDING)
        records = [
            read_trial_isolated(_trial_id_of(d), functools.partial(trial_from_fields, d))
            for d in cursor
        ]
        labels = {
            document.get("trial_id"): _labels_in(document)
            for document in self._collection.find({"category": "labels"})
        }
        return [labelled(record, labels.get(record.trial_id)) for record in records]

    @translated("listing trials")
    def trial_columns(self, verbose: bool = False) -> TrialColumns:
        return columns_or_records(functools.partial(self._columns, verbose), self.list_trials)

    def _columns(self, verbose: bool) -> TrialColumns:
        query = self._collection.find({"category": "trial"}, COLUMN_PROJECTION)
        documents = [columns_document(document) for document in query.sort("trial_id")]
        labels = {
            trial_id: (found.tags, found.note)
            for document in self._collection.find({"category": "labels"})
            for trial_id, found in ((int_field(document, "trial_id"), _labels_in(document)),)
        }
        return trial_columns_from_documents(documents, labels, verbose)

    @translated("updating the labels of a trial")
    def change_labels(self, trial_id: int, change: LabelChange) -> None:
        self._find({"category": "trial", "trial_id": trial_id}, no_trial(trial_id))
        key = {"category": "labels", "trial_id": trial_id}
        collection = self._ready()
        # Optimistic: each write names the version it read; a concurrent writer's makes it miss.
        for attempt in range(_LABEL_ATTEMPTS):
            if attempt:
                time.sleep(random.uniform(0, 0.001 * min(attempt, 20)))
            current = collection.find_one(key)
            labels = TrialLabels() if current is None else _labels_in(current)
            fields = labels_to_document(change.applied_to(labels))
            if current is None:
                try:
                    collection.insert_one(self._document(key, version=1, labels=fields))
                except DuplicateKeyError:
                    continue
                return
            version = int_field(current, "version")
            update = {"$set": {"labels": fields, "version": version + 1}}
            if collection.update_one({**key, "version": version}, update).matched_count:
                return
        raise ConflictError(f"labels of trial {trial_id} kept changing under concurrent writers")

    @translated("deleting a trial")
    def delete_trial(self, trial_id: int) -> None:
        # One command, a statement per category, each through the identity index (not the
        # counter document: its count is a field named trial_id too). The code and
        # environment texts stay: other trials may share them, and a trial of another
        # process may be about to refer to one it knows is stored; a text is kept once per
        # distinct content (a few KB per code version or environment), so they stay until
        # the experiment is deleted.
        self._collection.bulk_write(
            [DeleteMany({"category": c, "trial_id": trial_id}) for c in TRIAL_CATEGORIES],
            ordered=False,
        )

    # metrics

    @translated("appending metrics")
    def append_metrics(self, batch: Sequence[tuple[int, str, MetricSeries]]) -> None:
        chunks = metric_rows(batch)
        if not chunks:
            return
        # A counter, not _id order: ObjectIds made by several processes do not sort by time.
        first = self._increment("metric_seq", len(chunks)) - len(chunks) + 1
        documents = [
            self._document(
                {"category": "metric", "metric_key": key, "trial_id": tid, "seq": first + i},
                points=points,
            )
            for i, (tid, key, points) in enumerate(chunks)
        ]
        insert_once(self._collection, documents)  # a repeated send stores nothing twice

    @translated("loading a metric")
    def load_metric(self, trial_id: int, key: str) -> MetricSeries:
        query = {"category": "metric", "trial_id": trial_id, "metric_key": key}
        cursor = self._collection.find(query, {"points": True}).sort("seq", ASCENDING)
        series = decode_metric_chunks(
            text_field(document, "points", "metric chunk") for document in cursor
        )
        if not series:
            raise no_metric(trial_id, key)
        return series

    @translated("listing metric keys")
    def metric_keys(self, trial_id: int) -> list[str]:
        keys = self._collection.distinct("metric_key", {"category": "metric", "trial_id": trial_id})
        if not all(isinstance(key, str) for key in keys):
            raise CorruptRecord(f"stored metric keys of trial {trial_id} are not all text")
        return sorted(keys)

    # persisted outputs

    @translated("saving a persisted output")
    def save_persisted(self, step: str, trial_id: int, data: bytes) -> None:
        self._outputs.save_persisted(self._ready(), step, trial_id, data)

    @translated("listing persisted outputs")
    def list_persisted(self, trial_id: int) -> list[str]:
        steps = self._collection.distinct("step", {"category": "persist", "trial_id": trial_id})
        if not all(isinstance(step, str) for step in steps):
            raise CorruptRecord(f"stored persisted steps of trial {trial_id} are not all text")
        return sorted(steps)

    @translated("loading a persisted output")
    def load_persisted(self, step: str, trial_id: int) -> bytes:
        return self._outputs.load_persisted(step, trial_id)

    # the step cache

    @translated("adding a cached step output")
    def add_cached_output(self, step: str, key: str, output: CachedOutput) -> bool:
        return self._outputs.add_cached_output(self._ready(), step, key, output)

    @translated("loading a cached step output")
    def load_cached_output(self, step: str, key: str) -> CachedOutput | None:
        return self._outputs.load_cached_output(step, key)

    # step hashes, code, environment

    @translated("swapping a step hash")
    def swap_step_hash(self, step: str, input_hash: str, output_hash: str) -> str | None:
        key = {"category": "step_hash", "input_hash": StepHash(step, input_hash, output_hash).key}
        document = self._document(key, step=step, output_hash=output_hash)
        return swap(self._ready(), key, output_hash, document)

    @translated("saving code")
    def save_code(self, trial_id: int, text: str) -> None:
        key = {"category": "code", "trial_id": trial_id}
        (name,) = self._texts.keep([text])
        self._save_once(key, self._document(key, code_digest=name))

    @translated("loading code")
    def load_code(self, trial_id: int) -> str:
        key = {"category": "code", "trial_id": trial_id}
        document = self._find(key, no_text("code", trial_id))
        what = f"code of trial {trial_id}"
        if "code" in document:  # stored whole, as the seed's layout did
            return text_field(document, "code", what)
        name = text_field(document, "code_digest", what)
        return self._texts.texts([name], what)[name]

    @translated("saving output")
    def save_output(self, trial_id: int, text: str) -> None:
        key = {"category": "output", "trial_id": trial_id}
        self._save_once(key, self._document(key, output=text))

    @translated("loading output")
    def load_output(self, trial_id: int) -> str:
        key = {"category": "output", "trial_id": trial_id}
        document = self._find(key, no_text("output", trial_id))
        return text_field(document, "output", f"output of trial {trial_id}")

    @translated("saving an environment")
    def save_environment(self, trial_id: int, snapshot: EnvironmentSnapshot) -> None:
        key = {"category": "environment", "trial_id": trial_id}
        names = self._texts.keep(snapshot.categories.values())
        digests = dict(zip(snapshot.categories, names, strict=True))
        self._save_once(key, self._document(key, digests=digests))

    @translated("loading an environment")
    def load_environment(self, trial_id: int) -> EnvironmentSnapshot:
        key = {"category": "environment", "trial_id": trial_id}
        document = self._find(key, no_text("environment", trial_id))
        what = f"environment of trial {trial_id}"
        digests = document.get("digests")
        if digests is None:  # texts stored in the document, as the seed's layout did
            # In stored order: a snapshot's categories keep the order they were captured in.
            found = {n: text_field(document, n, what) for n in document if n in CATEGORIES}
            return EnvironmentSnapshot(found)
        if not isinstance(digests, dict) or not all(isinstance(d, str) for d in digests.values()):
            raise CorruptRecord(f"stored {what} refers to its texts in an unknown form")
        texts = self._texts.texts(digests.values(), what)
        return EnvironmentSnapshot({category: texts[name] for category, name in digests.items()})

    @translated("deleting the experiment")
    def delete_experiment(self) -> None:
        self._collection.drop()
        self._collection.database[CATALOG].delete_one({"_id": self._experiment_id})
        self._indexed = False
        self._texts.forget()
        self._written.clear()
        self._counters.clear()

    def close(self) -> None:
        """Nothing to release: connections belong to the process's shared client, which
        other stores of the same URI keep using (see :func:`shared_client`)."""


def _labels_in(document: Document) -> TrialLabels:
    return labels_from_document(document.get("labels"))


def _is_experiment_id(name: str) -> bool:
    try:
        validate_name(name)
    except ValueError:
        return False
    return not name.startswith("system.")


# --- the backend -------------------------------------------------------------------------------


class MongoBackend(Backend):
    """Experiments in one MongoDB database, one collection per experiment.

    >>> MongoBackend("mongodb://localhost:27017/test_db")
    MongoBackend('mongodb://localhost:27017/test_db')

    Holds the URI only, so it pickles to dask workers; each process opens its own
    client on first use. A URI naming no database is refused (InvalidBackend).
    """

    def __init__(self, uri: str) -> None:
        self._database_name = named_database(uri)
        self._uri = uri
        self._errors = ErrorTranslator(uri)
        #: This process's client: the shared one of the URI, or one the caller gave.
        self._clients: PerProcess[str, MongoClient[Any]] = PerProcess()

    @classmethod
    def from_database(cls, database: Database[Any]) -> MongoBackend:
        """A backend on ``database``; this process keeps using the database's own client,
        other processes connect with a URI rebuilt from it."""
        backend = cls(uri_of_client(database.client, database.name))
        backend._clients.get(backend._uri, lambda _: database.client)
        return backend

    @classmethod
    def from_driver(cls, driver: object) -> MongoBackend | None:
        """The backend of a ``pymongo`` Database; InvalidBackend for a MongoClient (it names
        no database)."""
        if isinstance(driver, MongoClient):
            raise InvalidBackend(
                "a MongoClient names no database: pass a Database (client['my_db']) or a URI "
                "'mongodb://host:27017/my_db'"
            )
        return cls.from_database(driver) if isinstance(driver, Database) else None

    @property
    def location(self) -> str:
        return self._errors.location

    @property
    def database_name(self) -> str:
        """The database every experiment's collection lives in."""
        return self._database_name

    def _database(self) -> Database[Document]:
        client = self._clients.get(self._uri, shared_client)
        # A given client may be set up for other uses (raw documents, secondary reads, w=0):
        # records need plain dicts, reads that see the writes before them, acknowledged writes.
        return client.get_database(
            self._database_name,
            codec_options=client.codec_options.with_options(document_class=dict, tz_aware=False),
            read_preference=ReadPreference.PRIMARY,
            write_concern=client.write_concern if client.write_concern.acknowledged else None,
        )

    def open(self, experiment_id: str) -> MongoExperimentStore:
        if experiment_id.startswith("system."):
            raise InvalidName(f"experiment id {experiment_id!r} is reserved by MongoDB ('system.')")
        with self._errors.translating(f"opening experiment {experiment_id!r}"):
            database = self._database()
            ping(database)  # an unreachable server is reported within seconds
            store = MongoExperimentStore(database[experiment_id], experiment_id, self._errors)
            store.create_indexes()
            catalog = database[CATALOG]
            catalog.update_one(
                {"_id": experiment_id}, {"$setOnInsert": {"id": experiment_id}}, upsert=True
            )
        return store

    def list_experiments(self) -> list[str]:
        with self._errors.translating("listing experiments"):
            database = self._database()
            names = {n for n in database.list_collection_names() if _is_experiment_id(n)}
            opened = {d["_id"] for d in database[CATALOG].find({}, {"_id": True})} & names
            # Experiments made by earlier versions are not in the catalog: they are the
            # collections with xptrack's indexes (open() makes them).
            found = {n for n in names - opened if is_experiment(database[n].index_information())}
            return sorted(opened | found)

    def delete_experiment(self, experiment_id: str) -> None:
        with self._errors.translating(f"deleting {experiment_id!r}"):
            database = self._database()
            database[experiment_id].drop()
            database[CATALOG].delete_one({"_id": experiment_id})

    def __reduce__(self) -> tuple[type[MongoBackend], tuple[str]]:
        # Configuration only: the client stays behind, the receiving process opens its own.
        return (type(self), (self._uri,))

    def configuration(self) -> Hashable:
        return self._uri
