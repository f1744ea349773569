"""How the MongoDB store reaches its database: URIs checked and rebuilt from clients,
one client per process and URI, and driver errors turned into xptrack's, naming the
URI with its password and secret options redacted.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

import pymongo
from bson.errors import BSONError
from pymongo import MongoClient, uri_parser
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import (
    BulkWriteError,
    ConfigurationError,
    ConnectionFailure,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
)

from xptrack.adapters.error_translation import ErrorTranslation
from xptrack.adapters.mongo_documents import Document
from xptrack.adapters.process_local import PerProcess
from xptrack.adapters.utf8 import unencodable
from xptrack.domain.errors import InvalidBackend, StoreError, StoreUnavailable, UnstorableValue
from xptrack.domain.redaction import password_of, redact_url, scrub, unencoded_password

logger = logging.getLogger(__name__)

ACCEPTED_URIS = (
    "mongodb://[user:password@]host[:port][,host[:port]...]/database[?options] or "
    "mongodb+srv://[user:password@]host/database[?options], user and password percent-encoded"
)
#: Fail fast on an unreachable server unless the URI asks otherwise.
DEFAULT_TIMEOUT_MS = 3000
#: One operation's whole budget unless the URI sets ``timeoutMS`` (README "Faults"): the
#: driver's client-side timeout covers server selection, connecting, every read of the reply
#: and its own retry, so a server that stops answering fails each operation within it.
OPERATION_TIMEOUT_MS = 5000
#: For this long after an operation timed out, operations wait at most QUICK_TIMEOUT_S.
SILENT_WINDOW_S = 30.0
QUICK_TIMEOUT_S = 1.0
#: Opening an experiment first pings within this (or the URI's timeoutMS if shorter), so an
#: unreachable server is reported within seconds.
PING_TIMEOUT_S = 4.0
#: Documents and bytes per insert: a fixed timeout fits an operation only if its work is bounded.
INSERT_DOCUMENTS = 100
INSERT_BYTES = 8 * 1024 * 1024
_TIMEOUT_OPTIONS = {
    "serverSelectionTimeoutMS": DEFAULT_TIMEOUT_MS,
    "connectTimeoutMS": DEFAULT_TIMEOUT_MS,
    "timeoutMS": OPERATION_TIMEOUT_MS,
}
#: URI options whose values are secrets, redacted wherever the URI is shown.
SECRET_OPTIONS = frozenset({"tlscertificatekeyfilepassword", "authmechanismproperties"})
#: MongoClient arguments with plain values that are not URI options (from_database).
_NOT_URI_OPTIONS = frozenset({"host", "port", "username", "password", "connect", "tz_aware"})
_AUTH_ERROR_CODES = frozenset({13, 18})  # Unauthorized, AuthenticationFailed
#: What the driver raises; :meth:`ErrorTranslator.translate` turns each into xptrack's.
DRIVER_ERRORS = (PyMongoError, BSONError, OverflowError, UnicodeEncodeError)


# --- URIs -----------------------------------------------------------------------------------


def _userinfo_and_hosts(netloc: str) -> tuple[str | None, str]:
    userinfo, at, hosts = netloc.rpartition("@")
    return (userinfo if at else None), hosts


def _password(uri: str) -> str | None:
    return password_of(uri)


def named_database(uri: str) -> str:
    """The database ``uri`` names; InvalidBackend when it names none or is malformed."""
    if isinstance(uri, MongoClient):
        raise InvalidBackend(
            "a MongoClient names no database: pass client['<database>'] (a Database) or a URI "
            "naming one: mongodb://host:27017/<database>"
        )
    shown = redact_url(uri, SECRET_OPTIONS) if isinstance(uri, str) else repr(uri)
    if not isinstance(uri, str) or not uri.startswith(("mongodb://", "mongodb+srv://")):
        raise InvalidBackend(f"MongoBackend needs a URI; got {shown}; accepted: {ACCEPTED_URIS}")
    if unencoded_password(uri):
        raise InvalidBackend(
            f"invalid MongoDB URI {shown}: its password holds '/', '?', '#' or a space, which "
            f"must be percent-encoded (urllib.parse.quote_plus); accepted: {ACCEPTED_URIS}"
        )
    try:
        parts = urlsplit(uri)
        if parts.scheme == "mongodb":
            uri_parser.parse_uri(uri, warn=True)  # checks hosts and options, no connection
        elif parts.query:
            uri_parser.split_options(parts.query)  # an SRV URI resolves DNS only when opened
    except (ValueError, ConfigurationError) as error:
        raise InvalidBackend(
            f"invalid MongoDB URI {shown}: {_scrub(str(error), uri)}; accepted: {ACCEPTED_URIS}"
        ) from None
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

_clients: PerProcess[str, MongoClient[Document]] = PerProcess()


def _client_options(uri: str) -> dict[str, Any]:
    given = {key.lower() for key, _ in parse_qsl(urlsplit(uri).query)}
    return {name: ms for name, ms in _TIMEOUT_OPTIONS.items() if name.lower() not in given}


def shared_client(uri: str) -> MongoClient[Document]:
    """This process's client for ``uri``, created on first use.

    A forked child never uses its parent's client (its sockets are shared with the
    parent): a process id change starts a fresh set of clients.
    """
    return _clients.get(uri, _connect)


def _connect(uri: str) -> MongoClient[Document]:
    logger.debug("Connecting to MongoDB at %s", redact_url(uri, SECRET_OPTIONS))
    return MongoClient(uri, **_client_options(uri))


# --- writes a retry may repeat ----------------------------------------------------------------

_DUPLICATE_KEY = 11000


def only_duplicates(error: BulkWriteError) -> bool:
    """Whether every write ``error`` reports was refused as a duplicate key (the document,
    or one with its identity, is stored already) and the write concern was met."""
    details = error.details
    return not details.get("writeConcernErrors") and all(
        e.get("code") == _DUPLICATE_KEY for e in details.get("writeErrors", [])
    )


def insert_once(collection: Collection[Document], documents: list[Document]) -> None:
    """Insert ``documents``, each at most once even when the driver sends them again.

    Every document gets its ``_id`` before it is first sent (and chunks carry a unique
    ``seq`` or ``version``), so a copy the server already applied is refused as a
    duplicate key: that refusal means "already stored", and the others are inserted.
    """
    for group in _insert_groups(documents):
        try:
            collection.insert_many(group, ordered=False)
        except BulkWriteError as error:
            if not only_duplicates(error):
                raise


def _insert_groups(documents: list[Document]) -> Iterator[list[Document]]:
    group: list[Document] = []
    size = 0
    for document in documents:
        weight = sum(len(v) for v in document.values() if isinstance(v, str | bytes))
        if group and (len(group) >= INSERT_DOCUMENTS or size + weight > INSERT_BYTES):
            yield group
            group, size = [], 0
        group.append(document)
        size += weight
    if group:
        yield group


def ping(database: Database[Document]) -> None:
    """Ask the server to answer within :data:`PING_TIMEOUT_S` (or the client's own shorter
    timeout); driver errors are the caller's to translate."""
    configured = database.client.options.timeout
    with pymongo.timeout(PING_TIMEOUT_S if configured is None else min(configured, PING_TIMEOUT_S)):
        database.command("ping")


