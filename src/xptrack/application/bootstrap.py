"""The composition root: the one place that turns a ``backend`` argument into adapters.

Backends are found by URI scheme in a registry of lazily imported classes, so that
``redis`` and ``pymongo`` are imported only by those who use them; third-party
stores register with :func:`register_backend` or under the ``xptrack.backends``
entry-point group (name = scheme). A driver object (a Redis pool, a pymongo Database)
goes to the adapter of its package, whose ``from_driver`` says what it names.
"""

from __future__ import annotations

import functools
import importlib
import os
import re
from pathlib import Path, PurePath
from typing import Any

from xptrack.domain.errors import InvalidArgument, InvalidBackend
from xptrack.domain.redaction import redact_url
from xptrack.ports.environment import EnvironmentProbe
from xptrack.ports.repositories import Backend
from xptrack.ports.user_objects import UserObjectCodec

DEFAULT_ROOT = Path("xptrack_cache")
#: The environment variable holding the secret users' pickles are signed with.
SIGNING_KEY_ENV = "XPTRACK_SIGNING_KEY"

#: URI scheme -> "module:Class" of its backend, and what to install when the driver is missing
#: (:func:`register_backend` adds to it).
SCHEMES: dict[str, tuple[str, str]] = {
    "redis": ("xptrack.adapters.redis:RedisBackend", 'pip install "xptrack[redis]"'),
    "rediss": ("xptrack.adapters.redis:RedisBackend", 'pip install "xptrack[redis]"'),
    "unix": ("xptrack.adapters.redis:RedisBackend", 'pip install "xptrack[redis]"'),
    "mongodb": ("xptrack.adapters.mongo:MongoBackend", 'pip install "xptrack[mongo]"'),
    "mongodb+srv": ("xptrack.adapters.mongo:MongoBackend", 'pip install "xptrack[mongo]"'),
    "memory": ("xptrack.adapters.memory:MemoryBackend", ""),
}
#: Top-level package of a driver object -> the scheme whose backend recognises it.
DRIVER_PACKAGES: dict[str, str] = {"redis": "redis", "pymongo": "mongodb"}
_SCHEME = re.compile(r"[a-z][a-z0-9+.\-]*")
ACCEPTED = (
    "None or 'local' (local files in xptrack_cache/<id>), a pathlib.Path (local files there), "
    "'redis://…', 'rediss://…' or 'unix://…' URIs or a redis.ConnectionPool, "
    "'mongodb://host:port/database' or a pymongo Database, 'memory://name', "
    "or an xptrack Backend"
)


def open_backend(backend: Any, experiment_id: str) -> Backend:
    """The :class:`Backend` that ``backend`` (the ``Experiment`` argument) names."""
    if backend is None or (isinstance(backend, str) and backend == "local"):  # daskperiment's
        from xptrack.adapters.local import LocalBackend

        return LocalBackend(DEFAULT_ROOT / experiment_id)
    if isinstance(backend, Backend):
        return backend
    if isinstance(backend, PurePath):
        from xptrack.adapters.local import LocalBackend

        return LocalBackend(Path(backend))
    if isinstance(backend, str):
        return _from_uri(backend)
    return _from_driver_object(backend)


def store_backend(backend: Any) -> Backend:
    """The :class:`Backend` of a whole store that ``backend`` names: as :func:`open_backend`,
    except that None is the local default's root (``xptrack_cache/``, one folder per
    experiment) instead of one experiment's folder."""
    if backend is None:
        from xptrack.adapters.local import LocalCacheBackend

        return LocalCacheBackend(DEFAULT_ROOT)
    return open_backend(backend, "")


def _from_uri(uri: str) -> Backend:
    scheme, separator, _ = uri.partition("://")
    if not separator:
        shown = redact_url(uri, hide_token=True)  # a misspelled URI: any user part may be secret
        raise InvalidBackend(
            f"backend string {shown!r} is not a URI (a URI starts with 'scheme://'); accepted: "
            f"{ACCEPTED}. For a folder, pass pathlib.Path({shown!r})"
        )
    # The constructor convention of every backend: Class(uri).
    cls: Any = backend_class(scheme.lower(), uri)
    instance: Backend = cls(uri)
    return instance


