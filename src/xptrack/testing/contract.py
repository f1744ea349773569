"""The contract every xptrack store must pass, as a pytest mixin bound by fixtures.

Bind it to a store in a test module (the class name must start with ``Test``)::

    class TestRedisStore(StoreContract):
        supports_processes = True        # default; False for a store living in one process

        @pytest.fixture
        def store_factory(self, redis_url) -> Callable[[], ExperimentStore]:
            # each call: a fresh, isolated, empty store (a new namespace)
            return lambda: RedisBackend(redis_url).open(f"contract-{uuid.uuid4().hex}")

        @pytest.fixture
        def store_backend(self, redis_url) -> Backend:   # optional: enables reopen/process tests
            return RedisBackend(redis_url)

``store_factory`` is asked for once per test and called once per generated example.
``store_backend`` (optional) is a picklable :class:`Backend` in which the contract opens
experiments under fresh ids of its own: to reopen them, to share one between
experiments with look-alike ids, and to open one from other processes.
"""

from __future__ import annotations

import contextlib
import pickle
import random
import uuid
from collections.abc import Iterator
from typing import ClassVar

import pytest

from xptrack.domain.errors import ConflictError
from xptrack.domain.metric import MetricSeries
from xptrack.ports.repositories import Backend, ExperimentStore
from xptrack.testing.checks import agree, assert_empty, assert_same_contents
from xptrack.testing.compare import assert_same_value
from xptrack.testing.concurrency import (
    INPUT_HASH,
    STEP,
    allocate_and_swap,
    check_atomic_swaps,
    check_unique_ids,
    run_in_processes,
    run_in_threads,
)
from xptrack.testing.machine import (
    DEFAULT_EXAMPLES,
    StoreFactory,
    contract_examples,
    contract_settings,
    run_reopening_store_machine,
    run_store_machine,
)
from xptrack.testing.model import ModelStore
from xptrack.testing.samples import FULL_ENVIRONMENT, NAN, fill, sample_trials
from xptrack.testing.step_cache import StepCacheContract
from xptrack.testing.texts import TextContract

LONG_SERIES_POINTS = 200_000
BIG_BLOB_SIZES = (5 * 2**20, 20 * 2**20)


def fresh_experiment_id() -> str:
    """An experiment id no other test uses."""
    return f"contract-{uuid.uuid4().hex[:16]}"


@contextlib.contextmanager
def opened(store_factory: StoreFactory) -> Iterator[ExperimentStore]:
    """A fresh store, closed afterwards."""
    store = store_factory()
    try:
        yield store
    finally:
        store.close()


