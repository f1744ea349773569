"""The Redis store: the seed's key layout on a Redis server shared by a team.

Every key of experiment ``<id>`` starts with ``<id>:`` (ids cannot contain ``:``), as
in the seed's RedisBackend table::

    <id>:trial_id                       INCR counter of trial ids
    <id>:parameter:<trial>              JSON: the trial's encoded parameters
    <id>:history:<trial>                JSON: the rest of the trial record
    <id>:persist:<step>:<trial>         bytes of a persisted step output
    <id>:metric:<key>:<trial>           list; each element a JSON chunk of points
    <id>:step_hash:<step>-<input hash>  text: the output hash
    <id>:code:<trial>                   text: the code context
    <id>:<category>:<trial>             text: one environment category

plus index keys that spare scans: ``<id>:trials`` (sorted set of saved trial ids),
``<id>:metric_keys:<trial>`` (set of metric keys) and ``<id>:environment:<trial>``
(JSON list of the categories saved). Tracker-owned values are JSON or plain text,
never pickles.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Concatenate, ParamSpec, TypeVar
from urllib.parse import quote, urlsplit

import redis
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.connection import SSLConnection, UnixDomainSocketConnection
from redis.exceptions import InvalidResponse
from redis.retry import Retry

from xptrack.adapters.serialization import (
    decode_metric_chunk,
    dump_json,
    encode_metric_chunk,
    load_json,
    trial_from_document,
    trial_to_document,
)
from xptrack.domain.environment import CATEGORIES, EnvironmentSnapshot
from xptrack.domain.errors import (
    CorruptRecord,
    InvalidBackend,
    NotFoundError,
    StoreError,
    StoreUnavailable,
)
from xptrack.domain.metric import MetricSeries
from xptrack.domain.redaction import REDACTED, redact_url, scrub
from xptrack.domain.trial import TrialRecord
from xptrack.ports.repositories import Backend, ExperimentStore

logger = logging.getLogger(__name__)

SCHEMES = ("redis", "rediss", "unix")
#: ``open`` gives up on an unreachable or silent server after about twice this (< 5 s).
PROBE_TIMEOUT = 2.0
#: Later calls wait longer: a busy server may take a while to answer a big read.
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 30.0
#: Trials per MGET in ``list_trials``, points per list element in ``append_metrics``.
TRIAL_CHUNK = 500
POINTS_PER_ELEMENT = 10_000
#: Keys per SCAN step and per UNLINK in ``delete_experiment``.
DELETE_BATCH = 1_000
# Connection settings a pool may carry that are plain data (and so pickle to workers).
_POOL_SETTINGS = frozenset(
    ("host", "port", "db", "username", "password", "path", "client_name", "protocol")
).union(("socket_timeout", "socket_connect_timeout", "socket_keepalive", "health_check_interval"))

_P = ParamSpec("_P")
_R = TypeVar("_R")
_S = TypeVar("_S", bound="RedisExperimentStore")


class RedisBackend(Backend):
    """Experiments on a Redis server: ``RedisBackend('redis://:password@host:6379/0')``.

    Accepts ``redis://``, ``rediss://`` (TLS) and ``unix://`` URIs, with the password
    and database in the URI. Holds configuration only: it pickles to dask workers,
    and each process opens its own connections on first use.
    """

    def __init__(self, url: str) -> None:
        if not isinstance(url, str) or urlsplit(url).scheme not in SCHEMES:
            shown = redact_url(url) if isinstance(url, str) else type(url).__name__
            raise InvalidBackend(
                f"not a Redis URI: {shown!r}; accepted: redis://[[user]:password@]host[:port][/db],"
                " rediss://… (TLS) or unix://[[user]:password@]/path/to/socket[?db=N]"
            )
        try:
            pool = redis.ConnectionPool.from_url(url)  # parses only; connects on first use
        except ValueError as error:
            reason = scrub(str(error), urlsplit(url).password)
            raise InvalidBackend(f"malformed Redis URI {redact_url(url)!r}: {reason}") from None
        self._init(pool.connection_class, _settings_of(pool), redact_url(url))

    @classmethod
    def from_pool(cls, pool: redis.ConnectionPool) -> RedisBackend:
        """The backend of the server ``pool`` connects to (its settings, not the pool itself).

        >>> RedisBackend.from_pool(redis.ConnectionPool.from_url("redis://:pw@localhost/1"))
        RedisBackend('redis://:***@localhost:6379/1')
        """
        if not isinstance(pool, redis.ConnectionPool):
            raise InvalidBackend(f"expected a redis.ConnectionPool; got {type(pool).__name__}")
        settings = _settings_of(pool)
        backend = cls.__new__(cls)
        backend._init(
            pool.connection_class, settings, _location_of(pool.connection_class, settings)
        )
        return backend

    def _init(self, connection_class: type[Any], settings: dict[str, Any], location: str) -> None:
        self._connection_class = connection_class
        self._settings = settings
        self._location = location
        self._client: redis.Redis | None = None
        self._client_pid = 0

    @property
    def location(self) -> str:
        return self._location

    def open(self, experiment_id: str) -> RedisExperimentStore:
        """A store for ``experiment_id``; StoreUnavailable within 5 s when Redis cannot be used."""
        self._probe()
        logger.debug("Opened experiment %s on %s", experiment_id, self._location)
        return RedisExperimentStore(self, experiment_id)

    def client(self) -> redis.Redis:
        """This process's client (created on first use, and again in a forked child)."""
        pid = os.getpid()
        client = self._client
        if client is None or self._client_pid != pid:
            # No lock: two threads racing here each build a client and one is dropped, which
            # is harmless; a lock inherited mid-acquire by a forked child would deadlock.
            retry = Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=2)
            client = self._make_client(CONNECT_TIMEOUT, READ_TIMEOUT, retry)
            self._client, self._client_pid = client, pid
        return client

    def close(self) -> None:
        """Close this process's connections (they are reopened on next use)."""
        client, self._client = self._client, None
        if client is not None and self._client_pid == os.getpid():
            client.close()
            client.connection_pool.disconnect()

    def _make_client(
        self, connect_timeout: float, read_timeout: float, retry: Retry
    ) -> redis.Redis:
        timeouts = {"socket_connect_timeout": connect_timeout, "socket_timeout": read_timeout}
        pool = redis.ConnectionPool(
            connection_class=self._connection_class, retry=retry, **{**self._settings, **timeouts}
        )
        return redis.Redis(connection_pool=pool)

    def _probe(self) -> None:
        # A connection of its own with short timeouts and no retries, so that a dead or
        # silent server is reported within seconds whatever the long-lived client allows.
        probe = self._make_client(PROBE_TIMEOUT, PROBE_TIMEOUT, Retry(NoBackoff(), retries=0))
        try:
            with self.translating("connect and PING"):
                probe.ping()
        finally:
            probe.close()
            probe.connection_pool.disconnect()

    @contextlib.contextmanager
    def translating(self, what: str) -> Iterator[None]:
        """Turn a Redis driver error raised while doing ``what`` into xptrack's error."""
        try:
            yield
        except redis.AuthenticationError as error:
            raise StoreUnavailable(
                f"Redis at {self._location} refused the connection ({what}): "
                f"{self._scrub(error).rstrip('.')}; check the user name and password in the URI"
            ) from error
        except (redis.ConnectionError, redis.TimeoutError, InvalidResponse) as error:
            # InvalidResponse: whatever answered does not speak Redis (a proxy, another service).
            raise StoreUnavailable(
                f"cannot reach Redis at {self._location} ({what}): {self._scrub(error)}"
            ) from error
        except redis.ResponseError as error:
            raise _response_error(self._location, what, self._scrub(error)) from error
        except redis.RedisError as error:
            raise StoreError(
                f"Redis at {self._location} failed to {what}: {self._scrub(error)}"
            ) from error

    def _scrub(self, error: BaseException) -> str:
        return scrub(str(error), self._settings.get("password"))

    def __getstate__(self) -> dict[str, Any]:
        # Connections stay in the process that opened them; the copy opens its own.
        return {**self.__dict__, "_client": None, "_client_pid": 0}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RedisBackend) and self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash(self._identity())

    def _identity(self) -> tuple[Any, ...]:
        return (self._connection_class, tuple(sorted(self._settings.items())))


