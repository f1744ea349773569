"""History read as columns: the same table as from records, on every store that makes columns."""

from __future__ import annotations

import datetime as dt
import itertools
import math
import sqlite3

import pandas as pd
import pytest

from xptrack.adapters.local import LocalBackend
from xptrack.adapters.memory import MemoryBackend
from xptrack.application.bootstrap import open_backend
from xptrack.application.history import history_frame
from xptrack.domain.trial import StepRecord, TrialRecord, utcnow
from xptrack.domain.trial_columns import TrialColumns

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
_namespaces = itertools.count()


def records() -> list[TrialRecord]:
    """Finished, failed, running (fresh and stale), odd parameter values, a missing one."""
    finished = TrialRecord(1, {"a": 1, "b": 0.5, "name": "ridge"}, T0, seed=7, heartbeat=T0)
    finished = finished.succeeded(
        2.5, T0 + dt.timedelta(seconds=1), 0.25, steps=(StepRecord("prep", T0, T0),)
    )
    failed = TrialRecord(2, {"a": (1, 2), "b": math.nan}, T0, seed=8).failed(
        ValueError("bad"), T0 + dt.timedelta(seconds=2), 0.5, traceback="Traceback ..."
    )
    stale = TrialRecord(3, {"a": 3}, T0, seed=9)
    fresh = TrialRecord(4, {"a": 4, "extra": {"k": [1, 2]}}, utcnow(), heartbeat=utcnow())
    tagged_result = TrialRecord(5, {}, T0).succeeded({"x": (1,)}, T0, 0.0)
    return [finished, failed, stale, fresh, tagged_result]


@pytest.fixture(params=["memory", "local", "redis", "mongo"])
def store(request, tmp_path):
    experiment_id = f"columns{next(_namespaces)}"
    if request.param == "memory":
        backend = MemoryBackend(experiment_id)
    elif request.param == "local":
        backend = LocalBackend(tmp_path)
    else:
        backend = open_backend(request.getfixturevalue(f"{request.param}_url"), experiment_id)
    store = backend.open(experiment_id)
    for record in records():
        assert store.next_trial_id() == record.trial_id
        store.save_trial(record)
    store.update_labels(2, add_tags=("odd", "check"), note="look again")
    yield store
    store.delete_experiment()
    store.close()


@pytest.mark.parametrize("verbose", [False, True])
def test_the_history_from_columns_is_the_history_from_records(store, verbose):
    from_records = history_frame(store.list_trials(), ["a"], verbose)
    from_columns = history_frame(store.trial_columns(verbose), ["a"], verbose)

    pd.testing.assert_frame_equal(from_columns, from_records)
    assert list(from_columns["Description"])[1:4] == ["ValueError: bad", "interrupted", "running"]
    assert from_columns.loc[2, "a"] == (1, 2) and math.isnan(from_columns.loc[2, "b"])
    assert from_columns.loc[4, "extra"] == {"k": [1, 2]}
    assert from_columns.loc[5, "Result"] == {"x": (1,)}
    if verbose:
        assert from_columns.loc[2, "Tags"] == ["check", "odd"]
        assert from_columns.loc[2, "Note"] == "look again"


def test_columns_hold_what_the_records_hold(store):
    columns = store.trial_columns(verbose=True)
    expected = TrialColumns.from_records(store.list_trials())

    assert columns.trial_ids == expected.trial_ids == [1, 2, 3, 4, 5]
    assert columns.statuses == expected.statuses
    assert columns.effective_statuses() == expected.effective_statuses()
    assert columns.seeds == expected.seeds
    assert columns.process_times == expected.process_times


def test_an_empty_store_gives_empty_columns(tmp_path):
    store = LocalBackend(tmp_path).open("empty")

    frame = history_frame(store.trial_columns(verbose=True), [], verbose=True)

    assert len(frame) == 0 and "Status" in frame.columns


def test_a_planted_record_that_is_not_json_reads_as_in_the_records(tmp_path):
    store = LocalBackend(tmp_path).open("planted")
    for _ in range(2):
        store.save_trial(TrialRecord(store.next_trial_id(), {"a": 1}, T0))
    with sqlite3.connect(store.db_path) as connection:
        connection.execute("UPDATE trials SET record = ? WHERE trial_id = 1", (b"\x80\x04pickle",))

    from_columns = history_frame(store.trial_columns(verbose=True), [], verbose=True)

    pd.testing.assert_frame_equal(
        from_columns, history_frame(store.list_trials(), [], verbose=True)
    )
    assert list(from_columns.index) == [1, 2]


def test_a_record_with_a_wrong_field_reads_as_in_the_records(tmp_path):
    store = LocalBackend(tmp_path).open("planted")
    store.save_trial(TrialRecord(store.next_trial_id(), {}, T0))
    with sqlite3.connect(store.db_path) as connection:
        connection.execute("UPDATE trials SET record = json_set(record, '$.status', 'weird')")

    columns = store.trial_columns()

    assert columns.statuses == TrialColumns.from_records(store.list_trials()).statuses
