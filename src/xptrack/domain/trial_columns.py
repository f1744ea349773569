"""Every trial of an experiment as columns: what a history table is made of.

A history of 100,000 trials built from one :class:`TrialRecord` per row spends most of its time
making those records; stores that keep trials as JSON hand the table its columns directly
(``ExperimentStore.trial_columns``), and every other store makes them from its records.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from xptrack.domain.errors import CorruptRecord
from xptrack.domain.trial import HEARTBEAT_STALE, TrialRecord, TrialStatus, utcnow

#: A stored status text -> the status it reads as ("succeeded": what FINISHED was called).
STATUS_TEXTS: Mapping[str, TrialStatus] = {
    **{status.value: status for status in TrialStatus},
    "succeeded": TrialStatus.FINISHED,
}

#: A time as stored: a datetime, or its ISO 8601 text (what JSON stores keep); None when unset.
Time = dt.datetime | str | None


@attrs.frozen
class TrialColumns:
    """One list per field, one element per trial, ordered by trial id.

    ``parameters`` maps each parameter name any trial has to its column (None where a trial
    has no such parameter). Times are datetimes or ISO 8601 texts. ``alive`` is a running
    trial's last sign of life (its heartbeat, else its start; None for the others). ``seeds``
    and ``started`` are None when they were not asked for (only the verbose history shows them).
    """

    trial_ids: list[int]
    parameters: dict[str, list[Any]]
    statuses: list[TrialStatus]
    finished: list[Time]
    alive: list[Time]
    process_times: list[float | None]
    results: list[Any]
    result_types: list[str | None]
    descriptions: list[str | None]
    tags: list[tuple[str, ...]]
    notes: list[str]
    seeds: list[int | None] | None = None
    started: list[Time] | None = None

    def __len__(self) -> int:
        return len(self.trial_ids)

    @classmethod
    def from_records(cls, records: Sequence[TrialRecord]) -> TrialColumns:
        """The columns of ``records`` (already in trial id order)."""
        names = dict.fromkeys(name for record in records for name in record.parameters)
        running = TrialStatus.RUNNING
        return cls(
            trial_ids=[r.trial_id for r in records],
            parameters={name: [r.parameters.get(name) for r in records] for name in names},
            seeds=[r.seed for r in records],
            statuses=[r.status for r in records],
            started=[r.started for r in records],
            finished=[r.finished for r in records],
            alive=[r.heartbeat or r.started if r.status is running else None for r in records],
            process_times=[r.process_time for r in records],
            results=[r.result for r in records],
            result_types=[r.result_type for r in records],
            descriptions=[r.description for r in records],
            tags=[r.tags for r in records],
            notes=[r.note for r in records],
        )

    def effective_statuses(
        self, now: dt.datetime | None = None, stale: dt.timedelta = HEARTBEAT_STALE
    ) -> list[TrialStatus]:
        """Each trial's status as a reader reports it (see ``TrialRecord.effective_status``):
        a running trial whose last sign of life is older than ``stale`` is interrupted."""
        now = now or utcnow()
        statuses = list(self.statuses)
        if TrialStatus.RUNNING not in statuses:  # most histories: nothing left to look at
            return statuses
        for index, status in enumerate(statuses):
            running = status is TrialStatus.RUNNING
            if running and now - as_datetime(self.alive[index]) > stale:
                statuses[index] = TrialStatus.INTERRUPTED
        return statuses


def as_datetime(value: Time) -> dt.datetime:
    """A stored time as a datetime; CorruptRecord for a missing or malformed one."""
    if isinstance(value, dt.datetime):
        return value
    try:
        return dt.datetime.fromisoformat(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as error:
        raise CorruptRecord(f"stored trial time {value!r} is not an ISO 8601 time") from error
