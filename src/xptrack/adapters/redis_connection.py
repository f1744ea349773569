"""How the Redis store reaches its server: URIs and pools turned into plain-data
settings, this process's client, and driver errors turned into xptrack's.

:class:`RedisConnection` is configuration first: it pickles to dask workers without
its client, and each process opens its own on first use.
"""

from __future__ import annotations

import contextlib
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import attrs
import redis
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.connection import SSLConnection, UnixDomainSocketConnection
from redis.exceptions import InvalidResponse
from redis.retry import Retry

from xptrack.adapters.error_translation import ErrorTranslation
from xptrack.adapters.process_local import PerProcess
from xptrack.adapters.utf8 import unencodable
from xptrack.domain.errors import (
    CorruptRecord,
    InvalidBackend,
    StoreError,
    StoreUnavailable,
    UnstorableValue,
)
from xptrack.domain.redaction import (
    REDACTED,
    password_of,
    redact_url,
    scrub,
    unencoded_password,
)

SCHEMES = ("redis", "rediss", "unix")
ACCEPTED_URIS = (
    "redis://[[user]:password@]host[:port][/db], rediss://… (TLS) or "
    "unix://[[user]:password@]/path/to/socket[?db=N], db a number (0 when left out)"
)
#: ``open`` gives up on an unreachable or silent server after about twice this (< 5 s).
PROBE_TIMEOUT = 2.0
#: One command's budget (README "Faults"): connecting, then each read of its reply; a dropped
#: connection is retried once after a short pause, a timed-out command never (it may still run
#: when the server wakes: sending it again would apply it twice). URI options
#: ``socket_connect_timeout`` and ``socket_timeout`` override the first two.
CONNECT_TIMEOUT = 2.0
READ_TIMEOUT = 2.5
RETRIES = 1
RETRY_PAUSE_CAP = 0.25
#: For this long after a command timed out, commands wait at most QUICK_TIMEOUT and are not
#: retried: a trial whose server went silent fails within one budget, not one per call.
SILENT_WINDOW = 30.0
QUICK_TIMEOUT = 1.0
# Connection settings a pool may carry that are plain data (and so pickle to workers).
_POOL_SETTINGS = frozenset(
    ("host", "port", "db", "username", "password", "path", "client_name", "protocol")
).union(("socket_timeout", "socket_connect_timeout", "socket_keepalive", "health_check_interval"))


@attrs.frozen
class RedisTimeouts:
    """How long one Redis command may wait, and how its waits add up."""

    connect: float = CONNECT_TIMEOUT
    read: float = READ_TIMEOUT
    retries: int = RETRIES
    pause_cap: float = RETRY_PAUSE_CAP

    @property
    def worst_case(self) -> float:
        """Seconds before a command on a server that stopped answering raises: every attempt
        may spend ``connect + read``, and each retry waits up to ``pause_cap`` first."""
        return (self.retries + 1) * (self.connect + self.read) + self.retries * self.pause_cap

    def retry(self) -> Retry:
        """The driver's retry policy: only a dropped connection, never a timeout."""
        pause = ExponentialBackoff(cap=self.pause_cap, base=self.pause_cap / 4)
        return Retry(pause, retries=self.retries, supported_errors=(redis.ConnectionError,))


