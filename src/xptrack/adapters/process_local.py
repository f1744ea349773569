"""What belongs to one process: driver clients, made on first use, never shared with a child.

A forked child inherits its parent's clients with their sockets, which the parent keeps
using: a :class:`PerProcess` cache forgets them in the child (the at-fork hook empties it
and renews its lock before any other thread of the child runs; a process id check covers
forks no hook saw). Pickled, to a dask worker say, it arrives empty.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class PerProcess(Generic[K, V]):
    """Values of this process by key, each made once by the ``make`` of its first use.

    >>> clients = PerProcess[str, list[str]]()
    >>> clients.get("a", list) is clients.get("a", list)
    True
    """

    def __init__(self) -> None:
        self._values: dict[K, V] = {}
        self._pid = os.getpid()
        self._lock = threading.Lock()
        _CACHES.add(self)

    def get(self, key: K, make: Callable[[K], V]) -> V:
        """The value of ``key`` made in this process (``make(key)`` on first use, under a lock:
        two threads never make two)."""
        value = self._values.get(key)
        if value is not None and self._pid == os.getpid():
            return value
        with self._lock:
            if self._pid != os.getpid():  # a fork the hook did not see
                self._values, self._pid = {}, os.getpid()
            value = self._values.get(key)
            if value is None:
                value = self._values[key] = make(key)
            return value

    def drain(self) -> list[V]:
        """The values made in this process, forgotten (for the caller to close them)."""
        with self._lock:
            values = list(self._values.values()) if self._pid == os.getpid() else []
            self._values = {}
            return values

    def _forget(self) -> None:
        # A new lock too: one held by another thread at fork time stays locked in the child.
        self._values = {}
        self._pid = os.getpid()
        self._lock = threading.Lock()

    def __reduce__(self) -> tuple[Any, ...]:
        return (PerProcess, ())


_CACHES: weakref.WeakSet[PerProcess[Any, Any]] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for cache in list(_CACHES):
        cache._forget()


os.register_at_fork(after_in_child=_after_fork_in_child)
