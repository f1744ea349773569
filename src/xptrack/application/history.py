"""Tables a user reads: the history of trials and metric series, as pandas DataFrames."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from xptrack.domain.metric import MetricSeries
from xptrack.domain.trial import TrialRecord, TrialStatus

RESULT_COLUMNS = ["Result", "Result Type", "Success", "Finished", "Process Time", "Description"]
VERBOSE_COLUMNS = ["Seed", "Started"]
_UNFINISHED = "not finished: still running, or interrupted (killed) before it ended"


def history_frame(
    records: Sequence[TrialRecord], parameter_names: Iterable[str], verbose: bool = False
) -> pd.DataFrame:
    """One row per trial (index ``Trial ID``): parameters, then the result columns."""
    names = list(dict.fromkeys([*parameter_names, *(n for r in records for n in r.parameters)]))
    columns = [*names, *RESULT_COLUMNS, *(VERBOSE_COLUMNS if verbose else [])]
    rows = [_row(record, names, verbose) for record in records]
    index = pd.Index([record.trial_id for record in records], name="Trial ID", dtype="int64")
    frame = pd.DataFrame(rows, index=index, columns=columns)
    frame["Process Time"] = pd.to_timedelta(frame["Process Time"], unit="s")
    for column in ("Finished", *(["Started"] if verbose else [])):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def _row(record: TrialRecord, names: list[str], verbose: bool) -> list[Any]:
    parameters = record.parameters
    description = record.description
    if record.status is TrialStatus.RUNNING:
        description = _UNFINISHED
    row = [parameters.get(name) for name in names]
    row += [
        record.result,
        record.result_type,
        record.success,
        record.finished,
        record.process_time,
        description,
    ]
    if verbose:
        row += [record.seed, record.started]
    return row


def metric_frame(series_by_trial: dict[int, MetricSeries]) -> pd.DataFrame:
    """Index ``Epoch``, one column per trial id. A repeated epoch keeps its last value."""
    columns = {}
    for trial_id, series in series_by_trial.items():
        column = pd.Series(
            series.values, index=pd.Index(series.epochs, name="Epoch"), dtype="float64"
        )
        columns[trial_id] = column[~column.index.duplicated(keep="last")]
    frame = pd.concat(columns, axis=1).sort_index()
    frame.columns.name = "Trial ID"
    frame.index.name = "Epoch"
    return frame
