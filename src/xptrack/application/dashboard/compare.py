"""What the compare view draws: metric series of chosen trials, and columns of many trials."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from xptrack.application.dashboard.frame import column_of
from xptrack.application.dashboard.query import PageQuery, filter_mask
from xptrack.application.dashboard.table import TrialTable
from xptrack.application.where import apply_where
from xptrack.domain.errors import InvalidArgument, NotFoundError
from xptrack.domain.names import validate_name
from xptrack.ports.repositories import ExperimentStore

MAX_SERIES = 200
MAX_POINTS_ROWS = 20_000


def parse_ids(text: str, name: str = "trials") -> list[int]:
    """``1,2,5`` as trial ids; InvalidArgument naming what was given otherwise."""
    try:
        ids = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise InvalidArgument(
            f"{name} must be trial ids separated by commas; got {text!r}"
        ) from None
    if not ids or len(ids) > MAX_SERIES:
        raise InvalidArgument(f"{name} must name 1 to {MAX_SERIES} trials; got {len(ids)}")
    return ids


def metric_series(store: ExperimentStore, key: str, trial_ids: Sequence[int]) -> dict[str, Any]:
    """Points of metric ``key`` per trial; trials without it are listed under ``missing``."""
    validate_name(key, "metric key")
    series, missing = [], []
    for trial_id in trial_ids:
        try:
            points = store.load_metric(trial_id, key)
        except NotFoundError:
            missing.append(trial_id)
            continue
        values = [v if math.isfinite(v) else None for v in map(float, points.values)]
        series.append({"trial": trial_id, "epochs": list(points.epochs), "values": values})
    return {"key": key, "series": series, "missing": missing}


def column_values(table: TrialTable, query: PageQuery, keys: Sequence[str]) -> dict[str, Any]:
    """Numeric values of columns ``keys`` over the trials ``query`` selects (for the
    parameter-vs-result scatter and the parallel coordinates); text values become None."""
    import pandas as pd

    table.refresh()
    frame = table.frame()
    if query.where:
        frame = apply_where(frame, query.where)
    for key, text in query.filters:
        frame = frame[filter_mask(frame, key, text)]
    total = len(frame)
    if total > MAX_POINTS_ROWS:  # evenly spaced rows: the shape stays, the page stays quick
        frame = frame.iloc[np.linspace(0, total - 1, MAX_POINTS_ROWS).astype(int)]
    columns: dict[str, list[float | None]] = {}
    for key in keys:
        name = column_of(frame, key)
        values = frame.index.to_series() if name is None else frame.get(name)
        if values is None or name == "":
            columns[key] = [None] * len(frame)
            continue
        numeric = pd.to_numeric(values, errors="coerce").astype("float64").to_numpy()
        columns[key] = [float(v) if math.isfinite(v) else None for v in numeric]
    return {
        "total": total,
        "shown": len(frame),
        "ids": [int(i) for i in frame.index],
        "columns": columns,
    }
