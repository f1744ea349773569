"""Metric points on their way to the store: validated once, buffered, written in batches.

One mechanism for every caller: a step saving through ``ex.save_metric`` and a service
recording through :class:`~xptrack.application.trials.ActiveTrial` both add points to a
:class:`MetricBuffer`. A buffer writes its points when it holds ``FLUSH_EVERY_POINTS``,
when its owner flushes it (a step's end), and, while it is open, at least every
``FLUSH_EVERY_SECONDS`` from the process's ticker thread: a killed trial loses at most
its last seconds of points.
"""

from __future__ import annotations

import threading
from typing import Any

from xptrack.application.ticker import TICKER, Job
from xptrack.domain.metric import MetricSeries, check_epoch, check_metric_value
from xptrack.domain.names import validate_name
from xptrack.ports.repositories import MetricRepository

#: Points buffered before they are written without waiting for anything else.
FLUSH_EVERY_POINTS = 5_000
#: Longest time a point waits in an open buffer (the ticker flushes at this pace).
FLUSH_EVERY_SECONDS = 1.0


class MetricBuffer:
    """Points of one or several trials waiting to be written, safe to share between threads.

    Open it (``with buffer:``) to have it flushed periodically while it is in use; its
    owner flushes it one last time when done (and decides what a failure of that means).
    """

    def __init__(self, store: MetricRepository) -> None:
        self._store = store
        self._lock = threading.Lock()  # guards the pending points (held briefly)
        self._writing = threading.Lock()  # keeps batches in the order they were taken
        self._pending: dict[tuple[int, str], MetricSeries] = {}
        self._count = 0
        self._keys: set[str] = set()
        self._job: Job | None = None

    def add(self, trial_id: int, key: str, epoch: Any, value: Any) -> None:
        """Buffer one point, after checking it (the one rule: a valid name, an int epoch,
        a real value)."""
        if key not in self._keys:  # each key is validated once per buffer, not at every point
            self._keys.add(validate_name(key, "metric key"))
        if type(epoch) is not int:
            epoch = check_epoch(epoch)
        if type(value) is not float:
            value = check_metric_value(value)
        with self._lock:
            series = self._pending.get((trial_id, key))
            if series is None:
                series = self._pending[(trial_id, key)] = MetricSeries()
            series.epochs.append(epoch)
            series.values.append(value)
            self._count += 1
            full = self._count >= FLUSH_EVERY_POINTS
        if full:
            self.flush()

    def flush(self) -> None:
        """Write every pending point in one batch."""
        with self._writing:
            with self._lock:
                pending, self._pending, self._count = self._pending, {}, 0
            if not pending:
                return
            try:
                self._store.append_metrics(
                    [(trial_id, key, series) for (trial_id, key), series in pending.items()]
                )
            except BaseException:
                self._put_back(pending)  # the next flush tries them again, in order
                raise

    def _put_back(self, pending: dict[tuple[int, str], MetricSeries]) -> None:
        with self._lock:
            for key, series in self._pending.items():
                pending.setdefault(key, MetricSeries()).extend(series)
            self._pending = pending
            self._count = sum(len(series) for series in pending.values())

    def __enter__(self) -> MetricBuffer:
        self._job = TICKER.every(FLUSH_EVERY_SECONDS, self._flush_in_background)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._job is not None:
            self._job.cancel()
            self._job = None

    def _flush_in_background(self) -> None:
        if self._count:
            self.flush()
