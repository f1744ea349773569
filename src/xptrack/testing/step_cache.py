"""The step cache's part of the store contract: entries written once, read whole.

:class:`StepCacheContract` is mixed into :class:`~xptrack.testing.StoreContract`, so every
binding runs it with the same ``store_factory`` / ``store_backend`` fixtures. Each writer
offers bytes that tell who wrote them (:func:`payload`), so a reader can tell a whole
entry of one writer from a mix, a truncation or another writer's bytes under its id.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import uuid
from collections.abc import Iterator
from typing import ClassVar

import pytest

from xptrack.domain.step_cache import CachedOutput, step_cache_key
from xptrack.ports.repositories import Backend, ExperimentStore
from xptrack.testing.concurrency import run_in_threads, run_work_in_processes
from xptrack.testing.machine import StoreFactory

#: Above MongoDB's 16 MB document limit and the stores' chunk sizes.
BIG_OUTPUT_BYTES = 20 * 2**20
STEP = "prep"
KEY = step_cache_key(STEP, "input", "code", 1)


def payload(writer: int, size: int = 4096) -> bytes:
    """Bytes only ``writer`` offers: its number repeated (every prefix and mix is detectable)."""
    unit = f"<{writer}>".encode()
    return (unit * (size // len(unit) + 1))[:size]


def check_entry(entry: CachedOutput | None, size: int, what: str) -> None:
    """``entry`` is None or one writer's whole payload under that writer's trial id."""
    if entry is None:
        return
    expected = payload(entry.trial_id, size)
    assert entry.data == expected, (
        f"{what}: the entry of trial {entry.trial_id} holds {len(entry.data)} bytes that are "
        "not that writer's whole output (partial, mixed, or another writer's)"
    )


@contextlib.contextmanager
def _opened(store_factory: StoreFactory) -> Iterator[ExperimentStore]:
    store = store_factory()
    try:
        yield store
    finally:
        store.close()


def _fresh_id() -> str:
    return f"contract-{uuid.uuid4().hex[:16]}"


def _offer_in_process(size: int, store: ExperimentStore, caller: int) -> bool:
    trial_id = caller + 1
    return store.add_cached_output(STEP, KEY, CachedOutput(trial_id, payload(trial_id, size)))


class StepCacheContract:
    """The step cache guarantees of :class:`~xptrack.ports.repositories.StepCacheRepository`."""

    supports_processes: ClassVar[bool]

    def _backend(self, request: pytest.FixtureRequest) -> Backend:
        try:
            backend: Backend = request.getfixturevalue("store_backend")
        except pytest.FixtureLookupError:
            pytest.skip("the binding defines no store_backend fixture")
        return backend

    def test_cached_output_is_kept_once_and_read_back_whole(
        self, store_factory: StoreFactory
    ) -> None:
        with _opened(store_factory) as store:
            assert store.load_cached_output(STEP, KEY) is None, "a new store has a cache entry"
            assert store.add_cached_output(STEP, KEY, CachedOutput(3, payload(3))) is True, (
                "add_cached_output() on an empty key did not say it stored the entry"
            )
            assert store.load_cached_output(STEP, KEY) == CachedOutput(3, payload(3))
            assert store.add_cached_output(STEP, KEY, CachedOutput(4, payload(4))) is False, (
                "add_cached_output() over an existing entry said it stored it"
            )
            assert store.load_cached_output(STEP, KEY) == CachedOutput(3, payload(3)), (
                "a second add_cached_output() replaced the first entry (first writer must win)"
            )

    def test_cached_outputs_are_apart_per_step_and_key(self, store_factory: StoreFactory) -> None:
        other_key = step_cache_key(STEP, "input", "code", 2)
        entries = {(STEP, KEY): 1, ("prep_2", KEY): 2, (STEP, other_key): 3, ("p.x-1", KEY): 4}
        with _opened(store_factory) as store:
            for (step, key), trial_id in entries.items():
                assert store.add_cached_output(step, key, CachedOutput(trial_id, payload(trial_id)))
            for (step, key), trial_id in entries.items():
                found = store.load_cached_output(step, key)
                assert found == CachedOutput(trial_id, payload(trial_id)), (
                    f"entry ({step!r}, {key[:8]}...) came back as {found!r}"
                )

    def test_deleting_a_trial_removes_the_cached_outputs_it_made(
        self, store_factory: StoreFactory
    ) -> None:
        big = payload(2, BIG_OUTPUT_BYTES)
        with _opened(store_factory) as store:
            trials = [store.next_trial_id() for _ in range(3)]
            store.add_cached_output(STEP, KEY, CachedOutput(trials[0], payload(trials[0])))
            store.add_cached_output("big", KEY, CachedOutput(trials[1], big))
            store.add_cached_output("kept", KEY, CachedOutput(trials[2], payload(trials[2])))
            # A loser's offer does not make the entry its own: deleting the loser keeps it.
            store.add_cached_output("kept", KEY, CachedOutput(trials[0], payload(trials[0])))
            store.delete_trial(trials[0])
            store.delete_trial(trials[1])
            assert store.load_cached_output(STEP, KEY) is None, "delete_trial kept its entry"
            assert store.load_cached_output("big", KEY) is None, "delete_trial kept its entry"
            assert store.load_cached_output("kept", KEY) == CachedOutput(
                trials[2], payload(trials[2])
            ), "delete_trial removed an entry another trial made"
            assert store.add_cached_output(STEP, KEY, CachedOutput(trials[2], payload(9))), (
                "after delete_trial, a new entry cannot be stored under the freed key"
            )
            assert store.load_cached_output(STEP, KEY) == CachedOutput(trials[2], payload(9))

    def test_empty_and_big_cached_outputs(self, store_factory: StoreFactory) -> None:
        big = payload(7, BIG_OUTPUT_BYTES)
        with _opened(store_factory) as store:
            store.add_cached_output("empty", KEY, CachedOutput(1, b""))
            store.add_cached_output("big", KEY, CachedOutput(7, big))
            assert store.load_cached_output("empty", KEY) == CachedOutput(1, b"")
            found = store.load_cached_output("big", KEY)
            assert found is not None and found.trial_id == 7 and found.data == big, (
                f"a {BIG_OUTPUT_BYTES} byte cached output did not come back whole"
            )

    def test_racing_cache_writers_keep_one_whole_entry(self, store_factory: StoreFactory) -> None:
        writers, size = 8, 300_000
        seen: list[CachedOutput | None] = []
        done = threading.Event()
        with _opened(store_factory) as store:

            def read_until_done() -> None:
                while not done.is_set():
                    seen.append(store.load_cached_output(STEP, KEY))

            reader = threading.Thread(target=read_until_done)
            reader.start()
            try:
                won = run_in_threads(
                    lambda caller: store.add_cached_output(
                        STEP, KEY, CachedOutput(caller + 1, payload(caller + 1, size))
                    ),
                    writers,
                )
            finally:
                done.set()
                reader.join()
            final = store.load_cached_output(STEP, KEY)
        assert won.count(True) == 1, f"{won.count(True)} of {writers} racing writers were kept"
        assert final is not None and won[final.trial_id - 1], "the entry kept is not the winner's"
        check_entry(final, size, "after the race")
        for entry in seen:
            check_entry(entry, size, "read during the race")
            assert entry is None or entry == final, "a reader saw an entry that was later replaced"

    def test_racing_cache_processes_keep_one_whole_entry(
        self, request: pytest.FixtureRequest
    ) -> None:
        if not self.supports_processes:
            pytest.skip("this store is not shared between processes (supports_processes = False)")
        backend = self._backend(request)
        experiment_id = _fresh_id()
        size = 100_000
        won = run_work_in_processes(
            backend, experiment_id, functools.partial(_offer_in_process, size), 3
        )
        with contextlib.closing(backend.open(experiment_id)) as store:
            final = store.load_cached_output(STEP, KEY)
            store.delete_experiment()
        assert won.count(True) == 1, f"{won.count(True)} of 3 racing processes were kept"
        assert final is not None and won[final.trial_id - 1], "the entry kept is not the winner's"
        check_entry(final, size, "after the race")

    def test_cache_of_reopened_and_deleted_experiments(
        self, request: pytest.FixtureRequest
    ) -> None:
        backend = self._backend(request)
        experiment_id = _fresh_id()
        neighbour = f"{experiment_id}1"  # a look-alike id: its prefix is the other's id
        for name, trial_id in ((experiment_id, 1), (neighbour, 2)):
            with contextlib.closing(backend.open(name)) as store:
                store.add_cached_output(STEP, KEY, CachedOutput(trial_id, payload(trial_id)))
        with contextlib.closing(backend.open(experiment_id)) as store:
            assert store.load_cached_output(STEP, KEY) == CachedOutput(1, payload(1)), (
                "a reopened store lost its cache entry, or sees another experiment's"
            )
            store.delete_experiment()
            assert store.load_cached_output(STEP, KEY) is None, "delete_experiment kept the cache"
        with contextlib.closing(backend.open(neighbour)) as store:
            assert store.load_cached_output(STEP, KEY) == CachedOutput(2, payload(2)), (
                "deleting an experiment removed another experiment's cache entry"
            )
            store.delete_experiment()
