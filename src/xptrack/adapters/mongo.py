"""The MongoDB store: the seed's documents, one collection per experiment.

Every record of experiment ``<id>`` is a document of collection ``<id>`` carrying
``experiment_id`` and ``category``, as in the seed's MongoBackend table; a unique
partial index per category keeps ids unique. Records are the JSON-compatible data of
:mod:`xptrack.adapters.serialization`, never pickles; only persisted step outputs (a
user's own bytes) are BSON binary. Long metric series and large persisted outputs are
split over several documents, so none comes near MongoDB's 16 MB limit.

Needs MongoDB 5.0 or later (partial indexes sharing a key pattern, update pipelines);
it speaks plain pymongo, so MongoDB-wire servers such as SecantusDB work too.
Only this module imports ``pymongo`` and ``bson``.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Concatenate, ParamSpec, TypeVar
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from bson import Binary
from bson.errors import BSONError
from bson.int64 import Int64
from pymongo import ASCENDING, IndexModel, MongoClient, ReadPreference, ReturnDocument, uri_parser
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import (
    ConfigurationError,
    ConnectionFailure,
    DuplicateKeyError,
    OperationFailure,
    PyMongoError,
)

from xptrack.adapters.serialization import (
    TAG,
    decode_metric_chunk,
    encode_metric_chunk,
    trial_from_document,
    trial_to_document,
)
from xptrack.domain.environment import CATEGORIES, EnvironmentSnapshot
from xptrack.domain.errors import (
    ConflictError,
    CorruptRecord,
    InvalidBackend,
    InvalidName,
    NotFoundError,
    StoreError,
    StoreUnavailable,
    UnstorableValue,
)
from xptrack.domain.metric import MetricSeries
from xptrack.domain.redaction import redact_url, scrub
from xptrack.domain.trial import TrialRecord
from xptrack.ports.repositories import Backend, ExperimentStore

logger = logging.getLogger(__name__)

Document = dict[str, Any]
_P = ParamSpec("_P")
_R = TypeVar("_R")

#: At most this many metric points per document (about 2 MB of JSON for ordinary numbers).
POINTS_PER_CHUNK = 50_000
#: Persisted outputs are cut into pieces of this size, well under the 16 MB limit.
PERSIST_CHUNK_BYTES = 8 * 1024 * 1024
#: Fail fast on an unreachable server unless the URI asks otherwise.
DEFAULT_TIMEOUT_MS = 3000
_TIMEOUT_OPTIONS = ("serverSelectionTimeoutMS", "connectTimeoutMS")
#: URI options whose values are secrets, redacted wherever the URI is shown.
_SECRET_OPTIONS = frozenset({"tlscertificatekeyfilepassword", "authmechanismproperties"})
#: MongoClient arguments with plain values that are not URI options (from_database).
_NOT_URI_OPTIONS = frozenset({"host", "port", "username", "password", "connect", "tz_aware"})
_AUTH_ERROR_CODES = frozenset({13, 18})  # Unauthorized, AuthenticationFailed
_DRIVER_ERRORS = (PyMongoError, BSONError, OverflowError, UnicodeEncodeError)
_READ_ATTEMPTS = 5
_AFTER = ReturnDocument.AFTER
_WRITE_ATTEMPTS = 20
_JSON_SCALARS = (str, int, float, bool, type(None))


# --- URIs -----------------------------------------------------------------------------------


def _userinfo_and_hosts(netloc: str) -> tuple[str | None, str]:
    userinfo, at, hosts = netloc.rpartition("@")
    return (userinfo if at else None), hosts


def _password(uri: str) -> str | None:
    userinfo, _ = _userinfo_and_hosts(urlsplit(uri).netloc)
    if userinfo is None or ":" not in userinfo:
        return None
    return unquote(userinfo.split(":", 1)[1]) or None


def _database_name(uri: str) -> str:
    """The database ``uri`` names; InvalidBackend when it names none or is malformed."""
    if isinstance(uri, MongoClient):
        raise InvalidBackend(
            "a MongoClient names no database: pass client['<database>'] (a Database) or a URI "
            "naming one: mongodb://host:27017/<database>"
        )
    shown = redact_url(uri, _SECRET_OPTIONS) if isinstance(uri, str) else repr(uri)
    if not isinstance(uri, str) or not uri.startswith(("mongodb://", "mongodb+srv://")):
        raise InvalidBackend(
            f"MongoBackend needs a 'mongodb://' or 'mongodb+srv://' URI; got {shown}"
        )
    try:
        parts = urlsplit(uri)
        if parts.scheme == "mongodb":
            uri_parser.parse_uri(uri, warn=True)  # checks hosts and options, no connection
        elif parts.query:
            uri_parser.split_options(parts.query)  # an SRV URI resolves DNS only when opened
    except (ValueError, ConfigurationError) as error:
        raise InvalidBackend(f"invalid MongoDB URI {shown}: {_scrub(str(error), uri)}") from None
    name = unquote(parts.path.lstrip("/"))
    if not name:
        raise InvalidBackend(
            f"MongoDB URI {shown} names no database; name one: mongodb://host:27017/<database>"
        )
    return name


def _scrub(text: str, uri: str) -> str:
    """``text`` with the URI's password removed (driver messages may quote it)."""
    return scrub(text, _password(uri))