def _response_error(location: str, what: str, message: str) -> StoreError:
    if message.startswith(("NOAUTH", "WRONGPASS", "NOPERM")):
        return StoreUnavailable(f"Redis at {location} refused to {what}: {message}")
    if message.startswith("WRONGTYPE") or "not an integer" in message:
        return CorruptRecord(
            f"a key of this experiment on Redis at {location} holds data xptrack did not write "
            f"({what}): {message}"
        )
    return StoreError(f"Redis at {location} failed to {what}: {message}")


class _Secret(str):
    """A password that the driver uses as any str, but that reprs as ``***`` (in dumps of
    settings, ``--showlocals`` tracebacks, debuggers)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(REDACTED)


def _settings_of(pool: redis.ConnectionPool) -> dict[str, Any]:
    """The plain-data connection settings of ``pool`` (they pickle; the pool does not)."""
    settings = {
        key: value
        for key, value in pool.connection_kwargs.items()
        if (key in _POOL_SETTINGS or key.startswith("ssl_"))
        and isinstance(value, str | int | float | bool)
    }
    for secret in ("password", "ssl_password"):
        if settings.get(secret):
            settings[secret] = _Secret(settings[secret])
    return settings


def _location_of(connection_class: type[Any], settings: dict[str, Any]) -> str:
    """A redacted URI equivalent to a pool's settings, for people."""
    user = quote(str(settings.get("username") or ""), safe="")
    auth = f"{user}:{REDACTED}@" if settings.get("password") else (f"{user}@" if user else "")
    db = settings.get("db", 0)
    if issubclass(connection_class, UnixDomainSocketConnection):
        return f"unix://{auth}{settings.get('path', '')}?db={db}"
    scheme = "rediss" if issubclass(connection_class, SSLConnection) else "redis"
    host = str(settings.get("host", "localhost"))
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{auth}{host}:{settings.get('port', 6379)}/{db}"


