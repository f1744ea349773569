"""The local store's history fields: what a history table shows of each trial, kept beside it.

A history of 100,000 trials spends most of its time parsing every trial's JSON record. So the
database keeps a second table, ``history_fields``: for each trial (``row_id``, its row in
``trials``), the JSON text of each field a history shows (``trial_id``, ``parameters``,
``status``...), as the record holds it. SQLite triggers on ``trials`` write it, so a record
written by any program (an older xptrack, a copy made with the sqlite3 shell) is in it too,
and ``trials`` stays exactly the seed's layout. Reading a history is then gathering short texts
into one JSON array per field: no record is parsed, on either side.

A store made before this table existed gains it (filled from its records) when it is next
opened for writing; one opened read-only is read from its records as before. A record that is
not JSON has no fields (SQL NULL): its history then reads as a corrupt record, record by record,
as from the records themselves.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from xptrack.adapters.serialization import load_json
from xptrack.adapters.trial_columns_codec import HISTORY_FIELDS, VERBOSE_FIELDS

TABLE = "history_fields"
#: The fields kept, in their column order (``row_id`` first): those of a (verbose) history.
FIELDS = (*HISTORY_FIELDS, *VERBOSE_FIELDS)

_COLUMNS = ", ".join(FIELDS)
# The JSON text of each field of ``r`` (NULL for a record that is not JSON: `->` would fail the
# statement that writes it, and with it the write of the record).
_VALUES = ", ".join(f"CASE WHEN ok THEN r -> '$.{field}' END" for field in FIELDS)
_COPY = (
    f"DELETE FROM {TABLE} WHERE row_id = NEW.trial_id; "
    f"INSERT INTO {TABLE} (row_id, {_COLUMNS}) SELECT NEW.trial_id, {_VALUES} "
    "FROM (SELECT NEW.record AS r, json_valid(NEW.record) AS ok) WHERE r IS NOT NULL;"
)
_SCHEMA = (
    f"CREATE TABLE {TABLE} (row_id INTEGER PRIMARY KEY, {_COLUMNS})",
    f"CREATE TRIGGER {TABLE}_on_insert AFTER INSERT ON trials BEGIN {_COPY} END",
    f"CREATE TRIGGER {TABLE}_on_update AFTER UPDATE OF record ON trials BEGIN {_COPY} END",
    f"CREATE TRIGGER {TABLE}_on_delete AFTER DELETE ON trials BEGIN "
    f"DELETE FROM {TABLE} WHERE row_id = OLD.trial_id; END",
    f"INSERT INTO {TABLE} (row_id, {_COLUMNS}) SELECT trial_id, {_VALUES} "
    "FROM (SELECT trial_id, record AS r, json_valid(record) AS ok FROM trials) "
    "WHERE r IS NOT NULL",
)
_EXISTS = f"SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '{TABLE}'"

#: The one row a query selects (``LocalExperimentStore._json_row``).
JsonQuery = Callable[[str], Sequence[Any]]


def install(connection: sqlite3.Connection) -> None:
    """Give the database at ``connection`` (autocommit, writable) its history table, filled
    from the records it holds, unless it has one; every process opening it may race here."""
    if connection.execute(_EXISTS).fetchone()[0]:
        return
    connection.execute("BEGIN IMMEDIATE")
    try:
        if not connection.execute(_EXISTS).fetchone()[0]:
            for statement in _SCHEMA:
                connection.execute(statement)
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise


def stored_fields(json_query: JsonQuery, verbose: bool) -> tuple[dict[str, Any], dict[int, Any]]:
    """Field -> list of stored values (one per trial, in trial id order) of the fields a history
    shows (also :data:`VERBOSE_FIELDS` when ``verbose``), and trial id -> heartbeat (else
    start) of each running trial: what ``trial_columns_from_lists`` takes. From the history
    table when the database has one, else from the records."""
    fields = (*HISTORY_FIELDS, *(VERBOSE_FIELDS if verbose else ()))
    if not json_query(_EXISTS)[0]:
        return _from_records(json_query, fields)
    columns = _gathered(json_query, fields, "")
    if not _ascending(columns["trial_id"]):  # rows kept out of order: ask SQLite to sort
        columns = _gathered(json_query, fields, "ORDER BY row_id")
    running = "running" in columns["status"]
    if not running:
        return columns, {}
    return columns, _alive_times(
        json_query, f"AND trial_id IN (SELECT row_id FROM {TABLE} WHERE status = '\"running\"')"
    )


def _gathered(json_query: JsonQuery, fields: Sequence[str], order: str) -> dict[str, Any]:
    # Each field's texts joined into one JSON array text by SQLite, parsed by one call each.
    # A field that is not there is SQL NULL: JSON null in its place, which no field may be
    # where it matters (the trial id, status, parameters), so the codec refuses it.
    arrays = ", ".join(
        f"'[' || coalesce(group_concat(coalesce({field}, 'null'), ','), '') || ']'"
        for field in fields
    )
    source = f"(SELECT * FROM {TABLE} {order})" if order else TABLE
    texts = json_query(f"SELECT {arrays} FROM {source}")
    return {field: load_json(text) for field, text in zip(fields, texts, strict=True)}


def _ascending(values: list[Any]) -> bool:
    try:
        return values == sorted(set(values))
    except TypeError:  # not all numbers: the codec says what is wrong with them
        return True


def _from_records(
    json_query: JsonQuery, fields: Sequence[str]
) -> tuple[dict[str, Any], dict[int, Any]]:
    # SQLite's JSON functions pick, once per record, the fields a table shows (steps and
    # tracebacks stay behind), then gather each into a JSON array: one parse on each side.
    paths = ", ".join(f"'$.{field}'" for field in fields)
    gathered = ", ".join(f"'{f}', json_group_array(r -> {i})" for i, f in enumerate(fields))
    columns = load_json(
        json_query(
            f"SELECT json_object({gathered}) FROM (SELECT json_extract(record, {paths}) AS r "
            "FROM trials WHERE record IS NOT NULL ORDER BY trial_id)"
        )[0]
    )
    statuses = columns.get("status") if isinstance(columns, dict) else None
    running = isinstance(statuses, list) and "running" in statuses
    return columns, _alive_times(json_query, "") if running else {}


def _alive_times(json_query: JsonQuery, among: str) -> dict[int, Any]:
    """Trial id -> heartbeat (else start) of every running trial (``among``: a further
    condition on the rows, to spare SQLite parsing every record)."""
    text = json_query(
        "SELECT CAST(group_concat(json_array(trial_id, coalesce(json_extract(record, "
        "'$.heartbeat'), json_extract(record, '$.started'))), ',') AS BLOB) FROM trials "
        "WHERE record IS NOT NULL AND json_extract(record, '$.status') = 'running' " + among
    )[0]
    return dict(load_json(b"[" + (text or b"") + b"]"))