def _option_text(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def uri_of_client(client: MongoClient[Any], database: str) -> str:
    """A URI that reaches ``database`` as ``client`` does: its hosts, credentials and the
    options a URI can carry (objects such as SSL contexts or listeners cannot travel)."""
    # The constructor's arguments are the faithful source; pymongo keeps them, if privately.
    init = dict(getattr(client, "_init_kwargs", None) or {})
    scheme, userinfo, hosts, query = _client_address(client, init)
    if init.get("username") is not None:
        userinfo = quote(str(init["username"]), safe="")
        if init.get("password") is not None:
            userinfo += ":" + quote(str(init["password"]), safe="")
    options = {
        key: _option_text(value)
        for key, value in init.items()
        if key not in _NOT_URI_OPTIONS and isinstance(value, (str, int, float, bool))
    }
    # Keyword arguments override URI options in pymongo; keep that precedence.
    query = [(k, v) for k, v in query if k.lower() not in {o.lower() for o in options}]
    netloc = hosts if userinfo is None else f"{userinfo}@{hosts}"
    path, query_text = "/" + quote(database, safe=""), urlencode([*query, *options.items()])
    return urlunsplit((scheme, netloc, path, query_text, ""))


def _client_address(
    client: MongoClient[Any], init: Mapping[str, Any]
) -> tuple[str, str | None, str, list[tuple[str, str]]]:
    """Scheme, userinfo, hosts and URI options given to ``client``'s constructor."""
    given = init.get("host") or [
        f"{host}:{port}" for host, port in client.topology_description.server_descriptions()
    ]
    hosts = [given] if isinstance(given, str) else [str(host) for host in given]
    uri = next((host for host in hosts if "://" in host), None)
    if uri is not None:
        parts = urlsplit(uri)
        userinfo, netloc = _userinfo_and_hosts(parts.netloc)
        return parts.scheme, userinfo, netloc, parse_qsl(parts.query)
    port = init.get("port") or 27017
    netloc = ",".join(h if ":" in h.rsplit("]", 1)[-1] else f"{h}:{port}" for h in hosts)
    return "mongodb", None, netloc, []


# --- one client per process and URI ----------------------------------------------------------

_clients: dict[str, MongoClient[Document]] = {}
_clients_pid = os.getpid()
_clients_lock = threading.Lock()


def _after_fork_in_child() -> None:
    # A lock held by another thread at fork time would stay locked for ever in the child.
    global _clients_lock
    _clients_lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)


def _client_options(uri: str) -> dict[str, Any]:
    given = {key.lower() for key, _ in parse_qsl(urlsplit(uri).query)}
    return {name: DEFAULT_TIMEOUT_MS for name in _TIMEOUT_OPTIONS if name.lower() not in given}


