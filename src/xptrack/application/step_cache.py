"""The step cache use-case: reuse a step's output from an earlier trial instead of running it.

A step marked ``cache=True`` is keyed by its input hash (the purity check's, which covers
the step's source, derived seed and arguments), its code fingerprint
(:mod:`xptrack.application.fingerprint`) and its derived seed. When the
store holds an output under that key, it is loaded (through the user-object codec,
so the signing rule applies) and the step's function is not called; otherwise the step
runs and its output is offered to the store, which keeps the first one offered.

Concurrency: within a process, callers of one key take turns (:class:`InFlight`), so a
threaded sweep runs a missed step once and the other trials reuse it; across processes
and machines, trials that miss the same key at the same moment each run it at most once,
and the store keeps one whole output that every later trial reads.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import Any

import attrs

from xptrack.application.bootstrap import user_object_codec
from xptrack.domain.errors import CorruptRecord, SignatureError, UnstorableValue
from xptrack.domain.step_cache import CachedOutput, step_cache_key
from xptrack.ports.repositories import StepCacheRepository
from xptrack.ports.user_objects import UserObjectCodec

logger = logging.getLogger("xptrack.experiment")

_unhashable_reported: set[str] = set()


@attrs.frozen
class StepOutcome:
    """What a cached step gave: its value, the codec's bytes of it (None when it could not be
    stored), and the trial whose output was reused (None when the step ran)."""

    value: Any
    data: bytes | None = attrs.field(repr=False)
    cached_from: int | None = None


def cache_key(step: str, input_hash: str | None, fingerprint: str, step_seed: int) -> str | None:
    """The key of a call of ``step`` with the purity check's ``input_hash``; None (logged once
    per step and process) when dask could not hash the inputs, so the call is not cached."""
    if input_hash is None:
        if step not in _unhashable_reported:
            _unhashable_reported.add(step)
            logger.warning(
                "step %s: not cached, dask cannot hash its inputs deterministically "
                "(give their types a __dask_tokenize__ method to cache it)",
                step,
            )
        return None
    return step_cache_key(step, input_hash, fingerprint, step_seed)


class InFlight:
    """Keys being computed in this process: one caller per key at a time, the others wait.

    One table per process is enough and needs no identity: a cache key already names the
    step, its code, inputs and seed, so two stores sharing a key only take turns.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[Hashable, tuple[threading.Lock, int]] = {}

    @contextmanager
    def holding(self, key: Hashable) -> Iterator[None]:
        """Hold ``key`` for the block, after every earlier holder has left it."""
        with self._lock:
            lock, users = self._held.get(key, (threading.Lock(), 0))
            self._held[key] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._lock:
                lock, users = self._held[key]
                if users == 1:
                    del self._held[key]
                else:
                    self._held[key] = (lock, users - 1)

    def users(self, key: Hashable) -> int:
        """How many callers hold or wait for ``key`` now."""
        with self._lock:
            return self._held.get(key, (None, 0))[1]

    def __len__(self) -> int:
        return len(self._held)


IN_FLIGHT = InFlight()


class StepCache:
    """Reuses or runs cached steps against ``store``, storing outputs with ``codec`` (default:
    the composition root's, whose pickles are signed when ``XPTRACK_SIGNING_KEY`` is set)."""

    def __init__(
        self,
        store: StepCacheRepository,
        in_flight: InFlight = IN_FLIGHT,
        codec: UserObjectCodec | None = None,
    ) -> None:
        self._store = store
        self._in_flight = in_flight
        self._codec = codec if codec is not None else user_object_codec()

    def reuse_or_run(
        self, step: str, key: str, trial_id: int, run: Callable[[], Any]
    ) -> StepOutcome:
        """The output stored under ``key`` (``run`` is not called), or ``run()``'s, offered to
        the store as made by ``trial_id``. An error of ``run`` propagates; nothing is stored."""
        with self._in_flight.holding((step, key)):
            reused = self.reuse(step, key)
            if reused is not None:
                return reused
            value = run()
            return StepOutcome(value, self.offer(step, key, trial_id, value))

    def reuse(self, step: str, key: str) -> StepOutcome | None:
        """The stored output under ``key``, loaded; None when there is none, or when it cannot
        be loaded (unsigned, tampered, corrupt: said in a warning, and never unpickled)."""
        entry = self._store.load_cached_output(step, key)
        if entry is None:
            return None
        try:
            value = self._codec.load(entry.data)
        except (SignatureError, CorruptRecord) as error:
            logger.warning(
                "step %s: the cached output of trial %d is not used (%s); running the step",
                step,
                entry.trial_id,
                error,
            )
            return None
        logger.info("step %s: reused output of trial %d", step, entry.trial_id)
        return StepOutcome(value, entry.data, entry.trial_id)

    def offer(self, step: str, key: str, trial_id: int, value: Any) -> bytes | None:
        """Offer ``value`` as the output under ``key``; its bytes, or None (with a warning) when
        it cannot be stored: the step's output is still used, only not cached."""
        try:
            data = self._codec.dump(value)
        except UnstorableValue as error:
            logger.warning("step %s: output not cached: %s", step, error)
            return None
        self._store.add_cached_output(step, key, CachedOutput(trial_id, data))
        return data
