"""The state machine: random sequences of store calls, each answer checked against the model.

Hypothesis draws a program of calls (allocate ids, save trials, start trials with
their code and environment, append metric batches, save persisted bytes, swap step
hashes, save code and environments,
delete the experiment, reopen the store) and runs it on one fresh store per
example and on a :class:`ModelStore`; every read is compared, NaN-aware and
type-exact. When a store disagrees, Hypothesis shrinks the program to a short one
and prints it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, cast

from hypothesis import settings as Settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from xptrack.domain.environment import EnvironmentSnapshot
from xptrack.domain.metric import MetricSeries
from xptrack.ports.repositories import ExperimentStore
from xptrack.testing import strategies as xst
from xptrack.testing.checks import agree, assert_same_contents
from xptrack.testing.model import ModelStore

#: Environment variable: examples (fresh stores) per state-machine run.
EXAMPLES_ENV = "XPTRACK_CONTRACT_EXAMPLES"
DEFAULT_EXAMPLES = 100
StoreFactory = Callable[[], ExperimentStore]

# Picks choose among the trials allocated so far (writes) or those plus unknown ones (reads).
PICKS = st.integers(min_value=0, max_value=2**16)
BATCHES = st.lists(st.tuples(PICKS, xst.names(), xst.metric_series()), max_size=8)
BLOBS = st.one_of(st.just(b""), st.binary(max_size=2048))
TAGS = st.lists(xst.tags(), max_size=3)
#: What a store keeps per trial, each read by trial id alone.
TRIAL_READS = (
    "get_trial",
    "metric_keys",
    "list_persisted",
    "load_code",
    "load_environment",
    "load_output",
)


def contract_examples(default: int = DEFAULT_EXAMPLES) -> int:
    """Examples per state-machine run: ``$XPTRACK_CONTRACT_EXAMPLES``, else ``default``."""
    text = os.environ.get(EXAMPLES_ENV, "").strip()
    if not text:
        return default
    try:
        examples = int(text)
    except ValueError:
        examples = 0
    if examples < 1:
        raise ValueError(f"{EXAMPLES_ENV} must be a positive int; got {text!r}")
    return examples


def contract_settings(max_examples: int | None = None, **overrides: Any) -> Settings:
    """Settings for a contract run, on top of the active Hypothesis profile.

    No deadline: stores do I/O, and a slow disk is not a broken store. No health
    check needs suppressing: the test asks pytest for ``store_factory`` once and the
    machine calls it once per example, so no function-scoped fixture meets ``@given``.
    """
    return Settings(
        Settings.default,
        max_examples=contract_examples() if max_examples is None else max_examples,
        deadline=None,
        **overrides,
    )


class StoreMachine(RuleBasedStateMachine):
    """One store and the model, driven by the same calls.

    ``reopen``, when given, opens the same experiment again; the machine then also
    closes and reopens the store at random points, and everything must survive.
    """

    def __init__(self, store: ExperimentStore, reopen: StoreFactory | None = None) -> None:
        super().__init__()
        self.store = store
        self.model = ModelStore()
        self.reopen_store = reopen

    def teardown(self) -> None:
        self.store.close()

    def agree(self, method: str, *args: Any) -> Any:
        return agree(self.model, self.store, method, *args)

    def both(self, method: str, *args: Any) -> None:
        """A write, done to the model and to the store."""
        getattr(self.model, method)(*args)
        getattr(self.store, method)(*args)

    def allocated(self, pick: int) -> int:
        """A trial id allocated so far."""
        return pick % self.model.last_id + 1

    def any_trial(self, pick: int) -> int:
        """An allocated trial id, or one of the next two ids (not allocated yet)."""
        return pick % (self.model.last_id + 2) + 1

    def has_trials(self) -> bool:
        return self.model.last_id > 0

    # --- trials ----------------------------------------------------------------------------

    @initialize(count=st.integers(0, 6))
    def start_with_trials(self, count: int) -> None:
        # Every write needs an allocated trial; without this, the examples where swarm
        # testing switched allocation off would only ever read an empty store.
        self.allocate_trial_ids(count)

    @rule(count=st.integers(1, 3))
    def allocate_trial_ids(self, count: int) -> None:
        for _ in range(count):
            self.agree("next_trial_id")

    @invariant()
    def last_trial_id_agrees(self) -> None:
        self.agree("last_trial_id")

    @precondition(has_trials)
    @rule(picks=st.lists(PICKS, min_size=1, max_size=4), records=st.data())
    def save_trials(self, picks: list[int], records: st.DataObject) -> None:
        for pick in picks:
            trial_id = self.allocated(pick)
            record = records.draw(xst.trial_records(trial_id), label=f"record of trial {trial_id}")
            self.both("save_trial", record)
            self.agree("get_trial", trial_id)

    @rule(pick=PICKS)
    def read_trial(self, pick: int) -> None:
        """Everything kept per trial, for an allocated trial or one not allocated yet."""
        trial_id = self.any_trial(pick)
        for method in TRIAL_READS:
            self.agree(method, trial_id)

    @rule()
    def list_trials(self) -> None:
        self.agree("list_trials")

    @rule(extra=st.integers(0, 3))
    def reserve_trial_ids(self, extra: int) -> None:
        self.both("reserve_trial_ids", self.model.last_id + extra)

    @precondition(has_trials)
    @rule(pick=PICKS, add=TAGS, remove=TAGS, note=st.none() | xst.texts())
    def update_labels(self, pick: int, add: list[str], remove: list[str], note: str | None) -> None:
        # Unsaved and unallocated trials too: both must answer NotFoundError.
        trial_id = self.any_trial(pick)
        self.agree("update_labels", trial_id, add, remove, note)
        self.agree("get_trial", trial_id)

    @precondition(has_trials)
    @rule(pick=PICKS)
    def delete_trial(self, pick: int) -> None:
        trial_id = self.any_trial(pick)
        self.both("delete_trial", trial_id)
        for method in TRIAL_READS:
            self.agree(method, trial_id)

    # --- metrics ---------------------------------------------------------------------------

    @precondition(has_trials)
    @rule(batch=BATCHES)
    def append_metrics(self, batch: Sequence[tuple[int, str, MetricSeries]]) -> None:
        batch = [(self.allocated(pick), key, series) for pick, key, series in batch]
        self.both("append_metrics", batch)
        for trial_id, key in sorted({(trial_id, key) for trial_id, key, _ in batch}):
            self.agree("load_metric", trial_id, key)
            self.agree("metric_keys", trial_id)

    @rule(pick=PICKS, key_pick=PICKS, key=xst.names())
    def load_metric(self, pick: int, key_pick: int, key: str) -> None:
        known = sorted(self.model.metrics)
        if known and key_pick % 3:
            self.agree("load_metric", *known[key_pick % len(known)])
        else:
            self.agree("load_metric", self.any_trial(pick), key)

    # --- persisted outputs, step hashes ----------------------------------------------------

    @precondition(has_trials)
    @rule(step=xst.names(), pick=PICKS, data=BLOBS)
    def save_persisted(self, step: str, pick: int, data: bytes) -> None:
        trial_id = self.allocated(pick)
        self.both("save_persisted", step, trial_id, data)
        self.agree("load_persisted", step, trial_id)

    @rule(step=xst.names(), pick=PICKS, known_pick=PICKS)
    def load_persisted(self, step: str, pick: int, known_pick: int) -> None:
        known = sorted(self.model.persisted)
        if known and known_pick % 3:
            self.agree("load_persisted", *known[known_pick % len(known)])
        else:
            self.agree("load_persisted", step, self.any_trial(pick))

    @rule(step=xst.names(), input_hash=xst.hashes(), output_hash=xst.hashes())
    def swap_step_hash(self, step: str, input_hash: str, output_hash: str) -> None:
        self.agree("swap_step_hash", step, input_hash, output_hash)

    # --- code and environment --------------------------------------------------------------

    @precondition(has_trials)
    @rule(pick=PICKS, text=xst.texts())
    def save_code(self, pick: int, text: str) -> None:
        trial_id = self.allocated(pick)
        self.both("save_code", trial_id, text)
        self.agree("load_code", trial_id)

    @precondition(has_trials)
    @rule(pick=PICKS, snapshot=xst.environment_snapshots())
    def save_environment(self, pick: int, snapshot: EnvironmentSnapshot) -> None:
        # A trial's environment is captured once; saving again stores the same (idempotence).
        trial_id = self.allocated(pick)
        self.both("save_environment", trial_id, self.model.environments.get(trial_id, snapshot))
        self.agree("load_environment", trial_id)

    @precondition(has_trials)
    @rule(
        pick=PICKS,
        records=st.data(),
        code=st.none() | xst.texts(),
        snapshot=st.none() | xst.environment_snapshots(),
    )
    def save_trial_start(
        self,
        pick: int,
        records: st.DataObject,
        code: str | None,
        snapshot: EnvironmentSnapshot | None,
    ) -> None:
        trial_id = self.allocated(pick)
        record = records.draw(xst.trial_records(trial_id), label=f"record of trial {trial_id}")
        if snapshot is not None:  # captured once, as in save_environment
            snapshot = self.model.environments.get(trial_id, snapshot)
        self.both("save_trial_start", record, code, snapshot)
        for method in TRIAL_READS:
            self.agree(method, trial_id)

    @precondition(has_trials)
    @rule(pick=PICKS, text=xst.texts())
    def save_output(self, pick: int, text: str) -> None:
        trial_id = self.allocated(pick)
        self.both("save_output", trial_id, text)
        self.agree("load_output", trial_id)

    # --- the whole experiment --------------------------------------------------------------

    @precondition(lambda self: self.model.last_id >= 3)  # rarely, so that stores grow first
    @rule()
    def delete_experiment(self) -> None:
        self.both("delete_experiment")

    @precondition(lambda self: self.reopen_store is not None)
    @rule()
    def reopen(self) -> None:
        assert self.reopen_store is not None
        self.store.close()
        self.store = self.reopen_store()

    @rule()
    def everything_agrees(self) -> None:
        assert_same_contents(self.model, self.store)


def run_store_machine(store_factory: StoreFactory, *, settings: Settings | None = None) -> None:
    """Run :class:`StoreMachine` on a fresh ``store_factory()`` store per example.

    Raises the first disagreement found (an AssertionError), shrunk and printed.
    """
    run_state_machine_as_test(
        _as_machine_type(lambda: StoreMachine(store_factory())),
        settings=settings or contract_settings(),
    )


def run_reopening_store_machine(
    experiment_factory: Callable[[], StoreFactory], *, settings: Settings | None = None
) -> None:
    """Like :func:`run_store_machine`, closing and reopening the store at random points.

    ``experiment_factory()`` gives, once per example, a callable that opens one new
    experiment, the same one each time it is called.
    """

    def machine() -> StoreMachine:
        open_experiment = experiment_factory()
        return StoreMachine(open_experiment(), reopen=open_experiment)

    run_state_machine_as_test(_as_machine_type(machine), settings=settings or contract_settings())


def _as_machine_type(factory: Callable[[], StoreMachine]) -> type[RuleBasedStateMachine]:
    # Hypothesis accepts any zero-argument callable returning a machine (its docstring says
    # so), but annotates the parameter as a machine class.
    return cast("type[RuleBasedStateMachine]", factory)
