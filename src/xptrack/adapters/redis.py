"""The Redis store: the seed's key layout on a Redis server shared by a team.

Every key of experiment ``<id>`` starts with ``<id>:`` (ids cannot contain ``:``), as
in the seed's RedisBackend table::

    <id>:trial_id                       INCR counter of trial ids
    <id>:parameter:<trial>              JSON: the trial's encoded parameters
    <id>:history:<trial>                JSON: the rest of the trial record
    <id>:persist:<step>:<trial>         bytes of a persisted step output
    <id>:metric:<key>:<trial>           list; each element a JSON chunk of points
    <id>:step_hash:<step>-<input hash>  text: the output hash
    <id>:step_cache:<step>:<key>        b"<trial>\n" + bytes of a cached step output (SET NX)
    <id>:step_cache_of:<trial>          set of the step_cache keys that trial's outputs were kept in
    <id>:code:<trial>                   reference to the code context's text (below)
    <id>:output:<trial>                 text: what the trial's steps printed and logged
    <id>:<category>:<trial>             reference to one environment category's text
    <id>:text:<digest>                  text: a code or environment text, once per content
    <id>:text_refs                      hash: <digest> -> how many keys refer to that text

plus index keys that spare scans: ``<id>:trials`` (sorted set of saved trial ids),
``<id>:metric_keys:<trial>`` and ``<id>:persisted:<trial>`` (sets of metric keys and of
persisted steps), ``<id>:environment:<trial>`` (JSON list of the categories saved); a
trial's tags and note in ``<id>:labels:<trial>`` (JSON, apart from its record); and the set
of experiment ids ``_xptrack:experiments``. Tracker-owned values are JSON, plain text or
references to texts (below), never pickles.

Code and environment texts are kept once per distinct content (:mod:`.redis_texts`): a
trial in an unchanged environment adds no text. Its per-trial keys hold a reference,
``b"\\xfftext:<digest>"`` (the first 32 hex digits of the text's SHA-256, behind a byte no
UTF-8 text holds), and a key holding the text itself, as earlier versions wrote it, still
reads. Deleting a trial drops the texts no other trial refers to.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Hashable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

import redis

from xptrack.adapters.error_translation import translated
from xptrack.adapters.redis_connection import RedisConnection
from xptrack.adapters.redis_keys import ExperimentKeys
from xptrack.adapters.redis_scripts import append_once, new_batch_marker
from xptrack.adapters.redis_texts import put_texts, read_texts
from xptrack.adapters.serialization import (
    cached_output_from_bytes,
    cached_output_to_bytes,
    decode_metric_chunks,
    dump_json,
    encode_metric_chunks,
    labelled,
    labels_from_json,
    labels_to_json,
    load_json,
    load_json_values,
    read_trial_isolated,
)
from xptrack.adapters.trial_columns_codec import (
    columns_or_records,
    trial_columns_from_documents,
)
from xptrack.adapters.trial_parts import joined_document, joined_trial, split_trial
from xptrack.adapters.utf8 import decoded
from xptrack.domain.environment import CATEGORIES, EnvironmentSnapshot
from xptrack.domain.errors import ConflictError, CorruptRecord
from xptrack.domain.labels import LabelChange, TrialLabels
from xptrack.domain.metric import MetricSeries
from xptrack.domain.step_cache import CachedOutput
from xptrack.domain.step_hash import StepHash
from xptrack.domain.trial import TrialRecord
from xptrack.domain.trial_columns import TrialColumns
from xptrack.ports.not_found import no_metric, no_persisted, no_text, no_trial
from xptrack.ports.repositories import Backend, ExperimentStore

logger = logging.getLogger(__name__)

#: Trials per MGET in ``list_trials``.
TRIAL_CHUNK = 500
#: Keys per SCAN step and per UNLINK in ``delete_experiment``.
DELETE_BATCH = 1_000
#: The set of experiment ids on the server. No experiment's keys start with "_" (ids start
#: with a letter or digit), so deleting an experiment never deletes it.
EXPERIMENTS_KEY = "_xptrack:experiments"
_LABEL_ATTEMPTS = 100


class RedisBackend(Backend):
    """Experiments on a Redis server: ``RedisBackend('redis://:password@host:6379/0')``.

    Accepts ``redis://``, ``rediss://`` (TLS) and ``unix://`` URIs, with the password
    and database in the URI. Holds configuration only: it pickles to dask workers,
    and each process opens its own connections on first use.
    """

    def __init__(self, url: str) -> None:
        self._connection = RedisConnection.from_url(url)

    @classmethod
    def from_pool(cls, pool: redis.ConnectionPool) -> RedisBackend:
        """The backend of the server ``pool`` connects to (its settings, not the pool itself).

        >>> RedisBackend.from_pool(redis.ConnectionPool.from_url("redis://:pw@localhost/1"))
        RedisBackend('redis://:***@localhost:6379/1')
        """
        backend = cls.__new__(cls)
        backend._connection = RedisConnection.from_pool(pool)
        return backend

    @classmethod
    def from_driver(cls, driver: object) -> RedisBackend | None:
        """The backend of a ``redis.ConnectionPool`` or of a ``redis.Redis`` client's pool."""
        if isinstance(driver, redis.Redis):
            driver = driver.connection_pool
        return cls.from_pool(driver) if isinstance(driver, redis.ConnectionPool) else None

    @property
    def location(self) -> str:
        return self._connection.location

    def open(self, experiment_id: str) -> RedisExperimentStore:
        """A store for ``experiment_id``; StoreUnavailable within 5 s when Redis cannot be used."""
        self._connection.probe()
        logger.debug("Opened experiment %s on %s", experiment_id, self.location)
        with self.translating(f"register experiment {experiment_id}"):
            self.client().sadd(EXPERIMENTS_KEY, experiment_id)
        return RedisExperimentStore(self, experiment_id)

    def list_experiments(self) -> list[str]:
        with self.translating("list experiments"):
            return sorted(_text(raw) for raw in self.client().smembers(EXPERIMENTS_KEY))

    def client(self) -> redis.Redis:
        """This process's client (created on first use, and again in a forked child)."""
        return self._connection.client()

    def close(self) -> None:
        """Close this process's connections (they are reopened on next use)."""
        self._connection.close()

    def translating(self, what: str) -> contextlib.AbstractContextManager[None]:
        """Turn a Redis driver error raised while doing ``what`` into xptrack's error."""
        return self._connection.translating(what)

    def configuration(self) -> Hashable:
        return self._connection


