"""Several callers hitting one store at once: threads sharing it, processes opening it.

Each caller allocates trial ids and swaps one step hash; the contract then checks
that no id was handed out twice and that each swap saw a hash no other swap saw.
Processes are started with ``spawn`` (nothing inherited: each one opens the store
from the pickled :class:`~xptrack.ports.repositories.Backend`, as a dask worker does).
"""

from __future__ import annotations

import functools
import multiprocessing
import threading
import traceback
from collections import Counter
from collections.abc import Callable
from queue import Empty
from typing import Any, TypeVar

import attrs

from xptrack.ports.repositories import Backend, ExperimentStore

T = TypeVar("T")
_TIMEOUT_S = 120.0
#: The one step hash every caller swaps.
STEP, INPUT_HASH = "step", "0123abcd"


@attrs.frozen
class CallerLog:
    """What one caller did: the ids it got, the hashes it wrote and what each swap returned."""

    trial_ids: list[int]
    written: list[str]
    previous: list[str | None]


def allocate_and_swap(store: ExperimentStore, caller: str, count: int) -> CallerLog:
    """Allocate ``count`` trial ids, then swap the shared step hash ``count`` times."""
    trial_ids = [store.next_trial_id() for _ in range(count)]
    written = [f"{caller}-{i}" for i in range(count)]
    previous = [store.swap_step_hash(STEP, INPUT_HASH, output) for output in written]
    return CallerLog(trial_ids, written, previous)


def run_in_threads(work: Callable[[int], T], callers: int) -> list[T]:
    """``work(caller)`` in ``callers`` threads released together; their results, in caller order."""
    barrier = threading.Barrier(callers)
    results: dict[int, T] = {}
    failures: list[str] = []

    def run(caller: int) -> None:
        try:
            barrier.wait(_TIMEOUT_S)
            results[caller] = work(caller)
        except BaseException:
            failures.append(traceback.format_exc())

    threads = [threading.Thread(target=run, args=(caller,)) for caller in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(_TIMEOUT_S)
    assert not failures, "a thread failed:\n" + "\n".join(failures)
    assert len(results) == callers, f"only {len(results)} of {callers} threads finished"
    return [results[caller] for caller in range(callers)]


def _process_main(
    backend: Backend,
    experiment_id: str,
    work: Callable[[ExperimentStore, int], Any],
    caller: int,
    barrier: Any,
    queue: Any,
) -> None:
    try:
        store = backend.open(experiment_id)
        try:
            barrier.wait(_TIMEOUT_S)
            queue.put((caller, work(store, caller), None))
        finally:
            store.close()
    except BaseException:
        queue.put((caller, None, traceback.format_exc()))


def run_work_in_processes(
    backend: Backend,
    experiment_id: str,
    work: Callable[[ExperimentStore, int], T],
    callers: int,
) -> list[T]:
    """``work(store, caller)`` in ``callers`` spawned processes released together, each on the
    experiment opened from ``backend``; their results, in caller order. ``work`` must pickle
    (a module-level function, or a ``functools.partial`` of one)."""
    context = multiprocessing.get_context("spawn")
    barrier, queue = context.Barrier(callers), context.Queue()
    processes = [
        context.Process(
            target=_process_main, args=(backend, experiment_id, work, caller, barrier, queue)
        )
        for caller in range(callers)
    ]
    for process in processes:
        process.start()
    try:
        reports = [queue.get(timeout=_TIMEOUT_S) for _ in processes]
    except Empty:
        codes = [process.exitcode for process in processes]
        raise AssertionError(
            f"a process did not report within {_TIMEOUT_S:.0f} s; exit codes {codes}"
        ) from None
    finally:
        for process in processes:
            process.join(_TIMEOUT_S)
            if process.is_alive():
                process.kill()
    failures = [failure for _, _, failure in reports if failure is not None]
    assert not failures, "a process failed:\n" + "\n".join(failures)
    return [result for _, result, _ in sorted(reports, key=lambda report: report[0])]


def _allocate_and_swap_in_process(count: int, store: ExperimentStore, caller: int) -> CallerLog:
    return allocate_and_swap(store, f"process{caller}", count)


def run_in_processes(
    backend: Backend, experiment_id: str, callers: int, count: int
) -> list[CallerLog]:
    """:func:`allocate_and_swap` in ``callers`` spawned processes, each opening the experiment."""
    work = functools.partial(_allocate_and_swap_in_process, count)
    return run_work_in_processes(backend, experiment_id, work, callers)


def check_unique_ids(logs: list[CallerLog], last_trial_id: int) -> None:
    """Every id handed out once, increasing for each caller, the highest one reported last."""
    every_id = [trial_id for log in logs for trial_id in log.trial_ids]
    repeated = sorted(trial_id for trial_id, times in Counter(every_id).items() if times > 1)
    assert not repeated, f"next_trial_id() handed out {repeated} more than once"
    for caller, log in enumerate(logs):
        assert log.trial_ids == sorted(log.trial_ids), (
            f"caller {caller} got ids that do not increase: {log.trial_ids}"
        )
    assert last_trial_id == max(every_id), (
        f"last_trial_id() is {last_trial_id} after ids up to {max(every_id)} were handed out"
    )


def check_atomic_swaps(logs: list[CallerLog], final: str | None) -> None:
    """Each swap returned the hash stored just before it: each hash seen once, none lost."""
    written = sorted(output for log in logs for output in log.written)
    returned = [output for log in logs for output in log.previous]
    assert returned.count(None) == 1, (
        f"{returned.count(None)} swaps found no earlier hash; exactly the first should"
    )
    seen = sorted([output for output in returned if output is not None] + [final or "<none>"])
    assert seen == written, (
        "swap_step_hash() is not atomic: concurrent swaps returned a hash twice or lost one "
        f"(returned {len(returned)} hashes for {len(written)} swaps)"
    )
