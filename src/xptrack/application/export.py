"""Use-case: write an experiment's history to a file (``ex.export(path)``, ``xptrack export``).

The file holds the verbose history, one row per trial, with one more column per metric
holding its last value. The format follows the suffix: ``.csv``, ``.parquet`` (needs
``pyarrow``: ``pip install "xptrack[parquet]"``) or ``.jsonl`` (one JSON object a line).
Values with no plain form (lists, user objects) are written as JSON text or their repr;
nothing is unpickled.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xptrack.application.trial_summary import Progress, last_metric_values
from xptrack.domain.diffing import json_ready
from xptrack.domain.errors import InvalidArgument
from xptrack.ports.repositories import ExperimentStore

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)

FORMATS = (".csv", ".parquet", ".jsonl")
#: The prefix of a metric column whose key is already a column of the history.
METRIC_PREFIX = "metric:"


def export_history(
    history: pd.DataFrame,
    store: ExperimentStore,
    path: str | os.PathLike[str],
    progress: Progress | None = None,
) -> Path:
    """Write ``history`` (``get_history(verbose=True)``) with the last value of each metric
    to ``path``, in the format its suffix names; returns the path written."""
    target = Path(path)
    writer = _WRITERS.get(target.suffix.lower())
    if writer is None:
        raise InvalidArgument(
            f"cannot export to {str(target)!r}: unknown suffix {target.suffix!r}; "
            f"accepted: {', '.join(FORMATS)}"
        )
    frame = with_metric_columns(history, store, progress)
    writer(plain_frame(frame), target)
    logger.info("Exported %d trials to %s", len(frame), target)
    return target


def with_metric_columns(
    history: pd.DataFrame, store: ExperimentStore, progress: Progress | None = None
) -> pd.DataFrame:
    """``history`` with one column per metric key: its last value in each trial (NaN when
    the trial saved none)."""
    values = last_metric_values(store, [int(t) for t in history.index], progress)
    keys = sorted({key for per_trial in values.values() for key in per_trial})
    frame = history.copy()
    for key in keys:
        column = key if key not in frame.columns else METRIC_PREFIX + key
        frame[column] = [values[int(t)].get(key, float("nan")) for t in frame.index]
    return frame


def plain_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` for a file: seconds for durations, text for values that are not plain
    scalars (JSON for lists and dicts, the repr of anything else)."""
    frame = frame.copy()
    for name in frame.columns:
        column = frame[name]
        if column.dtype.kind == "m":
            frame[name] = column.dt.total_seconds()
        elif column.dtype == object and not _scalars(column):
            frame[name] = [_as_text(value) for value in column]
    return frame


def _scalars(column: Any) -> bool:
    """True when every value is None or one kind of plain scalar (parquet can type it)."""
    kinds = {type(value) for value in column if value is not None}
    return len(kinds) <= 1 and kinds <= {str, int, float, bool}


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(json_ready(value))


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path)


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    if importlib.util.find_spec("pyarrow") is None:
        raise InvalidArgument(
            'exporting to .parquet needs pyarrow: pip install "xptrack[parquet]" '
            "(or export to .csv or .jsonl)"
        )
    frame.to_parquet(path)


def _write_jsonl(frame: pd.DataFrame, path: Path) -> None:
    with path.open("w", encoding="utf-8") as out:
        for trial_id, row in zip(frame.index, frame.to_dict("records"), strict=True):
            record = {str(frame.index.name or "Trial ID"): int(trial_id)}
            record.update({str(k): json_cell(v) for k, v in row.items()})
            out.write(json.dumps(record) + "\n")


def json_cell(value: Any) -> Any:
    """A history cell as JSON data (timestamps in ISO 8601, missing values null)."""
    import pandas as pd

    if value is None or (not isinstance(value, (list, dict, tuple)) and pd.isna(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, pd.Timedelta):
        return value.total_seconds()
    if hasattr(value, "item") and not isinstance(value, (list, dict, tuple)):
        value = value.item()  # numpy scalars
    return json_ready(value)


_WRITERS: dict[str, Callable[[pd.DataFrame, Path], None]] = {
    ".csv": _write_csv,
    ".parquet": _write_parquet,
    ".jsonl": _write_jsonl,
}