class RedisExperimentStore(ExperimentStore):
    """One experiment's records on Redis (see the module docstring for the keys)."""

    def __init__(self, backend: RedisBackend, experiment_id: str) -> None:
        self._backend = backend
        self.experiment_id = experiment_id
        self._keys = ExperimentKeys(experiment_id)

    @property
    def _redis(self) -> redis.Redis:
        return self._backend.client()

    def translating(self, action: str) -> contextlib.AbstractContextManager[None]:
        """Turn a Redis driver error raised while doing ``action`` in this experiment into
        xptrack's error (each store method runs in it: :func:`translated`)."""
        return self._backend.translating(f"{action} in experiment {self.experiment_id}")

    # --- trials ------------------------------------------------------------------------------

    @translated("allocate a trial id")
    def next_trial_id(self) -> int:
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(self._keys.trial_id)
            pipe.sadd(EXPERIMENTS_KEY, self.experiment_id)  # again, after a delete
            trial_id, _ = pipe.execute()
        return int(trial_id)

    @translated("read the last trial id")
    def last_trial_id(self) -> int:
        raw = self._redis.get(self._keys.trial_id)
        if raw is None:
            return 0
        try:
            return int(raw)
        except ValueError:
            raise CorruptRecord(
                f"{self._keys.trial_id} holds {raw[:40]!r}, not a trial id"
            ) from None

    @translated("save a trial")
    def save_trial(self, record: TrialRecord) -> None:
        with self._redis.pipeline(transaction=True) as pipe:
            self._queue_trial(pipe, record)
            pipe.execute()

    @translated("save a starting trial")
    def save_trial_start(
        self,
        record: TrialRecord,
        code: str | None = None,
        environment: EnvironmentSnapshot | None = None,
    ) -> None:
        # One transaction, one round trip: a reader sees the trial with its code and
        # environment, or none of them.
        trial_id = record.trial_id
        texts: list[tuple[str, str | None]] = []
        if code is not None:
            texts.append((self._keys.code(trial_id), code))
        with self._redis.pipeline(transaction=True) as pipe:
            self._queue_trial(pipe, record)
            if environment is not None:
                texts += self._queue_environment(pipe, trial_id, environment)
            put_texts(pipe, self._keys.prefix, texts)
            pipe.execute()

    def _queue_trial(self, pipe: redis.client.Pipeline, record: TrialRecord) -> None:
        trial_id = record.trial_id
        encoded, rest = split_trial(record)
        parameters = dump_json(encoded)
        # The id stays in the history text too, where earlier versions of xptrack read it.
        history = dump_json({"trial_id": trial_id, **rest})
        # In one transaction: a reader never sees parameters of one version and history of
        # another.
        pipe.mset(
            {self._keys.parameter(trial_id): parameters, self._keys.history(trial_id): history}
        )
        pipe.zadd(self._keys.trials, {str(trial_id): trial_id})

    @translated("read a trial")
    def get_trial(self, trial_id: int) -> TrialRecord:
        parameters, history, labels = self._redis.mget(
            [
                self._keys.parameter(trial_id),
                self._keys.history(trial_id),
                self._keys.labels(trial_id),
            ]
        )
        if parameters is None and history is None:
            raise no_trial(trial_id)
        return _trial_from_texts(trial_id, parameters, history, labels)

    @translated("list trials")
    def list_trials(self) -> list[TrialRecord]:
        return [
            read_trial_isolated(
                trial_id, functools.partial(_trial_from_texts, trial_id, params, history, label)
            )
            for trial_id, params, history, label in self._trial_texts()
        ]

    @translated("list trials")
    def trial_columns(self, verbose: bool = False) -> TrialColumns:
        return columns_or_records(functools.partial(self._columns, verbose), self.list_trials)

    def _columns(self, verbose: bool) -> TrialColumns:
        texts = self._trial_texts()
        for trial_id, params, history, _ in texts:
            if params is None or history is None:
                _trial_from_texts(trial_id, params, history, None)  # raises: says what is missing
        # One parse for every trial's history, one for every trial's parameters.
        histories = load_json_values([history for _, _, history, _ in texts])
        parameters = load_json_values([params for _, params, _, _ in texts])
        documents = [
            joined_document(trial_id, params, history)
            for (trial_id, *_), params, history in zip(texts, parameters, histories, strict=True)
        ]
        labels = {
            trial_id: (found.tags, found.note)
            for trial_id, _, _, label in texts
            if label is not None
            for found in (labels_from_json(label),)
        }
        return trial_columns_from_documents(documents, labels, verbose)

    def _trial_texts(self) -> list[tuple[int, Any, Any, Any]]:
        """(trial id, parameters, history, labels) texts of every saved trial, in id order."""
        # Two round trips whatever the number of trials: the index, then every MGET at once.
        trial_ids = [_trial_number(raw) for raw in self._redis.zrange(self._keys.trials, 0, -1)]
        parts = (self._keys.parameter, self._keys.history, self._keys.labels)
        with self._redis.pipeline(transaction=False) as pipe:
            for chunk in _chunks(trial_ids, TRIAL_CHUNK):
                for part in parts:
                    pipe.mget([part(t) for t in chunk])
            replies = pipe.execute()
        parameters, histories, labels = (
            [text for reply in replies[i :: len(parts)] for text in reply] for i in range(3)
        )
        return [
            (trial_id, params, history, label)
            for trial_id, params, history, label in zip(
                trial_ids, parameters, histories, labels, strict=True
            )
            if params is not None or history is not None  # deleted between the two trips
        ]

    @translated("update the labels of a trial")
    def change_labels(self, trial_id: int, change: LabelChange) -> None:
        history, labels = self._keys.history(trial_id), self._keys.labels(trial_id)
        # Optimistic: read, change, and write only if neither key changed in between.
        with self._redis.pipeline(transaction=True) as pipe:
            for _ in range(_LABEL_ATTEMPTS):
                try:
                    pipe.watch(history, labels)  # type: ignore[no-untyped-call]
                    if not pipe.exists(history):
                        raise no_trial(trial_id)
                    raw = pipe.get(labels)
                    current = TrialLabels() if raw is None else labels_from_json(raw)
                    pipe.multi()
                    pipe.set(labels, labels_to_json(change.applied_to(current)))
                    pipe.execute()
                    return
                except redis.WatchError:
                    continue
        raise ConflictError(f"labels of trial {trial_id} kept changing under concurrent writers")

    @translated("delete a trial")
    def delete_trial(self, trial_id: int) -> None:
        keys = self._keys
        metric_keys = self._redis.smembers(keys.metric_keys(trial_id))
        steps = self._redis.smembers(keys.persisted(trial_id))
        doomed = [keys.parameter(trial_id), keys.history(trial_id), keys.labels(trial_id)]
        doomed += [keys.metric_keys(trial_id), keys.persisted(trial_id), keys.output(trial_id)]
        doomed += [keys.environment(trial_id)]
        doomed += [keys.metric(_text(key), trial_id) for key in metric_keys]
        doomed += [keys.persist(_text(step), trial_id) for step in steps]
        doomed += [keys.step_cache_of(trial_id)]
        doomed += [_text(entry) for entry in self._redis.smembers(keys.step_cache_of(trial_id))]
        # The code and category keys through the script: it drops texts nobody refers to.
        texts = [keys.code(trial_id), *(keys.category(c, trial_id) for c in CATEGORIES)]
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.zrem(keys.trials, str(trial_id))
            pipe.unlink(*doomed)
            put_texts(pipe, keys.prefix, [(key, None) for key in texts])
            pipe.execute()

    # --- metrics -----------------------------------------------------------------------------

    @translated("append metrics")
    def append_metrics(self, batch: Sequence[tuple[int, str, MetricSeries]]) -> None:
        # One script for the whole batch: one round trip, readers see all of it or none, and a
        # repeat of it (a retry after a dropped connection) appends nothing (redis_scripts).
        series = [
            (self._keys.metric(key, tid), self._keys.metric_keys(tid), key, encode_metric_chunks(s))
            for tid, key, s in batch
            if s
        ]
        if series:
            append_once(self._redis, new_batch_marker(self._keys.prefix), series)

    @translated("load a metric")
    def load_metric(self, trial_id: int, key: str) -> MetricSeries:
        elements = self._redis.lrange(self._keys.metric(key, trial_id), 0, -1)
        if not elements:
            raise no_metric(trial_id, key)
        return decode_metric_chunks(elements)

    @translated("list metric keys")
    def metric_keys(self, trial_id: int) -> list[str]:
        return sorted(_text(raw) for raw in self._redis.smembers(self._keys.metric_keys(trial_id)))

    # --- persisted outputs, step hashes, code ------------------------------------------------

    @translated("save a persisted output")
    def save_persisted(self, step: str, trial_id: int, data: bytes) -> None:
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._keys.persist(step, trial_id), bytes(data))
            pipe.sadd(self._keys.persisted(trial_id), step)
            pipe.execute()

    @translated("list persisted outputs")
    def list_persisted(self, trial_id: int) -> list[str]:
        return sorted(_text(raw) for raw in self._redis.smembers(self._keys.persisted(trial_id)))

    @translated("load a persisted output")
    def load_persisted(self, step: str, trial_id: int) -> bytes:
        data = self._redis.get(self._keys.persist(step, trial_id))
        if data is None:
            raise no_persisted(step, trial_id)
        return data.encode() if isinstance(data, str) else bytes(data)

    @translated("swap a step hash")
    def swap_step_hash(self, step: str, input_hash: str, output_hash: str) -> str | None:
        key = self._keys.step_hash(StepHash(step, input_hash, output_hash))
        previous = self._redis.set(key, output_hash, get=True)
        return _text(previous) if isinstance(previous, bytes | str) else None

    @translated("add a cached step output")
    def add_cached_output(self, step: str, key: str, output: CachedOutput) -> bool:
        # One value holding the trial id and the bytes, set only if absent: atomic and whole.
        value = cached_output_to_bytes(output)
        entry = self._keys.step_cache(step, key)
        if not self._redis.set(entry, value, nx=True):
            return False
        # Indexed under the trial only once kept: delete_trial never removes another's entry.
        self._redis.sadd(self._keys.step_cache_of(output.trial_id), entry)
        return True

    @translated("load a cached step output")
    def load_cached_output(self, step: str, key: str) -> CachedOutput | None:
        raw = self._redis.get(self._keys.step_cache(step, key))
        if raw is None:
            return None
        value = raw.encode() if isinstance(raw, str) else bytes(raw)
        return cached_output_from_bytes(value, step)

    @translated("save code")
    def save_code(self, trial_id: int, text: str) -> None:
        put_texts(self._redis, self._keys.prefix, [(self._keys.code(trial_id), text)])

    @translated("load code")
    def load_code(self, trial_id: int) -> str:
        (raw,) = read_texts(self._redis, self._keys.prefix, [self._keys.code(trial_id)])
        if raw is None:
            raise no_text("code", trial_id)
        return _text(raw)

    @translated("save output")
    def save_output(self, trial_id: int, text: str) -> None:
        self._redis.set(self._keys.output(trial_id), text)

    @translated("load output")
    def load_output(self, trial_id: int) -> str:
        raw = self._redis.get(self._keys.output(trial_id))
        if raw is None:
            raise no_text("output", trial_id)
        return _text(raw)

    # --- environment -------------------------------------------------------------------------

    @translated("save an environment")
    def save_environment(self, trial_id: int, snapshot: EnvironmentSnapshot) -> None:
        with self._redis.pipeline(transaction=True) as pipe:
            put_texts(pipe, self._keys.prefix, self._queue_environment(pipe, trial_id, snapshot))
            pipe.execute()

    def _queue_environment(
        self, pipe: redis.client.Pipeline, trial_id: int, snapshot: EnvironmentSnapshot
    ) -> list[tuple[str, str | None]]:
        """Queue the environment's index on ``pipe``; the category keys to write (a text) or
        delete (None: replacing a snapshot drops the categories it no longer has)."""
        saved = dict(snapshot.categories)
        # The categories in the snapshot's order: that order comes back, and an
        # environment with no category is still one that was saved.
        pipe.set(self._keys.environment(trial_id), dump_json(list(saved)))
        return [(self._keys.category(c, trial_id), saved.get(c)) for c in CATEGORIES]

    @translated("load an environment")
    def load_environment(self, trial_id: int) -> EnvironmentSnapshot:
        keys = [self._keys.environment(trial_id)]
        keys += [self._keys.category(c, trial_id) for c in CATEGORIES]
        marker, *texts = read_texts(self._redis, self._keys.prefix, keys)
        found = {c: _text(t) for c, t in zip(CATEGORIES, texts, strict=True) if t is not None}
        if marker is None and not found:
            raise no_text("environment", trial_id)
        order = _category_order(marker) if marker is not None else []
        ordered = {c: found[c] for c in order if c in found} | found
        return EnvironmentSnapshot(ordered)

    # --- lifecycle ---------------------------------------------------------------------------

    @translated("delete the experiment")
    def delete_experiment(self) -> None:
        # SCAN never blocks the server the way KEYS would; UNLINK frees memory in the background.
        keys = self._redis.scan_iter(match=self._keys.pattern(), count=DELETE_BATCH)
        for batch in _chunks(keys, DELETE_BATCH):
            self._redis.unlink(*batch)
        self._redis.srem(EXPERIMENTS_KEY, self.experiment_id)

    def close(self) -> None:
        """Nothing to release: connections belong to the backend and are shared by its stores."""


def _trial_from_texts(
    trial_id: int,
    parameters: bytes | str | None,
    history: bytes | str | None,
    labels: bytes | str | None,
) -> TrialRecord:
    if parameters is None or history is None:
        missing = "parameters" if parameters is None else "history"
        raise CorruptRecord(f"trial {trial_id} has no {missing} record beside its other half")
    record = joined_trial(trial_id, load_json(parameters), load_json(history))
    return labelled(record, None if labels is None else labels_from_json(labels))


def _category_order(marker: bytes | str) -> list[str]:
    order = load_json(marker)
    if not isinstance(order, list) or not all(isinstance(c, str) for c in order):
        raise CorruptRecord(f"environment index holds {marker[:40]!r}, not a list of categories")
    return order


def _text(raw: bytes | str) -> str:
    if isinstance(raw, str):
        return raw
    return decoded(raw, "text")


def _trial_number(raw: object) -> int:
    if isinstance(raw, bytes | str) and raw.isdigit():
        return int(raw)
    raise CorruptRecord(f"the trial index holds {raw!r:.40}, not a trial id")


_T = TypeVar("_T")


def _chunks(items: Iterable[_T], size: int) -> Iterator[list[_T]]:
    chunk: list[_T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
