"""Stored trial records read as the columns of a history table, without a record per trial.

The stores hand over what they keep (JSON documents, or the fields SQLite picked out of them);
this module checks every value is of the kind xptrack writes, as reading records would, and
decodes only the tagged values (most parameters and results are plain JSON already).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from xptrack.adapters.serialization import decode_value
from xptrack.domain.errors import CorruptRecord, SignatureError
from xptrack.domain.trial import TrialRecord, TrialStatus
from xptrack.domain.trial_columns import STATUS_TEXTS, TrialColumns

#: The fields of a stored trial a history table needs, and those only the verbose one shows.
HISTORY_FIELDS = (
    "trial_id",
    "parameters",
    "status",
    "finished",
    "process_time",
    "result",
    "result_type",
    "description",
)
VERBOSE_FIELDS = ("seed", "started")
_TEXT_OR_NONE = (str, type(None))
_KINDS: dict[str, tuple[type, ...]] = {
    "parameters": (dict,),
    "seed": (int, type(None)),
    "started": (str,),
    "finished": _TEXT_OR_NONE,
    "heartbeat": _TEXT_OR_NONE,
    "process_time": (float, int, type(None)),
    "result_type": _TEXT_OR_NONE,
    "description": _TEXT_OR_NONE,
}

#: Trial id -> (tags, note) of the labelled trials.
Labels = Mapping[int, tuple[tuple[str, ...], str]]


def columns_or_records(
    columns: Callable[[], TrialColumns], records: Callable[[], Sequence[TrialRecord]]
) -> TrialColumns:
    """``columns()``; when a stored trial is not xptrack's (CorruptRecord, SignatureError), the
    columns of ``records()`` instead, which reads each trial apart and shows an unreadable one
    as such (the other trials stay readable)."""
    try:
        return columns()
    except (CorruptRecord, SignatureError):
        return TrialColumns.from_records(records())


def trial_columns_from_documents(
    documents: Sequence[Any], labels: Labels | None = None, verbose: bool = False
) -> TrialColumns:
    """The columns of trial documents (``trial_to_document``'s form) without making a record
    of each. CorruptRecord when a document is not one xptrack wrote."""
    fields = (*HISTORY_FIELDS, *(VERBOSE_FIELDS if verbose else ()))
    try:
        ordered = sorted(documents, key=lambda document: _trial_id_of(document["trial_id"]))
        columns = {field: [document[field] for document in ordered] for field in fields}
        alive = {
            document["trial_id"]: document.get("heartbeat") or document.get("started")
            for document in ordered
            if document.get("status") == TrialStatus.RUNNING.value
        }
    except (KeyError, TypeError, AttributeError) as error:
        raise CorruptRecord(f"stored trial record is not in xptrack's format: {error}") from error
    return trial_columns_from_lists(columns, alive, labels)


def trial_columns_from_lists(
    columns: Mapping[str, Any], alive: Mapping[int, Any], labels: Labels | None = None
) -> TrialColumns:
    """The columns of stored trials, given as field -> list of stored values (one per trial, in
    trial id order; the fields of :data:`HISTORY_FIELDS`, maybe also :data:`VERBOSE_FIELDS`);
    ``alive``: trial id -> heartbeat (else start) of each running trial. CorruptRecord for
    values xptrack never writes."""
    if not isinstance(columns, dict) or not all(f in columns for f in HISTORY_FIELDS):
        raise CorruptRecord("stored trial records are not in xptrack's format: missing fields")
    ids = columns["trial_id"]
    if not all(isinstance(column, list) and len(column) == len(ids) for column in columns.values()):
        raise CorruptRecord("stored trial records are not in xptrack's format: ragged fields")
    for field, column in columns.items():
        kinds = _KINDS.get(field)
        if kinds is not None:
            _check(column, kinds, field)
    # Checks and lookups mapped over whole columns (in C), not written as loops: a history of
    # 100,000 trials is read in a fraction of a second.
    if not _kinds_of(ids) <= {int}:
        raise CorruptRecord("stored trial ids are not all ints")
    if not _kinds_of(columns["status"]) <= {str}:
        raise CorruptRecord("stored trial statuses are not all texts")
    statuses = list(map(STATUS_TEXTS.get, columns["status"]))
    if None in statuses:
        raise CorruptRecord(f"stored trial status is not one of {', '.join(STATUS_TEXTS)}")
    labelled = labels or {}
    running = TrialStatus.RUNNING
    return TrialColumns(
        trial_ids=ids,
        parameters=_parameter_columns(columns["parameters"]),
        statuses=statuses,  # type: ignore[arg-type]
        finished=columns["finished"],
        alive=[
            _alive(alive, trial_id) if status is running else None
            for trial_id, status in zip(ids, statuses, strict=True)
        ]
        if running in statuses
        else [None] * len(ids),
        process_times=columns["process_time"],
        results=_decoded(columns["result"]),
        result_types=columns["result_type"],
        descriptions=columns["description"],
        tags=[labelled[i][0] if i in labelled else () for i in ids]
        if labelled
        else [()] * len(ids),
        notes=[labelled[i][1] if i in labelled else "" for i in ids]
        if labelled
        else [""] * len(ids),
        seeds=columns.get("seed"),
        started=columns.get("started"),
    )


def _parameter_columns(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Parameter name -> its column (None where a trial has no such parameter), the names in
    the order trials first have them."""
    names = dict.fromkeys(itertools.chain.from_iterable(rows))
    return {name: _decoded([row.get(name) for row in rows]) for name in names}


def _alive(alive: Mapping[int, Any], trial_id: int) -> Any:
    value = alive.get(trial_id)
    if not isinstance(value, str):
        raise CorruptRecord(f"stored running trial {trial_id} has no start or heartbeat time")
    return value


def _trial_id_of(trial_id: Any) -> int:
    if type(trial_id) is not int:
        raise CorruptRecord(f"stored trial id {trial_id!r} is not an int")
    return int(trial_id)


def _kinds_of(column: list[Any]) -> set[type]:
    return set(map(type, column))


def _check(column: list[Any], kinds: tuple[type, ...], field: str) -> None:
    if not _kinds_of(column) <= set(kinds):
        wrong = next(value for value in column if type(value) not in kinds)
        raise CorruptRecord(f"stored trial {field} {wrong!r:.60} is not in xptrack's format")


def _decoded(column: list[Any]) -> list[Any]:
    """Encoded values decoded; plain JSON scalars (most of them) are already what they mean."""
    if _kinds_of(column).isdisjoint((dict, list)):
        return column
    return [decode_value(value) if type(value) in (dict, list) else value for value in column]
