"""The frame the trials table queries: the verbose history plus one column per metric."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from xptrack.application.dashboard.values import status_of
from xptrack.application.history import history_frame
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


def trials_frame(
    records: Sequence[TrialRecord], metrics: Mapping[int, Mapping[str, Any]]
) -> pd.DataFrame:
    """The verbose history of ``records`` with ``Status``, ``Tags``, ``Note`` and metrics.

    A metric column is named by its key, or ``metric:KEY`` when a parameter or history
    column already has that name; ``frame.attrs["metrics"]`` maps each key to its column.
    """
    frame = history_frame(records, (), verbose=True)
    frame["Status"] = [status_of(record) for record in records]
    frame["Tags"] = [", ".join(record.tags) for record in records]
    frame["Note"] = [record.note for record in records]
    keys = sorted({key for values in metrics.values() for key in values})
    names: dict[str, str] = {}
    for key in keys:
        column = key if key not in frame.columns else f"metric:{key}"
        names[key] = column
        frame[column] = np.array(
            [_number(metrics.get(record.trial_id, {}).get(key)) for record in records],
            dtype="float64",
        )
    frame.attrs["metrics"] = names
    frame.attrs["parameters"] = list(
        dict.fromkeys(name for record in records for name in record.parameters)
    )
    return frame


def _number(value: Any) -> float:
    return float(value) if value is not None else float("nan")


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
