"""The composition root: the one place that turns a ``backend`` argument into adapters.

Backends are found by URI scheme in a registry of lazily imported classes, so that
``redis`` and ``pymongo`` are imported only by those who use them; third-party
stores register under the ``xptrack.backends`` entry-point group (name = scheme).
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path, PurePath
from typing import Any

from xptrack.domain.errors import InvalidBackend
from xptrack.domain.redaction import redact_url
from xptrack.ports.environment import EnvironmentProbe
from xptrack.ports.repositories import Backend

DEFAULT_ROOT = Path("xptrack_cache")

#: URI scheme -> "module:Class" of its backend, and what to install when the driver is missing.
SCHEMES: dict[str, tuple[str, str]] = {
    "redis": ("xptrack.adapters.redis:RedisBackend", 'pip install "xptrack[redis]"'),
    "rediss": ("xptrack.adapters.redis:RedisBackend", 'pip install "xptrack[redis]"'),
    "unix": ("xptrack.adapters.redis:RedisBackend", 'pip install "xptrack[redis]"'),
    "mongodb": ("xptrack.adapters.mongo:MongoBackend", 'pip install "xptrack[mongo]"'),
    "mongodb+srv": ("xptrack.adapters.mongo:MongoBackend", 'pip install "xptrack[mongo]"'),
    "memory": ("xptrack.adapters.memory:MemoryBackend", ""),
}
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
    scheme, separator, rest = uri.partition("://")
    if not separator:
        shown = redact_url(uri, hide_token=True)  # a misspelled URI: any user part may be secret
        raise InvalidBackend(
            f"backend string {shown!r} is not a URI (a URI starts with 'scheme://'); accepted: "
            f"{ACCEPTED}. For a folder, pass pathlib.Path({shown!r})"
        )
    scheme = scheme.lower()
    if scheme == "memory":
        from xptrack.adapters.memory import MemoryBackend

        return MemoryBackend(rest or "default")
    cls = _backend_class(scheme, uri)
    instance: Backend = cls(uri)
    return instance


def _backend_class(scheme: str, uri: str) -> Any:
    if scheme in SCHEMES:
        target, hint = SCHEMES[scheme]
        module_name, _, attribute = target.partition(":")
        try:
            return getattr(importlib.import_module(module_name), attribute)
        except ImportError as error:
            raise InvalidBackend(
                f"backend {scheme}:// needs a driver that is not installed ({error}); {hint}"
            ) from error
    from importlib.metadata import entry_points  # 40-150 ms: only for unknown schemes

    for entry_point in entry_points(group="xptrack.backends"):
        if entry_point.name == scheme:
            return entry_point.load()
    raise InvalidBackend(
        f"unknown backend URI scheme {scheme!r} in {redact_url(uri)!r}; accepted: {ACCEPTED}"
    )


def _from_driver_object(backend: Any) -> Backend:
    kind = type(backend)
    name = f"{kind.__module__}.{kind.__qualname__}"
    redis = sys.modules.get("redis")
    if redis is not None and isinstance(backend, redis.ConnectionPool):
        from xptrack.adapters.redis import RedisBackend

        return RedisBackend.from_pool(backend)
    pymongo = sys.modules.get("pymongo")
    if pymongo is not None:
        if isinstance(backend, pymongo.MongoClient):
            raise InvalidBackend(
                "a MongoClient names no database: pass a Database (client['my_db']) or a URI "
                "'mongodb://host:27017/my_db'"
            )
        if isinstance(backend, pymongo.database.Database):
            from xptrack.adapters.mongo import MongoBackend

            return MongoBackend.from_database(backend)
    raise InvalidBackend(f"backend of type {name} is not accepted; accepted: {ACCEPTED}")


def default_probe() -> EnvironmentProbe:
    """The environment probe experiments use unless told otherwise."""
    from xptrack.adapters.environment import SystemEnvironmentProbe

    return SystemEnvironmentProbe()