# --- errors ------------------------------------------------------------------------------------


class ErrorTranslator(ErrorTranslation):
    """Turns driver errors into xptrack's, naming the redacted URI and never the password;
    while the server has lately not answered, operations wait :data:`QUICK_TIMEOUT_S` at most,
    so that a trial facing a silent server fails within one budget, not one per call."""

    driver_errors = DRIVER_ERRORS

    def __init__(self, uri: str) -> None:
        super().__init__(SILENT_WINDOW_S)
        self.uri = uri
        self.location = redact_url(uri, SECRET_OPTIONS)

    def quick_budget(self) -> contextlib.AbstractContextManager[Any]:
        return pymongo.timeout(QUICK_TIMEOUT_S)

    def is_timeout(self, error: BaseException) -> bool:
        return isinstance(error, PyMongoError) and error.timeout

    def translated(self, error: BaseException, action: str, quick: bool) -> StoreError:
        if quick:
            action = f"{action}, within {QUICK_TIMEOUT_S:g} s as it had not answered lately"
        message = _scrub(str(error), self.uri)
        where = f"MongoDB at {self.location}"
        if isinstance(error, (ServerSelectionTimeoutError, ConfigurationError)):
            return StoreUnavailable(f"{where} is unreachable ({action}): {message}")
        if isinstance(error, PyMongoError) and error.timeout:
            return StoreUnavailable(
                f"{where} did not answer in time ({action}): {message}; the URI option "
                "timeoutMS sets how long one operation may take"
            )
        if isinstance(error, ConnectionFailure):
            return StoreUnavailable(f"{where} is unreachable ({action}): {message}")
        if isinstance(error, OperationFailure) and error.code in _AUTH_ERROR_CODES:
            return StoreUnavailable(f"{where} refused access ({action}): {message}")
        if isinstance(error, UnicodeEncodeError):
            return UnstorableValue(f"cannot store in {where} ({action}): {unencodable(error)}")
        if isinstance(error, (BSONError, OverflowError)):
            return UnstorableValue(f"cannot store in {where} ({action}): {message}")
        return StoreError(f"{where} failed ({action}): {message}")