class RedisConnection:
    """The settings of one Redis server, and this process's client to it.

    >>> RedisConnection.from_url("redis://:pw@localhost/1").location
    'redis://:***@localhost/1'
    """

    def __init__(
        self, connection_class: type[Any], settings: dict[str, Any], location: str
    ) -> None:
        self._connection_class = connection_class
        self._settings = settings
        #: The server's URI with its password redacted, for people.
        self.location = location
        #: The waits of every command (the URI's socket timeouts, or the defaults).
        self.timeouts = RedisTimeouts(
            connect=float(settings.get("socket_connect_timeout") or CONNECT_TIMEOUT),
            read=float(settings.get("socket_timeout") or READ_TIMEOUT),
        )
        #: This process's clients: the full budget's (False) and the quick one's (True).
        self._clients: PerProcess[bool, redis.Redis] = PerProcess()
        self._errors = RedisErrorTranslation(self.location, self.timeouts, settings.get("password"))

    @classmethod
    def from_url(cls, url: str) -> RedisConnection:
        """The settings a ``redis://``, ``rediss://`` or ``unix://`` URI gives; InvalidBackend
        for anything else (the message never shows the password)."""
        if not isinstance(url, str) or not url.startswith(tuple(f"{s}://" for s in SCHEMES)):
            shown = redact_url(url) if isinstance(url, str) else type(url).__name__
            raise InvalidBackend(f"not a Redis URI: {shown!r}; accepted: {ACCEPTED_URIS}")
        if unencoded_password(url):
            raise InvalidBackend(
                f"malformed Redis URI {redact_url(url)!r}: its password holds '/', '?', '#' or "
                "a space, which must be percent-encoded (urllib.parse.quote(password, safe=''))"
                f"; accepted: {ACCEPTED_URIS}"
            )
        _check_database(url)
        try:
            pool = redis.ConnectionPool.from_url(url)  # parses only; connects on first use
        except ValueError as error:
            reason = scrub(str(error), password_of(url))
            raise InvalidBackend(
                f"malformed Redis URI {redact_url(url)!r}: {reason}; accepted: {ACCEPTED_URIS}"
            ) from None
        return cls(pool.connection_class, _settings_of(pool), redact_url(url))

    @classmethod
    def from_pool(cls, pool: redis.ConnectionPool) -> RedisConnection:
        """The settings of the server ``pool`` connects to (not the pool itself)."""
        if not isinstance(pool, redis.ConnectionPool):
            raise InvalidBackend(f"expected a redis.ConnectionPool; got {type(pool).__name__}")
        settings = _settings_of(pool)
        return cls(pool.connection_class, settings, _location_of(pool.connection_class, settings))

    def client(self) -> redis.Redis:
        """This process's client (created on first use, and again in a forked child). While
        the server has lately not answered, one that waits :data:`QUICK_TIMEOUT` at most, so
        that a trial facing a silent server fails within one budget, not one per call."""
        return self._clients.get(self._errors.window.open, self._new_client)

    def _new_client(self, quick: bool) -> redis.Redis:
        timeouts = self.timeouts
        if not quick:
            return self._make_client(timeouts.connect, timeouts.read, timeouts.retry())
        connect, read = min(QUICK_TIMEOUT, timeouts.connect), min(QUICK_TIMEOUT, timeouts.read)
        return self._make_client(connect, read, Retry(NoBackoff(), retries=0))

    def close(self) -> None:
        """Close this process's connections (they are reopened on next use)."""
        for client in self._clients.drain():
            client.close()
            client.connection_pool.disconnect()

    def probe(self) -> None:
        """PING the server; StoreUnavailable within 5 s when it cannot be used."""
        # A connection of its own with short timeouts and no retries, so that a dead or
        # silent server is reported within seconds whatever the long-lived client allows.
        connect = min(PROBE_TIMEOUT, self.timeouts.connect)
        read = min(PROBE_TIMEOUT, self.timeouts.read)
        probe = self._make_client(connect, read, Retry(NoBackoff(), retries=0))
        try:
            with self.translating("connect and PING"):
                probe.ping()
        finally:
            probe.close()
            probe.connection_pool.disconnect()

    def _make_client(
        self, connect_timeout: float, read_timeout: float, retry: Retry
    ) -> redis.Redis:
        timeouts = {"socket_connect_timeout": connect_timeout, "socket_timeout": read_timeout}
        pool = redis.ConnectionPool(
            connection_class=self._connection_class, retry=retry, **{**self._settings, **timeouts}
        )
        return redis.Redis(connection_pool=pool)

    def translating(self, what: str) -> contextlib.AbstractContextManager[None]:
        """Turn a Redis driver error raised while doing ``what`` into xptrack's error."""
        return self._errors.translating(what)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RedisConnection) and self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash(self._identity())

    def _identity(self) -> tuple[Any, ...]:
        return (self._connection_class, tuple(sorted(self._settings.items())))


class RedisErrorTranslation(ErrorTranslation):
    """Redis driver errors as xptrack's, naming the redacted location, never the password."""

    driver_errors = (redis.RedisError, UnicodeEncodeError)

    def __init__(self, location: str, timeouts: RedisTimeouts, password: str | None) -> None:
        super().__init__(SILENT_WINDOW)
        self.location = location
        self.timeouts = timeouts
        self._password = password

    def is_timeout(self, error: BaseException) -> bool:
        return isinstance(error, redis.TimeoutError)

    def translated(self, error: BaseException, action: str, quick: bool) -> StoreError:
        where, message = f"Redis at {self.location}", scrub(str(error), self._password)
        if isinstance(error, redis.TimeoutError):
            return self._timed_out(action, message, quick)
        if isinstance(error, redis.AuthenticationError):
            return StoreUnavailable(
                f"{where} refused the connection ({action}): {message.rstrip('.')}; check the "
                "user name and password in the URI"
            )
        if isinstance(error, redis.ConnectionError | InvalidResponse):
            # InvalidResponse: whatever answered does not speak Redis (a proxy, another service).
            return StoreUnavailable(f"cannot reach {where} ({action}): {message}")
        if isinstance(error, redis.ResponseError):
            return _response_error(self.location, action, message)
        if isinstance(error, UnicodeEncodeError):
            return UnstorableValue(f"cannot {action} on Redis: {unencodable(error)}")
        return StoreError(f"{where} failed to {action}: {message}")

    def _timed_out(self, what: str, message: str, quick: bool) -> StoreUnavailable:
        waits = (
            f"{QUICK_TIMEOUT:g} s, as it had not answered lately"
            if quick
            else f"{self.timeouts.connect:g} s to connect and {self.timeouts.read:g} s to reply"
        )
        return StoreUnavailable(
            f"Redis at {self.location} did not answer ({what}) within {waits}: "
            f"{message}; the URI options socket_connect_timeout and socket_timeout "
            "set these waits"
        )


def _check_database(url: str) -> None:
    """Refuse a URI whose database is not a number (redis-py would quietly use database 0).
    The message quotes the redacted URI only: a password with an unencoded ``/`` spills into
    what a parser takes for the path."""
    parts = urlsplit(url)
    databases = [value for key, value in parse_qsl(parts.query) if key == "db"]
    if parts.scheme != "unix":
        databases.append(parts.path.strip("/") or "0")
    if not all(database.isdigit() for database in databases) or not (
        parts.netloc or parts.scheme == "unix"
    ):
        raise InvalidBackend(
            f"malformed Redis URI {redact_url(url)!r}: it needs a host, and its database "
            f"(the path or ?db=) must be a number; accepted: {ACCEPTED_URIS}"
        )


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