def _redis_call(
    what: str,
) -> Callable[[Callable[Concatenate[_S, _P], _R]], Callable[Concatenate[_S, _P], _R]]:
    """Run a store method with driver errors translated (see :meth:`RedisBackend.translating`)."""

    def decorate(method: Callable[Concatenate[_S, _P], _R]) -> Callable[Concatenate[_S, _P], _R]:
        @functools.wraps(method)
        def wrapper(self: _S, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
            with self._backend.translating(f"{what} in experiment {self.experiment_id}"):
                return method(self, *args, **kwargs)

        return wrapper

    return decorate


class _Keys:
    """The key names of one experiment: the seed's layout plus the index keys."""

    def __init__(self, experiment_id: str) -> None:
        self.prefix = f"{experiment_id}:"
        self.trial_id = f"{experiment_id}:trial_id"
        self.trials = f"{experiment_id}:trials"

    def parameter(self, trial_id: int) -> str:
        return f"{self.prefix}parameter:{trial_id}"

    def history(self, trial_id: int) -> str:
        return f"{self.prefix}history:{trial_id}"

    def persist(self, step: str, trial_id: int) -> str:
        return f"{self.prefix}persist:{step}:{trial_id}"

    def metric(self, key: str, trial_id: int) -> str:
        return f"{self.prefix}metric:{key}:{trial_id}"

    def metric_keys(self, trial_id: int) -> str:
        return f"{self.prefix}metric_keys:{trial_id}"

    def step_hash(self, step: str, input_hash: str) -> str:
        return f"{self.prefix}step_hash:{step}-{input_hash}"

    def code(self, trial_id: int) -> str:
        return f"{self.prefix}code:{trial_id}"

    def category(self, category: str, trial_id: int) -> str:
        return f"{self.prefix}{category}:{trial_id}"

    def environment(self, trial_id: int) -> str:
        return f"{self.prefix}environment:{trial_id}"

    def pattern(self) -> str:
        """A SCAN pattern matching this experiment's keys and no other's."""
        return "".join(f"\\{c}" if c in "*?[]\\" else c for c in self.prefix) + "*"


class RedisExperimentStore(ExperimentStore):
    """One experiment's records on Redis (see the module docstring for the keys)."""

    def __init__(self, backend: RedisBackend, experiment_id: str) -> None:
        self._backend = backend
        self.experiment_id = experiment_id
        self._keys = _Keys(experiment_id)

    @property
    def _redis(self) -> redis.Redis:
        return self._backend.client()

    # --- trials ------------------------------------------------------------------------------

    @_redis_call("allocate a trial id")
    def next_trial_id(self) -> int:
        return int(self._redis.incr(self._keys.trial_id))

    @_redis_call("read the last trial id")
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

    @_redis_call("save a trial")
    def save_trial(self, record: TrialRecord) -> None:
        document = trial_to_document(record)
        parameters = dump_json(document.pop("parameters"))
        history = dump_json(document)
        trial_id = record.trial_id
        # One transaction: a reader never sees parameters of one version and history of another.
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.mset(
                {self._keys.parameter(trial_id): parameters, self._keys.history(trial_id): history}
            )
            pipe.zadd(self._keys.trials, {str(trial_id): trial_id})
            pipe.execute()

    @_redis_call("read a trial")
    def get_trial(self, trial_id: int) -> TrialRecord:
        parameters, history = self._redis.mget(
            [self._keys.parameter(trial_id), self._keys.history(trial_id)]
        )
        if parameters is None and history is None:
            raise NotFoundError(f"no trial {trial_id} in experiment {self.experiment_id}")
        return _trial_from_texts(trial_id, parameters, history)

    @_redis_call("list trials")
    def list_trials(self) -> list[TrialRecord]:
        # Two round trips whatever the number of trials: the index, then every MGET at once.
        trial_ids = [_trial_number(raw) for raw in self._redis.zrange(self._keys.trials, 0, -1)]
        with self._redis.pipeline(transaction=False) as pipe:
            for chunk in _chunks(trial_ids, TRIAL_CHUNK):
                pipe.mget([self._keys.parameter(t) for t in chunk])
                pipe.mget([self._keys.history(t) for t in chunk])
            replies = pipe.execute()
        parameters = [text for reply in replies[0::2] for text in reply]
        histories = [text for reply in replies[1::2] for text in reply]
        return [
            _trial_from_texts(trial_id, params, history)
            for trial_id, params, history in zip(trial_ids, parameters, histories, strict=True)
            if params is not None or history is not None  # deleted between the two trips
        ]

    # --- metrics -----------------------------------------------------------------------------

    @_redis_call("append metrics")
    def append_metrics(self, batch: Sequence[tuple[int, str, MetricSeries]]) -> None:
        # One transaction for the whole batch: one round trip, and readers see all of it or none.
        with self._redis.pipeline(transaction=True) as pipe:
            for trial_id, key, series in batch:
                if series:
                    pipe.rpush(self._keys.metric(key, trial_id), *_metric_elements(series))
                    pipe.sadd(self._keys.metric_keys(trial_id), key)
            if len(pipe):
                pipe.execute()

    @_redis_call("load a metric")
    def load_metric(self, trial_id: int, key: str) -> MetricSeries:
        elements = self._redis.lrange(self._keys.metric(key, trial_id), 0, -1)
        if not elements:
            raise NotFoundError(f"no metric {key!r} in trial {trial_id}")
        series = MetricSeries()
        for element in elements:
            series.extend(decode_metric_chunk(element))
        return series

    @_redis_call("list metric keys")
    def metric_keys(self, trial_id: int) -> list[str]:
        return sorted(_text(raw) for raw in self._redis.smembers(self._keys.metric_keys(trial_id)))

    # --- persisted outputs, step hashes, code ------------------------------------------------

    @_redis_call("save a persisted output")
    def save_persisted(self, step: str, trial_id: int, data: bytes) -> None:
        self._redis.set(self._keys.persist(step, trial_id), bytes(data))

    @_redis_call("load a persisted output")
    def load_persisted(self, step: str, trial_id: int) -> bytes:
        data = self._redis.get(self._keys.persist(step, trial_id))
        if data is None:
            raise NotFoundError(f"no persisted output of step {step!r} in trial {trial_id}")
        return data.encode() if isinstance(data, str) else bytes(data)

    @_redis_call("swap a step hash")
    def swap_step_hash(self, step: str, input_hash: str, output_hash: str) -> str | None:
        previous = self._redis.set(self._keys.step_hash(step, input_hash), output_hash, get=True)
        return _text(previous) if isinstance(previous, bytes | str) else None

    @_redis_call("save code")
    def save_code(self, trial_id: int, text: str) -> None:
        self._redis.set(self._keys.code(trial_id), text)

    @_redis_call("load code")
    def load_code(self, trial_id: int) -> str:
        raw = self._redis.get(self._keys.code(trial_id))
        if raw is None:
            raise NotFoundError(f"no code saved for trial {trial_id}")
        return _text(raw)

    # --- environment -------------------------------------------------------------------------

    @_redis_call("save an environment")
    def save_environment(self, trial_id: int, snapshot: EnvironmentSnapshot) -> None:
        saved = dict(snapshot.categories)
        stale = [self._keys.category(c, trial_id) for c in CATEGORIES if c not in saved]
        with self._redis.pipeline(transaction=True) as pipe:
            if saved:
                pipe.mset({self._keys.category(c, trial_id): text for c, text in saved.items()})
            if stale:
                pipe.delete(*stale)  # replacing a snapshot drops categories it no longer has
            # The categories in the snapshot's order: that order comes back, and an
            # environment with no category is still one that was saved.
            pipe.set(self._keys.environment(trial_id), dump_json(list(saved)))
            pipe.execute()

    @_redis_call("load an environment")
    def load_environment(self, trial_id: int) -> EnvironmentSnapshot:
        keys = [self._keys.environment(trial_id)]
        keys += [self._keys.category(c, trial_id) for c in CATEGORIES]
        marker, *texts = self._redis.mget(keys)
        found = {c: _text(t) for c, t in zip(CATEGORIES, texts, strict=True) if t is not None}
        if marker is None and not found:
            raise NotFoundError(f"no environment saved for trial {trial_id}")
        order = _category_order(marker) if marker is not None else []
        ordered = {c: found[c] for c in order if c in found} | found
        return EnvironmentSnapshot(ordered)

    # --- lifecycle ---------------------------------------------------------------------------

    @_redis_call("delete the experiment")
    def delete_experiment(self) -> None:
        # SCAN never blocks the server the way KEYS would; UNLINK frees memory in the background.
        keys = self._redis.scan_iter(match=self._keys.pattern(), count=DELETE_BATCH)
        for batch in _chunks(keys, DELETE_BATCH):
            self._redis.unlink(*batch)

    def close(self) -> None:
        """Nothing to release: connections belong to the backend and are shared by its stores."""


def _trial_from_texts(
    trial_id: int, parameters: bytes | str | None, history: bytes | str | None
) -> TrialRecord:
    if parameters is None or history is None:
        missing = "parameters" if parameters is None else "history"
        raise CorruptRecord(f"trial {trial_id} has no {missing} record beside its other half")
    document = load_json(history)
    if not isinstance(document, dict):
        raise CorruptRecord(f"history of trial {trial_id} is not a JSON object")
    return trial_from_document({**document, "parameters": load_json(parameters)})


def _category_order(marker: bytes | str) -> list[str]:
    order = load_json(marker)
    if not isinstance(order, list) or not all(isinstance(c, str) for c in order):
        raise CorruptRecord(f"environment index holds {marker[:40]!r}, not a list of categories")
    return order


def _metric_elements(series: MetricSeries) -> list[str]:
    """``series`` as list elements of at most :data:`POINTS_PER_ELEMENT` points each."""
    step = POINTS_PER_ELEMENT
    return [
        encode_metric_chunk(MetricSeries(series.epochs[i : i + step], series.values[i : i + step]))
        for i in range(0, len(series), step)
    ]


def _text(raw: bytes | str) -> str:
    if isinstance(raw, str):
        return raw
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise CorruptRecord(f"stored text is not UTF-8: {raw[:40]!r}") from error


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
