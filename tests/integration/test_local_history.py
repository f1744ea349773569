"""The local store's history table (adapters/local_history.py): the history read from it is the
history read from the records, for stores made before it, read-only ones, and records written
by other programs."""

from __future__ import annotations

import base64
import itertools
import pickle
import sqlite3
import tempfile
from pathlib import Path

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from tests.integration.test_faults_local import read_only_copy, run_as_reader
from tests.integration.test_trial_columns import T0, records
from xptrack.adapters import local_history
from xptrack.adapters.local import LocalBackend
from xptrack.adapters.serialization import trial_to_json
from xptrack.application.history import history_frame
from xptrack.domain.trial import TrialRecord
from xptrack.testing.machine import contract_settings
from xptrack.testing.strategies import trial_records

_ids = itertools.count()

READER = """
import base64, pathlib, pickle, sys
import xptrack

ex = xptrack.Experiment(sys.argv[2], backend=pathlib.Path(sys.argv[1]), capture_environment=False)
print(base64.b64encode(pickle.dumps(ex.get_history(verbose=True))).decode())
"""


def filled(folder: Path, experiment_id: str, trials: list[TrialRecord]):
    store = LocalBackend(folder).open(experiment_id)
    for record in trials:
        assert store.next_trial_id() == record.trial_id
        store.save_trial(record)
    store.update_labels(2, add_tags=("odd",), note="look again")
    return store


def from_records(store) -> pd.DataFrame:
    return history_frame(store.list_trials(), [], verbose=True)


def from_columns(store) -> pd.DataFrame:
    return history_frame(store.trial_columns(verbose=True), [], verbose=True)


def made_old(db_path: Path) -> None:
    """The database as xptrack wrote it before the history table: the seed's tables only."""
    with sqlite3.connect(db_path) as connection:
        for event in ("insert", "update", "delete"):
            connection.execute(f"DROP TRIGGER {local_history.TABLE}_on_{event}")
        connection.execute(f"DROP TABLE {local_history.TABLE}")
    connection.close()


def has_table(db_path: Path) -> bool:
    with sqlite3.connect(db_path) as connection:
        rows = connection.execute(
            "SELECT count(*) FROM sqlite_master WHERE name = ?", (local_history.TABLE,)
        ).fetchone()
    connection.close()
    return bool(rows[0])


def test_a_store_made_before_the_table_gains_it_when_opened_and_reads_the_same(tmp_path):
    store = filled(tmp_path, "old", records())
    expected = from_records(store)
    store.close()
    made_old(store.db_path)

    reopened = LocalBackend(tmp_path).open("old")

    assert has_table(reopened.db_path)
    pd.testing.assert_frame_equal(from_columns(reopened), expected)
    reopened.save_trial(TrialRecord(reopened.next_trial_id(), {"a": 6}, T0).succeeded(1, T0, 0))
    history = from_columns(reopened)
    assert history.loc[6, "a"] == 6
    assert list(history["Success"]) == [True, False, False, False, True, True]
    assert list(history["Status"]) == [
        "finished",
        "failed",
        "interrupted",
        "running",
        "finished",
        "finished",
    ]
    pd.testing.assert_frame_equal(from_columns(reopened), from_records(reopened))


def test_a_read_only_store_made_before_the_table_reads_the_same_from_its_records(tmp_path):
    store = filled(tmp_path / "store", "old", records())
    expected = from_records(store)
    store.close()
    made_old(store.db_path)
    copy = read_only_copy(tmp_path / "store", "old", tmp_path / "copy")

    try:
        reader = run_as_reader(READER, str(copy), "old")
    finally:
        for path in [copy, *copy.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o200)  # so that tmp_path can be removed

    assert reader.returncode == 0, reader.stderr
    history = pickle.loads(base64.b64decode(reader.stdout.splitlines()[-1]))
    # Running trials read as interrupted once stale: compare what cannot change meanwhile.
    pd.testing.assert_frame_equal(history.drop(index=4), expected.drop(index=4))
    assert not has_table(copy / "old.db")


def test_records_written_by_another_program_are_in_the_history(tmp_path):
    store = filled(tmp_path, "other", records())
    added = TrialRecord(6, {"a": 6, "z": "new"}, T0).succeeded(0.5, T0, 0.1)
    with sqlite3.connect(store.db_path) as connection:  # e.g. an xptrack without the table
        connection.execute(
            "INSERT INTO trials (trial_id, record) VALUES (?, ?)", (6, trial_to_json(added))
        )
        connection.execute("DELETE FROM trials WHERE trial_id = 3")
        connection.execute(
            "UPDATE trials SET record = json_set(record, '$.description', 'edited') "
            "WHERE trial_id = 1"
        )
    connection.close()

    history = from_columns(store)

    assert list(history.index) == [1, 2, 4, 5, 6]
    assert history.loc[6, "z"] == "new" and history.loc[1, "Description"] == "edited"
    pd.testing.assert_frame_equal(history, from_records(store))


def test_the_table_is_what_the_records_hold_after_a_trial_is_deleted(tmp_path):
    store = filled(tmp_path, "deleted", records())

    store.delete_trial(2)

    assert list(from_columns(store).index) == [1, 3, 4, 5]
    with sqlite3.connect(store.db_path) as connection:
        kept = connection.execute(f"SELECT row_id FROM {local_history.TABLE}").fetchall()
    connection.close()
    assert kept == [(1,), (3,), (4,), (5,)]


@given(st.integers(1, 5).flatmap(lambda n: st.tuples(*map(trial_records, range(1, n + 1)))))
@contract_settings(max_examples=40)
def test_the_history_from_the_table_is_the_history_from_the_records(trials):
    with tempfile.TemporaryDirectory() as folder:
        store = LocalBackend(Path(folder)).open(f"h{next(_ids)}")
        for record in trials:
            assert store.next_trial_id() == record.trial_id
            store.save_trial(record)
        history, expected = outcome(from_columns, store), outcome(from_records, store)
        store.close()
        with sqlite3.connect(store.db_path) as connection:
            row = connection.execute
            table = local_history.stored_fields(lambda sql: row(sql).fetchone(), verbose=True)
        connection.close()
        made_old(store.db_path)
        with sqlite3.connect(store.db_path) as connection:
            row = connection.execute
            legacy = local_history.stored_fields(lambda sql: row(sql).fetchone(), verbose=True)
        connection.close()

    assert table == legacy
    if isinstance(expected, pd.DataFrame):
        pd.testing.assert_frame_equal(history, expected)
    else:  # a running trial started at a naive time (no offset): both refuse it alike
        assert type(history) is type(expected), (history, expected)


def outcome(read, store):
    """The history ``read`` makes of ``store``, or the error it raised."""
    try:
        return read(store)
    except Exception as error:  # compared with the other reading's
        return error
