"""Tables a user reads: the history of trials and metric series, as pandas DataFrames."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from xptrack.application.heartbeat import stale_after
from xptrack.domain.metric import MetricSeries
from xptrack.domain.trial import TrialRecord, TrialStatus, utcnow

RESULT_COLUMNS = ["Result", "Result Type", "Success", "Finished", "Process Time", "Description"]
VERBOSE_COLUMNS = ["Seed", "Started", "Status", "Tags", "Note"]
#: What ``Description`` reads for a trial that has no end (its status, as API.md spells it).
_UNFINISHED = {
    TrialStatus.RUNNING: "running",
    TrialStatus.INTERRUPTED: "interrupted",
}


def history_frame(
    records: Sequence[TrialRecord], parameter_names: Iterable[str], verbose: bool = False
) -> pd.DataFrame:
    """One row per trial (index ``Trial ID``): parameters, then the result columns."""
    names = list(dict.fromkeys([*parameter_names, *(n for r in records for n in r.parameters)]))
    # Built column by column: pandas makes a frame from lists per column several times
    # faster than from rows, and history is read often.
    columns: dict[str, Any] = {
        name: [record.parameters.get(name) for record in records] for name in names
    }
    columns["Result"] = [record.result for record in records]
    columns["Result Type"] = [record.result_type for record in records]
    columns["Success"] = pd.array([record.success for record in records], dtype=bool)
    columns["Finished"] = _timestamps([record.finished for record in records])
    seconds = [record.process_time for record in records]
    columns["Process Time"] = pd.to_timedelta(np.array(seconds, dtype="float64"), unit="s")
    now, stale = utcnow(), stale_after()  # one reading for every row
    statuses = [record.effective_status(now, stale) for record in records]
    columns["Description"] = [
        _UNFINISHED.get(status, record.description)
        for status, record in zip(statuses, records, strict=True)
    ]
    if verbose:
        columns["Seed"] = [record.seed for record in records]
        columns["Started"] = _timestamps([record.started for record in records])
        columns["Status"] = [status.value for status in statuses]
        columns["Tags"] = [list(record.tags) for record in records]
        columns["Note"] = [record.note for record in records]
    index = pd.Index([record.trial_id for record in records], name="Trial ID", dtype="int64")
    return _frame(columns, index)


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
    return pd.DatetimeIndex(pd.to_datetime(values, utc=True))


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
