"""Use-cases: what a trial saved besides its record (metrics in short, persisted outputs), for
``xptrack show``, ``ex.export``, ``ex.rerun`` and the dashboard."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import attrs

from xptrack.domain.metric import MetricSeries
from xptrack.ports.repositories import ExperimentStore

#: Called as ``progress(done, total)`` while trials are read.
Progress = Callable[[int, int], None]


@attrs.frozen
class MetricSummary:
    """One metric of one trial: how many points, over which epochs, its last value and range."""

    key: str
    points: int
    first_epoch: int
    last_epoch: int
    last: float
    minimum: float
    maximum: float


def summarize(key: str, series: MetricSeries) -> MetricSummary:
    """The summary of ``series`` (NaN points count as points but not in the range)."""
    finite = [value for value in series.values if value == value]
    return MetricSummary(
        key,
        len(series),
        min(series.epochs),
        max(series.epochs),
        series.values[-1],
        min(finite) if finite else float("nan"),
        max(finite) if finite else float("nan"),
    )


def summarize_metrics(store: ExperimentStore, trial_id: int) -> list[MetricSummary]:
    """A summary of every metric trial ``trial_id`` saved, by key."""
    summaries = []
    for key in store.metric_keys(trial_id):
        series = store.load_metric(trial_id, key)
        if len(series):
            summaries.append(summarize(key, series))
    return summaries


def last_metric_values(
    store: ExperimentStore, trial_ids: Sequence[int], progress: Progress | None = None
) -> dict[int, dict[str, float]]:
    """Trial id -> metric key -> the last value saved (the last point appended)."""
    values: dict[int, dict[str, float]] = {}
    for done, trial_id in enumerate(trial_ids, start=1):
        values[trial_id] = {
            summary.key: summary.last for summary in summarize_metrics(store, trial_id)
        }
        if progress is not None:
            progress(done, len(trial_ids))
    return values


def persisted_steps(store: ExperimentStore, trial_id: int) -> list[str]:
    """The steps whose output trial ``trial_id`` persisted, sorted."""
    return store.list_persisted(trial_id)
