"""The mechanisms every networked store shares: this process's clients, and driver errors
translated with a quiet window after a timeout."""

from __future__ import annotations

import contextlib
import os
import pickle
import threading

import pytest

from xptrack.adapters.error_translation import ErrorTranslation, QuietWindow
from xptrack.adapters.process_local import PerProcess
from xptrack.errors import StoreError, StoreUnavailable


class Made:
    """Counts what a cache made."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, key: str) -> object:
        self.count += 1
        return object()


def in_child(run) -> str:
    """``run()``'s text, computed in a forked child process."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.write(write, str(run()).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        text = pipe.read()
    os.waitpid(pid, 0)
    return text


def test_one_value_per_key_made_on_first_use():
    cache, made = PerProcess[str, object](), Made()
    first = cache.get("a", made)
    assert cache.get("a", made) is first and cache.get("b", made) is not first
    assert made.count == 2


def test_threads_racing_for_a_key_make_it_once():
    cache, made, barrier = PerProcess[str, object](), Made(), threading.Barrier(8)
    got: list[object] = []

    def use() -> None:
        barrier.wait()
        got.append(cache.get("a", made))

    threads = [threading.Thread(target=use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert made.count == 1 and len({id(value) for value in got}) == 1


def test_a_forked_child_makes_its_own_and_the_parent_keeps_its():
    cache = PerProcess[str, object]()
    parent = cache.get("a", Made())
    assert in_child(lambda: cache.get("a", Made()) is parent) == "False"
    assert in_child(lambda: len(cache.drain())) == "0"  # never the parent's to close
    assert cache.get("a", Made()) is parent


def test_a_lock_held_at_fork_time_does_not_block_the_child():
    cache, held, release = PerProcess[str, object](), threading.Event(), threading.Event()

    def hold() -> None:
        with cache._lock:
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(10)
    try:
        assert (
            in_child(lambda: cache.get("a", lambda key: "made in the child")) == "made in the child"
        )
    finally:
        release.set()
        holder.join()


def test_a_pickled_cache_arrives_empty_and_drain_forgets():
    cache = PerProcess[str, object]()
    value = cache.get("a", Made())
    copy = pickle.loads(pickle.dumps(cache))
    assert copy.get("a", lambda key: "new") == "new"
    assert cache.drain() == [value] and cache.drain() == []
    assert cache.get("a", lambda key: "again") == "again"


# --- errors ---------------------------------------------------------------------------------


class DriverError(Exception):
    def __init__(self, message: str, timeout: bool = False) -> None:
        super().__init__(message)
        self.timeout = timeout


class Translation(ErrorTranslation):
    """A driver's errors as xptrack's, recording the budget each call ran with."""

    driver_errors = (DriverError,)

    def __init__(self) -> None:
        super().__init__(quiet_seconds=60)
        self.quick_calls = 0

    def quick_budget(self) -> contextlib.AbstractContextManager[None]:
        self.quick_calls += 1
        return contextlib.nullcontext()

    def is_timeout(self, error: BaseException) -> bool:
        return isinstance(error, DriverError) and error.timeout

    def translated(self, error: BaseException, action: str, quick: bool) -> StoreError:
        kind = StoreUnavailable if self.is_timeout(error) else StoreError
        return kind(f"{action}: {error}{' (quick)' if quick else ''}")


def call(translation: Translation, error: BaseException | None = None) -> None:
    with translation.translating("reading"):
        if error is not None:
            raise error


def test_driver_errors_come_out_as_xptracks_and_others_as_they_are():
    translation = Translation()
    with pytest.raises(StoreError, match=r"^reading: refused$") as caught:
        call(translation, DriverError("refused"))
    assert isinstance(caught.value.__cause__, DriverError)
    with pytest.raises(KeyError):
        call(translation, KeyError("not the driver's"))


def test_after_a_timeout_calls_get_the_quick_budget_until_one_is_answered():
    translation = Translation()
    call(translation)
    with pytest.raises(StoreUnavailable, match=r"silent$"):
        call(translation, DriverError("silent", timeout=True))
    assert translation.window.open
    with pytest.raises(StoreError, match=r"refused \(quick\)$"):
        call(translation, DriverError("refused"))  # not a timeout: the window stays open
    call(translation)
    assert not translation.window.open
    assert translation.quick_calls == 2


def test_a_pickled_window_starts_closed():
    window = QuietWindow(60)
    window.timed_out()
    assert window.open and not pickle.loads(pickle.dumps(window)).open
