"""Tables a user reads: the history of trials and metric series, as pandas DataFrames."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from xptrack.application.heartbeat import stale_after
from xptrack.domain.errors import CorruptRecord, InvalidArgument
from xptrack.domain.metric import MetricSeries
from xptrack.domain.trial import TrialRecord, TrialStatus, utcnow
from xptrack.domain.trial_columns import TrialColumns

RESULT_COLUMNS = ["Result", "Result Type", "Success", "Finished", "Process Time", "Description"]
VERBOSE_COLUMNS = ["Seed", "Started", "Status", "Tags", "Note"]
#: What ``Description`` reads for a trial that has no end (its status, as API.md spells it).
_UNFINISHED = {
    TrialStatus.RUNNING: "running",
    TrialStatus.INTERRUPTED: "interrupted",
}


def history_frame(
    trials: TrialColumns | Sequence[TrialRecord],
    parameter_names: Iterable[str],
    verbose: bool = False,
) -> pd.DataFrame:
    """One row per trial (index ``Trial ID``): parameters, then the result columns.

    ``trials`` is best given as columns (``store.trial_columns()``): stores that keep JSON make
    them without building a record per trial."""
    table = trials if isinstance(trials, TrialColumns) else TrialColumns.from_records(trials)
    names = list(dict.fromkeys([*parameter_names, *table.parameters]))
    missing = [None] * len(table)
    # Built column by column: pandas makes a frame from lists per column several times
    # faster than from rows, and history is read often.
    columns: dict[str, Any] = {name: table.parameters.get(name, missing) for name in names}
    columns["Result"] = table.results
    columns["Result Type"] = table.result_types
    columns["Success"] = np.array([s is TrialStatus.FINISHED for s in table.statuses], dtype=bool)
    columns["Finished"] = _timestamps(table.finished)
    seconds = np.array(table.process_times, dtype="float64")
    columns["Process Time"] = pd.to_timedelta(seconds, unit="s")
    statuses = table.effective_statuses(utcnow(), stale_after())  # one reading for every row
    columns["Description"] = _descriptions(statuses, table.descriptions)
    if verbose:
        if table.seeds is None or table.started is None:
            raise InvalidArgument("a verbose history needs trial columns read with verbose=True")
        columns["Seed"] = table.seeds
        columns["Started"] = _timestamps(table.started)
        columns["Status"] = [status.value for status in statuses]
        columns["Tags"] = [list(tags) for tags in table.tags]
        columns["Note"] = table.notes
    index = pd.Index(table.trial_ids, name="Trial ID", dtype="int64")
    return _frame(columns, index)


def _descriptions(statuses: list[TrialStatus], descriptions: list[str | None]) -> list[Any]:
    """Each trial's description, or what it is while it has no end (running, interrupted)."""
    if _UNFINISHED.keys().isdisjoint(statuses):  # most histories: every trial has ended
        return descriptions
    return [
        _UNFINISHED.get(status, description)
        for status, description in zip(statuses, descriptions, strict=True)
    ]


def _frame(columns: dict[str, Any], index: pd.Index) -> pd.DataFrame:
    try:
        return pd.DataFrame(columns, index=index, columns=list(columns))
    except UnicodeEncodeError:
        # A text with a lone surrogate (kept exactly by the store) has no Arrow string form:
        # such columns are built as plain Python objects instead of failing the whole table.
        plain = {
            name: pd.Series(values, index=index, dtype=object)
            if isinstance(values, list)
            else values
            for name, values in columns.items()
        }
        return pd.DataFrame(plain, index=index, columns=list(columns))


def _timestamps(values: list[Any]) -> pd.DatetimeIndex:
    if not any(isinstance(value, str) for value in values):
        return pd.DatetimeIndex(pd.to_datetime(values, utc=True))
    try:  # ISO 8601 texts, as JSON stores keep them
        return pd.DatetimeIndex(pd.to_datetime(values, utc=True, format="ISO8601"))
    except (TypeError, ValueError) as error:
        raise CorruptRecord(f"a stored trial time is not an ISO 8601 time: {error}") from error


def metric_frame(series_by_trial: dict[int, MetricSeries]) -> pd.DataFrame:
    """Index ``Epoch``, one column per trial id. A repeated epoch keeps its last value."""
    columns = {}
    for trial_id, series in series_by_trial.items():
        # dtype inferred: a metric of integers reads as int64, as in daskperiment.
        column = pd.Series(series.values, index=pd.Index(series.epochs, name="Epoch"))
        columns[trial_id] = column[~column.index.duplicated(keep="last")]
    frame = pd.concat(columns, axis=1).sort_index()
    frame.columns.name = "Trial ID"
    frame.index.name = "Epoch"
    return frame