def long_series(points: int, seed: int) -> MetricSeries:
    """``points`` points with every kind of value, epochs out of order at places."""
    rng = random.Random(seed)
    values = [
        rng.choice((NAN, float("inf"), -0.0)) if i % 997 == 0 else rng.gauss(0, 1e3)
        for i in range(points)
    ]
    epochs = [i if i % 101 else i // 2 for i in range(points)]
    return MetricSeries(epochs, values)


class StoreContract(StepCacheContract, TextContract):
    """Tests every store must pass; subclass as ``Test<YourStore>`` and bind the fixtures.

    Capability flags (class attributes):

    * ``supports_processes`` -- several OS processes can share one experiment (True
      unless the store lives in one process's memory). Needs ``store_backend``.
    * ``max_examples`` -- examples per state-machine run when ``XPTRACK_CONTRACT_EXAMPLES``
      is not set (lower it for slow network stores).
    """

    supports_processes: ClassVar[bool] = True
    max_examples: ClassVar[int] = DEFAULT_EXAMPLES

    # --- hooks -------------------------------------------------------------------------

    def backend_or_skip(self, request: pytest.FixtureRequest) -> Backend:
        """The binding's ``store_backend`` fixture; the test is skipped when it has none."""
        try:
            backend: Backend = request.getfixturevalue("store_backend")
        except pytest.FixtureLookupError:
            pytest.skip("the binding defines no store_backend fixture")
        return backend

    # --- the model, through random programs of calls -----------------------------------

    def test_store_agrees_with_model(self, store_factory: StoreFactory) -> None:
        run_store_machine(
            store_factory, settings=contract_settings(contract_examples(self.max_examples))
        )

    def test_reopened_store_agrees_with_model(self, request: pytest.FixtureRequest) -> None:
        backend = self.backend_or_skip(request)

        def experiment() -> StoreFactory:
            experiment_id = fresh_experiment_id()
            return lambda: backend.open(experiment_id)

        examples = max(1, contract_examples(self.max_examples) // 4)
        run_reopening_store_machine(experiment, settings=contract_settings(examples))

    # --- fixed cases ---------------------------------------------------------------------

    def test_new_store_is_empty(self, store_factory: StoreFactory) -> None:
        with opened(store_factory) as store:
            assert_empty(store, range(1, 4))
            assert store.next_trial_id() == 1, "the first trial of an experiment is not 1"

    def test_every_kind_of_value_comes_back_exactly(self, store_factory: StoreFactory) -> None:
        model = ModelStore()
        with opened(store_factory) as store:
            fill(store, model)
            fill(store, model)  # again, over what is there: replace semantics everywhere
            assert_same_contents(model, store)

    def test_long_series_in_one_batch(self, store_factory: StoreFactory) -> None:
        series = long_series(LONG_SERIES_POINTS, seed=1)
        with opened(store_factory) as store:
            trial_id = store.next_trial_id()
            store.append_metrics([(trial_id, "loss", series)])
            assert_same_value(series, store.load_metric(trial_id, "loss"), "load_metric")

    def test_long_series_in_many_batches(self, store_factory: StoreFactory) -> None:
        series = long_series(LONG_SERIES_POINTS, seed=2)
        size = 250
        with opened(store_factory) as store:
            trial_id = store.next_trial_id()
            for start in range(0, len(series), size):
                chunk = MetricSeries(
                    series.epochs[start : start + size], series.values[start : start + size]
                )
                store.append_metrics([(trial_id, "loss", chunk)])
            assert_same_value(series, store.load_metric(trial_id, "loss"), "load_metric")

    def test_batch_of_many_keys_and_trials(self, store_factory: StoreFactory) -> None:
        model = ModelStore()
        with opened(store_factory) as store:
            trial_ids = [agree(model, store, "next_trial_id") for _ in range(20)]
            batch = [
                (trial_id, f"metric.{key:03d}", long_series(1 + (trial_id * key) % 7, seed=key))
                for key in range(60)
                for trial_id in trial_ids
            ]
            for target in (model, store):
                target.append_metrics(batch)
            assert_same_contents(model, store)

    def test_large_persisted_blobs(self, store_factory: StoreFactory) -> None:
        rng = random.Random(3)
        model = ModelStore()
        with opened(store_factory) as store:
            trial_id = agree(model, store, "next_trial_id")
            for step, size in [
                ("big", BIG_BLOB_SIZES[0]),
                ("bigger", BIG_BLOB_SIZES[1]),
                ("big", 1),
            ]:
                data = rng.randbytes(size)
                for target in (model, store):
                    target.save_persisted(step, trial_id, data)
                agree(model, store, "load_persisted", step, trial_id)
            agree(model, store, "load_persisted", "bigger", trial_id)

    def test_deleted_trial_is_gone_and_its_id_never_reused(
        self, store_factory: StoreFactory
    ) -> None:
        model = ModelStore()
        with opened(store_factory) as store:
            fill(store, model)
            for trial_id in (3, 2, 2, 7):  # the last one allocated, again, never allocated
                for target in (model, store):
                    target.delete_trial(trial_id)
                assert_same_contents(model, store)
            assert agree(model, store, "next_trial_id") == 4, "a deleted trial's id came back"

    def test_trial_start_saves_record_code_and_environment(
        self, store_factory: StoreFactory
    ) -> None:
        model = ModelStore()
        with opened(store_factory) as store:
            records = sample_trials(agree(model, store, "next_trial_id"))
            for _ in records[1:]:
                agree(model, store, "next_trial_id")
            starts = [("code ü\r\n", FULL_ENVIRONMENT), ("", None), (None, None)]
            for record, (code, environment) in zip(records, starts, strict=False):
                for target in (model, store):
                    target.save_trial_start(record, code, environment)
            assert_same_contents(model, store)
            # Started again (a retried start): the same record, code and environment.
            for target in (model, store):
                target.save_trial_start(records[0], "code ü\r\n", FULL_ENVIRONMENT)
            assert_same_contents(model, store)

    def test_reserved_trial_ids_are_never_handed_out(self, store_factory: StoreFactory) -> None:
        model = ModelStore()
        with opened(store_factory) as store:
            agree(model, store, "next_trial_id")
            for at_least in (10, 5, 10, 11):
                for target in (model, store):
                    target.reserve_trial_ids(at_least)
                agree(model, store, "last_trial_id")
            assert agree(model, store, "next_trial_id") == 12

    # --- concurrency ---------------------------------------------------------------------

    def test_labels_survive_concurrent_saves_of_the_trial(
        self, store_factory: StoreFactory
    ) -> None:
        labellers, savers, rounds = 4, 2, 15
        with opened(store_factory) as store:
            trial_id = store.next_trial_id()
            (record,) = [r for r in sample_trials(trial_id - 2) if r.trial_id == trial_id]
            store.save_trial(record)

            def work(caller: int) -> None:
                for n in range(rounds):
                    if caller < labellers:
                        store.update_labels(trial_id, [f"t{caller}-{n}"], [f"t{caller}-{n - 1}"])
                    else:  # a runner renewing its heartbeat re-saves the whole record
                        store.save_trial(record)
                if caller == 0:
                    store.update_labels(trial_id, note="the last word")

            run_in_threads(work, labellers + savers)
            stored = store.get_trial(trial_id)
        expected = tuple(sorted(f"t{caller}-{rounds - 1}" for caller in range(labellers)))
        assert stored.tags == expected, (
            f"tags after concurrent update_labels() and save_trial(): {stored.tags}, expected "
            f"{expected} (a save_trial overwrote them, or an update was lost)"
        )
        assert stored.note == "the last word", f"note came back {stored.note!r}"

    def test_trial_ids_and_swaps_across_threads(self, store_factory: StoreFactory) -> None:
        with opened(store_factory) as store:
            logs = run_in_threads(lambda caller: allocate_and_swap(store, f"thread{caller}", 25), 8)
            check_unique_ids(logs, store.last_trial_id())
            check_atomic_swaps(logs, store.swap_step_hash(STEP, INPUT_HASH, "final"))

    def test_concurrent_metric_batches_lose_nothing(self, store_factory: StoreFactory) -> None:
        callers, batches, points = 6, 20, 5
        with opened(store_factory) as store:
            trial_id = store.next_trial_id()

            def append(caller: int) -> None:
                for batch in range(batches):
                    first = (caller * batches + batch) * points
                    epochs = list(range(first, first + points))
                    store.append_metrics(
                        [(trial_id, "loss", MetricSeries(epochs, [float(caller)] * points))]
                    )

            run_in_threads(append, callers)
            series = store.load_metric(trial_id, "loss")
        assert sorted(series.epochs) == list(range(callers * batches * points)), (
            "concurrent append_metrics() calls lost or duplicated points"
        )
        runs = [series.epochs[i : i + points] for i in range(0, len(series), points)]
        assert all(run == list(range(run[0], run[0] + points)) for run in runs), (
            "points of one append_metrics() batch were interleaved with another caller's"
        )
        for caller in range(callers):
            own = [e for e, v in zip(series.epochs, series.values, strict=True) if v == caller]
            assert own == sorted(own), f"caller {caller}'s batches are not in the order appended"

    def test_trial_ids_and_swaps_across_processes(self, request: pytest.FixtureRequest) -> None:
        if not self.supports_processes:
            pytest.skip("this store is not shared between processes (supports_processes = False)")
        try:
            backend: Backend = request.getfixturevalue("store_backend")
        except pytest.FixtureLookupError:
            pytest.fail(
                "supports_processes is True, so the binding must define a store_backend "
                "fixture (a picklable Backend the other processes open the store from); "
                "or set supports_processes = False"
            )
        experiment_id = fresh_experiment_id()
        logs = run_in_processes(backend, experiment_id, callers=3, count=20)
        with contextlib.closing(backend.open(experiment_id)) as store:
            check_unique_ids(logs, store.last_trial_id())
            check_atomic_swaps(logs, store.swap_step_hash(STEP, INPUT_HASH, "final"))

    # --- the whole experiment ------------------------------------------------------------

    def test_delete_experiment_empties_the_store(self, store_factory: StoreFactory) -> None:
        with opened(store_factory) as store:
            fill(store, ModelStore())
            store.delete_experiment()
            assert_empty(store, range(1, 5))
            model = ModelStore()
            fill(store, model)  # still usable, and numbering starts again at 1
            assert_same_contents(model, store)

    def test_delete_experiment_leaves_other_stores_alone(self, store_factory: StoreFactory) -> None:
        kept_model = ModelStore()
        with opened(store_factory) as deleted, opened(store_factory) as kept:
            fill(deleted, ModelStore())
            fill(kept, kept_model)
            deleted.delete_experiment()
            assert_same_contents(kept_model, kept)

    def test_experiments_sharing_a_backend_stay_apart(self, request: pytest.FixtureRequest) -> None:
        backend = self.backend_or_skip(request)
        base = fresh_experiment_id()
        # Look-alike ids: prefixes of one another, joined by each character a name allows.
        ids = [base, f"{base}_1", f"{base}-1", f"{base}.1", f"{base}1", f"{base}_1_x"]
        models = {experiment_id: ModelStore() for experiment_id in ids}
        for experiment_id in ids:
            try:
                opened = backend.open(experiment_id)
            except ConflictError:
                # A store may refuse an id it could not keep apart from another (the local
                # store's file names); it must never mix their data.
                del models[experiment_id]
                continue
            with contextlib.closing(opened) as store:
                fill(store, models[experiment_id])
                # "1_x" under base and "x" under base_1 name the same file in a naive layout.
                for target in (store, models[experiment_id]):
                    target.save_persisted(
                        "1_x" if experiment_id == base else "x", 1, experiment_id.encode()
                    )
        self.check_experiments(backend, models)
        with contextlib.closing(backend.open(base)) as store:
            store.delete_experiment()
            assert_empty(store, range(1, 5))
        del models[base]
        self.check_experiments(backend, models)

    def check_experiments(self, backend: Backend, models: dict[str, ModelStore]) -> None:
        for experiment_id, model in models.items():
            with contextlib.closing(backend.open(experiment_id)) as store:
                try:
                    assert_same_contents(model, store)
                except AssertionError as error:
                    raise AssertionError(f"experiment {experiment_id!r}: {error}") from None

    def test_backend_lists_and_deletes_experiments(self, request: pytest.FixtureRequest) -> None:
        backend = self.backend_or_skip(request)
        kept, deleted = fresh_experiment_id(), fresh_experiment_id()
        kept_model = ModelStore()
        for experiment_id, model in ((kept, kept_model), (deleted, ModelStore())):
            with contextlib.closing(backend.open(experiment_id)) as store:
                fill(store, model)
        listed = backend.list_experiments()
        assert {kept, deleted} <= set(listed), f"list_experiments() gave {listed}"
        assert listed == sorted(listed), f"list_experiments() is not sorted: {listed}"
        backend.delete_experiment(deleted)
        backend.delete_experiment(deleted)  # idempotent
        listed = backend.list_experiments()
        assert deleted not in listed, f"deleted {deleted!r} is still listed"
        assert kept in listed, f"{kept!r} is no longer listed after deleting another"
        self.check_experiments(backend, {kept: kept_model, deleted: ModelStore()})

    def test_pickled_backend_is_the_same_backend(self, request: pytest.FixtureRequest) -> None:
        backend = self.backend_or_skip(request)
        copy = pickle.loads(pickle.dumps(backend))
        assert copy == backend, f"an unpickled copy of {backend!r} is not equal to it"
        assert hash(copy) == hash(backend), f"an unpickled copy of {backend!r} hashes otherwise"
        assert len({backend, copy}) == 1, "a backend and its copy are two keys of one dict"

    def test_reopened_store_sees_the_same_data(self, request: pytest.FixtureRequest) -> None:
        backend = self.backend_or_skip(request)
        experiment_id, model = fresh_experiment_id(), ModelStore()
        with contextlib.closing(backend.open(experiment_id)) as store:
            fill(store, model)
        with contextlib.closing(backend.open(experiment_id)) as store:
            assert_same_contents(model, store)
            agree(model, store, "next_trial_id")  # numbering goes on where it stopped