def shared_client(uri: str) -> MongoClient[Document]:
    """This process's client for ``uri``, created on first use.

    A forked child never uses its parent's client (its sockets are shared with the
    parent): a process id change starts a fresh set of clients.
    """
    global _clients_pid
    with _clients_lock:
        if _clients_pid != os.getpid():
            _clients.clear()
            _clients_pid = os.getpid()
        client = _clients.get(uri)
        if client is None:
            logger.debug("Connecting to MongoDB at %s", redact_url(uri, _SECRET_OPTIONS))
            client = _clients[uri] = MongoClient(uri, **_client_options(uri))
        return client


# --- errors ------------------------------------------------------------------------------------


class _ErrorTranslator:
    """Turns driver errors into xptrack's, naming the redacted URI and never the password."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.location = redact_url(uri, _SECRET_OPTIONS)

    def translate(self, error: Exception, action: str) -> StoreError:
        message = _scrub(str(error), self.uri)
        where = f"MongoDB at {self.location}"
        if isinstance(error, (ConnectionFailure, ConfigurationError)):
            return StoreUnavailable(f"{where} is unreachable ({action}): {message}")
        if isinstance(error, OperationFailure) and error.code in _AUTH_ERROR_CODES:
            return StoreUnavailable(f"{where} refused access ({action}): {message}")
        if isinstance(error, (BSONError, OverflowError, UnicodeEncodeError)):
            return UnstorableValue(f"cannot store in {where} ({action}): {message}")
        return StoreError(f"{where} failed ({action}): {message}")


def _driver_errors(
    action: str,
) -> Callable[
    [Callable[Concatenate[MongoExperimentStore, _P], _R]],
    Callable[Concatenate[MongoExperimentStore, _P], _R],
]:
    """Decorate a store method so that driver errors surface as xptrack's own."""

    def decorate(
        method: Callable[Concatenate[MongoExperimentStore, _P], _R],
    ) -> Callable[Concatenate[MongoExperimentStore, _P], _R]:
        @functools.wraps(method)
        def translated(self: MongoExperimentStore, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
            try:
                return method(self, *args, **kwargs)
            except _DRIVER_ERRORS as error:
                raise self._errors.translate(error, action) from error

        return translated

    return decorate


# --- documents ---------------------------------------------------------------------------------


def _plain_key(key: str) -> bool:
    return bool(key) and key[0] != "$" and "." not in key and "\x00" not in key and key != TAG


def bson_safe(data: Any) -> Any:
    """Encoded data (from ``encode_value``) with every mapping MongoDB could misread
    (keys with '.', a leading '$', NUL or empty) in the tagged pair form that
    ``decode_value`` reads back to the same dict."""
    if isinstance(data, list):
        return [bson_safe(item) for item in data]
    if not isinstance(data, dict):
        return data
    if TAG in data:  # a tagged value: its own keys are plain
        return {key: bson_safe(value) for key, value in data.items()}
    return bson_safe_mapping(data)


def bson_safe_mapping(mapping: Mapping[str, Any]) -> Document:
    """A str-keyed mapping of encoded values as a sub-document, or in the pair form when
    a key could be misread (a parameter named ``model.lr``, say)."""
    if all(_plain_key(key) for key in mapping):
        return {key: bson_safe(value) for key, value in mapping.items()}
    return {TAG: "dict", "v": [[key, bson_safe(value)] for key, value in mapping.items()]}


def json_data(data: Any, what: str) -> Any:
    """``data`` as read from BSON, as plain JSON-compatible values (BSON's Int64 becomes
    int); CorruptRecord for anything else (binary, dates, code: nothing xptrack writes)."""
    kind = type(data)
    if kind is dict:
        if not all(type(key) is str for key in data):
            raise CorruptRecord(f"stored {what} has non-text keys: not written by xptrack")
        return {key: json_data(value, what) for key, value in data.items()}
    if kind is list:
        return [json_data(item, what) for item in data]
    if kind is Int64:
        return int(data)
    if kind in _JSON_SCALARS:
        return data
    raise CorruptRecord(f"stored {what} holds a {kind.__name__}, not xptrack's JSON data; refused")


def _parameter_mapping(stored: dict[str, Any]) -> dict[str, Any]:
    """Parameter name -> encoded value, from a plain sub-document or the pair form."""
    if TAG not in stored:
        return stored
    pairs = stored.get("v")
    if stored.get(TAG) != "dict" or not isinstance(pairs, list):
        raise CorruptRecord("stored parameters are not in xptrack's format")
    if not all(isinstance(p, list) and len(p) == 2 and isinstance(p[0], str) for p in pairs):
        raise CorruptRecord("stored parameters are not in xptrack's format")
    return dict(pairs)


def trial_fields(record: TrialRecord) -> Document:
    """The ``parameter`` and ``history`` fields of a trial document."""
    data = trial_to_document(record)
    data.pop("trial_id")
    return {"parameter": bson_safe_mapping(data.pop("parameters")), "history": bson_safe(data)}


def trial_from_fields(document: Mapping[str, Any]) -> TrialRecord:
    """The record in a trial document; CorruptRecord for anything xptrack did not write."""
    parameter, history = document.get("parameter"), document.get("history")
    if not isinstance(parameter, dict) or not isinstance(history, dict):
        trial_id = document.get("trial_id")
        raise CorruptRecord(f"stored trial {trial_id!r} lacks xptrack's parameter/history fields")
    parameters = _parameter_mapping(json_data(parameter, "parameters"))
    data = {**json_data(history, "history"), "trial_id": _int_field(document, "trial_id")}
    return trial_from_document({**data, "parameters": parameters})


def _text_field(document: Mapping[str, Any], field: str, what: str) -> str:
    text = document.get(field)
    if not isinstance(text, str):
        raise CorruptRecord(f"stored {what} is a {type(text).__name__}, not text; refused")
    return text


def _bytes_field(document: Mapping[str, Any], what: str) -> bytes:
    data = document.get("data")
    if not isinstance(data, bytes):
        raise CorruptRecord(f"stored {what} is a {type(data).__name__}, not binary; refused")
    return data


def _int_field(document: Mapping[str, Any] | None, field: str) -> int:
    value = 0 if document is None else document.get(field, 0)
    if not isinstance(value, int) or isinstance(value, bool):
        raise CorruptRecord(f"stored {field!r} is {value!r}, not an int")
    return int(value)  # not BSON's Int64: callers get exactly an int


def _metric_chunks(series: MetricSeries) -> Iterator[MetricSeries]:
    for start in range(0, len(series), POINTS_PER_CHUNK):
        stop = start + POINTS_PER_CHUNK
        yield MetricSeries(series.epochs[start:stop], series.values[start:stop])


def _set_remembering(fields: Mapping[str, Any], **remember: str) -> list[Document]:
    """An update pipeline that first copies each ``remember`` value's field to its name,
    then sets ``fields``: one atomic update whose result also tells what it replaced."""
    copies = {name: f"${field}" for name, field in remember.items()}
    # $literal: a value such as "$x" must be stored as text, not read as a field path.
    return [{"$set": copies}, {"$set": {key: {"$literal": v} for key, v in fields.items()}}]


def _unique_index(category: str, *fields: str) -> IndexModel:
    keys = [("category", ASCENDING), *((field, ASCENDING) for field in fields)]
    return IndexModel(
        keys,
        unique=True,
        partialFilterExpression={"category": category},
        name=f"xptrack_{category}",
    )


#: One unique index per category, on the fields that identify a record of it; and one
#: plain index for reads, as some MongoDB-wire servers (SecantusDB) never read through
#: a partial index. Most documents match one partial index only: writes stay cheap.
INDEXES = (
    IndexModel(
        [(field, ASCENDING) for field in ("category", "trial_id", "metric_key", "seq")],
        name="xptrack_lookup",
    ),
    _unique_index("trial_id"),
    _unique_index("metric_seq"),
    _unique_index("trial", "trial_id"),
    _unique_index("code", "trial_id"),
    _unique_index("environment", "trial_id"),
    _unique_index("persist", "step", "trial_id"),
    _unique_index("persist_chunk", "step", "trial_id", "version", "seq"),
    _unique_index("metric", "trial_id", "metric_key", "seq"),
    _unique_index("step_hash", "input_hash"),
)


# --- the store ---------------------------------------------------------------------------------


class MongoExperimentStore(ExperimentStore):
    """One experiment's documents in the collection named after it."""

    def __init__(
        self, collection: Collection[Document], experiment_id: str, errors: _ErrorTranslator
    ) -> None:
        self._collection = collection
        self._experiment_id = experiment_id
        self._errors = errors
        self._indexed = False

    def create_indexes(self) -> None:
        """Create the collection's indexes (idempotent; driver errors are the caller's)."""
        self._collection.create_indexes(list(INDEXES))
        self._indexed = True

    def _ready(self) -> Collection[Document]:
        if not self._indexed:  # the collection was dropped: uniqueness needs its indexes back
            self.create_indexes()
        return self._collection

    def _document(self, key: Mapping[str, Any], **fields: Any) -> Document:
        """A document of this experiment: ``key`` (category and identity) and ``fields``."""
        return {"experiment_id": self._experiment_id, **key, **fields}

    def _change_or_insert(
        self, change: Callable[[Collection[Document]], Document | None], insert: Document
    ) -> Document | None:
        """Apply ``change`` (an atomic find-and-modify returning the document after it), or
        insert ``insert`` when there is nothing to change; None when it was inserted.

        Not an upsert: racing upserts on a missing document may all insert, and some
        servers then answer a loser with nothing. Here the unique index lets exactly
        one insert win, and every loser goes back to changing the winner's document.
        Changes return the document *after*: what a change replaced is captured by the
        change itself (see :meth:`swap_step_hash`), as some servers' pre-images are stale.
        """
        collection = self._ready()
        for _ in range(_WRITE_ATTEMPTS):
            after = change(collection)
            if after is not None:
                return after
            try:
                collection.insert_one(dict(insert))
            except DuplicateKeyError:
                continue
            return None
        raise ConflictError(f"{insert['category']} record kept changing under concurrent writers")

    def _put(self, key: Document, document: Document) -> None:
        """Store ``document`` at ``key``, replacing the one there."""
        self._change_or_insert(
            lambda c: c.find_one_and_replace(key, document, {"_id": True}, return_document=_AFTER),
            document,
        )

    def _find(self, key: Document, missing: str) -> Document:
        document = self._collection.find_one(key)
        if document is None:
            raise NotFoundError(missing)
        return document

    def _increment(self, counter: str, by: int) -> int:
        """Atomically add ``by`` to the counter document ``counter``; its new value."""
        after = self._change_or_insert(
            lambda c: c.find_one_and_update(
                {"category": counter},
                {"$inc": {counter: by}},
                {counter: True},
                return_document=_AFTER,
            ),
            self._document({"category": counter}, **{counter: by}),
        )
        return by if after is None else _int_field(after, counter)

    # trials

    @_driver_errors("allocating a trial id")
    def next_trial_id(self) -> int:
        return self._increment("trial_id", 1)

    @_driver_errors("reading the last trial id")
    def last_trial_id(self) -> int:
        return _int_field(self._collection.find_one({"category": "trial_id"}), "trial_id")

    @_driver_errors("saving a trial")
    def save_trial(self, record: TrialRecord) -> None:
        key = {"category": "trial", "trial_id": record.trial_id}
        self._put(key, self._document(key, **trial_fields(record)))

    @_driver_errors("reading a trial")
    def get_trial(self, trial_id: int) -> TrialRecord:
        key = {"category": "trial", "trial_id": trial_id}
        return trial_from_fields(self._find(key, f"no trial {trial_id} in this experiment"))

    @_driver_errors("listing trials")
    def list_trials(self) -> list[TrialRecord]:
        cursor = self._collection.find({"category": "trial"}).sort("trial_id", ASCENDING)
        return [trial_from_fields(document) for document in cursor]

    # metrics

    @_driver_errors("appending metrics")
    def append_metrics(self, batch: Sequence[tuple[int, str, MetricSeries]]) -> None:
        chunks = [(tid, key, part) for tid, key, series in batch for part in _metric_chunks(series)]
        if not chunks:
            return
        # A counter, not _id order: ObjectIds made by several processes do not sort by time.
        first = self._increment("metric_seq", len(chunks)) - len(chunks) + 1
        documents = [
            self._document(
                {"category": "metric", "metric_key": key, "trial_id": tid, "seq": first + i},
                points=encode_metric_chunk(part),
            )
            for i, (tid, key, part) in enumerate(chunks)
        ]
        self._collection.insert_many(documents, ordered=True)

    @_driver_errors("loading a metric")
    def load_metric(self, trial_id: int, key: str) -> MetricSeries:
        query = {"category": "metric", "trial_id": trial_id, "metric_key": key}
        cursor = self._collection.find(query, {"points": True}).sort("seq", ASCENDING)
        series = MetricSeries()
        for document in cursor:
            series.extend(decode_metric_chunk(_text_field(document, "points", "metric chunk")))
        if not series:
            raise NotFoundError(f"no metric {key!r} in trial {trial_id}")
        return series

    @_driver_errors("listing metric keys")
    def metric_keys(self, trial_id: int) -> list[str]:
        keys = self._collection.distinct("metric_key", {"category": "metric", "trial_id": trial_id})
        if not all(isinstance(key, str) for key in keys):
            raise CorruptRecord(f"stored metric keys of trial {trial_id} are not all text")
        return sorted(keys)

    # persisted outputs

    @_driver_errors("saving a persisted output")
    def save_persisted(self, step: str, trial_id: int, data: bytes) -> None:
        # Pieces after the first go in first, under a fresh version; replacing the head
        # document then publishes them all at once, and the replaced version is removed.
        size, version = PERSIST_CHUNK_BYTES, uuid.uuid4().hex
        pieces = [Binary(data[i : i + size]) for i in range(0, len(data), size)] or [Binary(b"")]
        key = {"category": "persist", "step": step, "trial_id": trial_id}
        if len(pieces) > 1:
            chunk_key = {**key, "category": "persist_chunk", "version": version}
            self._ready().insert_many(
                [self._document(chunk_key, seq=i, data=p) for i, p in enumerate(pieces[1:], 1)]
            )
        head = self._document(key, version=version, chunks=len(pieces), data=pieces[0])
        update = _set_remembering(head, replaced_version="version", replaced_chunks="chunks")
        projection = {"replaced_version": True, "replaced_chunks": True}
        after = self._change_or_insert(
            lambda c: c.find_one_and_update(key, update, projection, return_document=_AFTER), head
        )
        if after is not None and _int_field(after, "replaced_chunks") > 1:
            replaced = {**key, "category": "persist_chunk", "version": after["replaced_version"]}
            self._collection.delete_many(replaced)

    @_driver_errors("loading a persisted output")
    def load_persisted(self, step: str, trial_id: int) -> bytes:
        key = {"category": "persist", "step": step, "trial_id": trial_id}
        missing = f"no persisted output of step {step!r} in trial {trial_id}"
        for _ in range(_READ_ATTEMPTS):
            data = self._persisted_bytes(self._find(key, missing))
            if data is not None:
                return data
        raise CorruptRecord(f"persisted output of step {step!r} in trial {trial_id} is incomplete")

    def _persisted_bytes(self, head: Document) -> bytes | None:
        """The bytes ``head`` points to; None when a concurrent save replaced its pieces."""
        what, chunks = f"persisted output of step {head.get('step')!r}", _int_field(head, "chunks")
        pieces = [_bytes_field(head, what)]
        if chunks > 1:
            fields = ("step", "trial_id", "version")
            query = {"category": "persist_chunk", **{f: head.get(f) for f in fields}}
            rest = list(self._collection.find(query, {"seq": True, "data": True}).sort("seq"))
            if [document.get("seq") for document in rest] != list(range(1, chunks)):
                return None
            pieces.extend(_bytes_field(document, what) for document in rest)
        return b"".join(pieces)

    # step hashes, code, environment

    @_driver_errors("swapping a step hash")
    def swap_step_hash(self, step: str, input_hash: str, output_hash: str) -> str | None:
        key = {"category": "step_hash", "input_hash": f"{step}-{input_hash}"}
        update = _set_remembering({"output_hash": output_hash}, previous_hash="output_hash")
        after = self._change_or_insert(
            lambda c: c.find_one_and_update(
                key, update, {"previous_hash": True}, return_document=_AFTER
            ),
            self._document(key, step=step, output_hash=output_hash),
        )
        return None if after is None else _text_field(after, "previous_hash", "step hash")

    @_driver_errors("saving code")
    def save_code(self, trial_id: int, text: str) -> None:
        key = {"category": "code", "trial_id": trial_id}
        self._put(key, self._document(key, code=text))

    @_driver_errors("loading code")
    def load_code(self, trial_id: int) -> str:
        key = {"category": "code", "trial_id": trial_id}
        document = self._find(key, f"no code saved for trial {trial_id}")
        return _text_field(document, "code", f"code of trial {trial_id}")

    @_driver_errors("saving an environment")
    def save_environment(self, trial_id: int, snapshot: EnvironmentSnapshot) -> None:
        key = {"category": "environment", "trial_id": trial_id}
        self._put(key, self._document(key, **snapshot.categories))

    @_driver_errors("loading an environment")
    def load_environment(self, trial_id: int) -> EnvironmentSnapshot:
        key = {"category": "environment", "trial_id": trial_id}
        document = self._find(key, f"no environment saved for trial {trial_id}")
        what = f"environment of trial {trial_id}"
        # In stored order: a snapshot's categories keep the order they were captured in.
        found = {name: _text_field(document, name, what) for name in document if name in CATEGORIES}
        return EnvironmentSnapshot(found)

    @_driver_errors("deleting the experiment")
    def delete_experiment(self) -> None:
        self._collection.drop()
        self._indexed = False

    def close(self) -> None:
        """Nothing to release: connections belong to the process's shared client, which
        other stores of the same URI keep using (see :func:`shared_client`)."""


# --- the backend -------------------------------------------------------------------------------


class MongoBackend(Backend):
    """Experiments in one MongoDB database, one collection per experiment.

    >>> MongoBackend("mongodb://localhost:27017/test_db")
    MongoBackend('mongodb://localhost:27017/test_db')

    Holds the URI only, so it pickles to dask workers; each process opens its own
    client on first use. A URI naming no database is refused (InvalidBackend).
    """

    def __init__(self, uri: str) -> None:
        self._database_name = _database_name(uri)
        self._uri = uri
        self._errors = _ErrorTranslator(uri)
        self._given: tuple[int, MongoClient[Any]] | None = None

    @classmethod
    def from_database(cls, database: Database[Any]) -> MongoBackend:
        """A backend on ``database``; this process keeps using the database's own client,
        other processes connect with a URI rebuilt from it."""
        backend = cls(uri_of_client(database.client, database.name))
        backend._given = (os.getpid(), database.client)
        return backend

    @property
    def location(self) -> str:
        return self._errors.location

    @property
    def database_name(self) -> str:
        """The database every experiment's collection lives in."""
        return self._database_name

    def _database(self) -> Database[Document]:
        given = self._given
        client = given[1] if given and given[0] == os.getpid() else shared_client(self._uri)
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
        try:
            store = MongoExperimentStore(
                self._database()[experiment_id], experiment_id, self._errors
            )
            store.create_indexes()  # the first call to reach the server
        except _DRIVER_ERRORS as error:
            raise self._errors.translate(error, f"opening experiment {experiment_id!r}") from error
        return store

    def __reduce__(self) -> tuple[type[MongoBackend], tuple[str]]:
        # Configuration only: the client stays behind, the receiving process opens its own.
        return (type(self), (self._uri,))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MongoBackend) and other._uri == self._uri

    def __hash__(self) -> int:
        return hash(("mongo", self._uri))
