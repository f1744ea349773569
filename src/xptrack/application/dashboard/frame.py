"""The frame the trials table queries: the verbose history plus one column per metric."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from xptrack.application.dashboard.values import status_of
from xptrack.application.history import RESULT_COLUMNS, VERBOSE_COLUMNS, history_frame
from xptrack.domain.errors import InvalidArgument
from xptrack.domain.trial import TrialRecord

#: Sort and filter keys of the fixed columns -> the history column holding them.
FIXED_COLUMNS = {
    "status": "Status",
    "result": "Result",
    "result_type": "Result Type",
    "error": "Description",
    "seed": "Seed",
    "started": "Started",
    "finished": "Finished",
    "process_time": "Process Time",
    "tags": "Tags",
    "note": "Note",
}
_HISTORY_COLUMNS = {*RESULT_COLUMNS, *VERBOSE_COLUMNS, "Status", "Tags", "Note"}


def records_frame(records: Sequence[TrialRecord]) -> pd.DataFrame:
    """The verbose history of ``records`` with ``Status``, ``Tags`` and ``Note``."""
    frame = history_frame(records, (), verbose=True)
    frame["Status"] = [status_of(record) for record in records]
    frame["Tags"] = [", ".join(record.tags) for record in records]
    frame["Note"] = [record.note for record in records]
    return frame


def metrics_frame(values: Mapping[int, Mapping[str, Any]]) -> pd.DataFrame:
    """Last metric values: one row per trial id, one float column per metric key."""
    ids = list(values)
    frame = pd.DataFrame.from_records([dict(values[tid]) for tid in ids], index=ids)
    frame.index = pd.Index(ids, dtype="int64", name="Trial ID")
    return frame.astype("float64")


def trials_frame(records: pd.DataFrame, metrics: pd.DataFrame) -> pd.DataFrame:
    """What queries run on: the records frame joined with the metric columns.

    A metric column is named by its key, or ``metric:KEY`` when a parameter or history
    column already has that name; ``frame.attrs["metrics"]`` maps each key to its column
    and ``frame.attrs["parameters"]`` lists the parameter columns.
    """
    names = {
        str(key): str(key) if key not in records.columns else f"metric:{key}"
        for key in sorted(metrics.columns)
    }
    joined = records.join(metrics.rename(columns=names)) if names else records.copy()
    joined.attrs = {
        "metrics": names,
        "parameters": [c for c in records.columns if c not in _HISTORY_COLUMNS],
    }
    return joined


def column_of(frame: pd.DataFrame, key: str) -> str | None:
    """The frame column behind a sort or filter key (``id``, ``status``, ``parameters.lr``,
    ``metrics.loss``, ...); None for the trial id (the index)."""
    if key == "id":
        return None
    if key in FIXED_COLUMNS:
        return FIXED_COLUMNS[key]
    kind, _, name = key.partition(".")
    if kind == "parameters" and name in frame.attrs.get("parameters", ()):
        return name
    if kind == "metrics" and name in frame.attrs.get("metrics", {}):
        return str(frame.attrs["metrics"][name])
    if kind == "metrics" and name:
        return ""  # a metric no trial has (yet): every value missing
    if key in frame.columns:
        return key
    accepted = ["id", *FIXED_COLUMNS, "parameters.NAME", "metrics.KEY"]
    raise InvalidArgument(f"unknown trials column {key!r}; accepted: {', '.join(accepted)}")