def register_backend(
    scheme: str, target: str, *, install_hint: str = "", driver_package: str | None = None
) -> None:
    """Make ``Experiment(id, backend='<scheme>://…')`` open ``target`` (``"module:Class"``,
    imported on first use, called as ``Class(uri)``). ``driver_package``: the top-level
    package of the driver objects ``Class.from_driver`` recognises (``'redis'``).

    >>> register_backend("sqlite", "my_package.store:SqliteBackend")   # doctest: +SKIP
    """
    if not isinstance(scheme, str) or not _SCHEME.fullmatch(scheme):
        raise InvalidArgument(
            f"backend scheme must be lowercase letters, digits, '+', '-' or '.', starting with a "
            f"letter (as in 'redis' or 'mongodb+srv'); got {scheme!r}"
        )
    module, colon, attribute = target.partition(":") if isinstance(target, str) else ("", "", "")
    if not (module and colon and attribute):
        raise InvalidArgument(f"backend target must be 'module:Class'; got {target!r}")
    SCHEMES[scheme] = (target, install_hint)
    if driver_package is not None:
        DRIVER_PACKAGES[driver_package] = scheme


def backend_class(scheme: str, uri: str = "") -> type[Backend]:
    """The backend class registered for ``scheme``, or named by an ``xptrack.backends``
    entry point; InvalidBackend when there is none or its driver is not installed."""
    if scheme in SCHEMES:
        target, hint = SCHEMES[scheme]
        module_name, _, attribute = target.partition(":")
        try:
            cls: type[Backend] = getattr(importlib.import_module(module_name), attribute)
        except ImportError as error:
            raise InvalidBackend(
                f"backend {scheme}:// needs a driver that is not installed ({error}); {hint}"
            ) from error
        return cls
    from importlib.metadata import entry_points  # 40-150 ms: only for unknown schemes

    for entry_point in entry_points(group="xptrack.backends"):
        if entry_point.name == scheme:
            loaded: type[Backend] = entry_point.load()
            return loaded
    raise InvalidBackend(
        f"unknown backend URI scheme {scheme!r} in {redact_url(uri)!r}; accepted: {ACCEPTED}"
    )


def _from_driver_object(driver: Any) -> Backend:
    # The adapter of the driver's technology says what its objects name (or refuses them).
    kind = type(driver)
    scheme = DRIVER_PACKAGES.get(kind.__module__.partition(".")[0])
    backend = None if scheme is None else backend_class(scheme).from_driver(driver)
    if backend is None:
        name = f"{kind.__module__}.{kind.__qualname__}"
        raise InvalidBackend(f"backend of type {name} is not accepted; accepted: {ACCEPTED}")
    return backend


def default_probe(script: Path | None = None) -> EnvironmentProbe:
    """The environment probe experiments use unless told otherwise; its git state is that of
    the repository holding ``script`` (default: ``__main__``'s file, else the working
    directory)."""
    from xptrack.adapters.environment import SystemEnvironmentProbe

    return SystemEnvironmentProbe(script.parent if script is not None else None)


def signing_key() -> bytes | None:
    """The key users' pickles are signed with: ``XPTRACK_SIGNING_KEY``, read at each use (a
    key set later applies from then on; a worker process reads its own environment)."""
    key = os.environ.get(SIGNING_KEY_ENV)
    return key.encode() if key else None


@functools.cache
def user_object_codec() -> UserObjectCodec:
    """The codec of users' own objects: pickles, signed with :func:`signing_key`."""
    from xptrack.adapters.user_object_codec import PickleCodec

    return PickleCodec(signing_key, key_name=SIGNING_KEY_ENV)
