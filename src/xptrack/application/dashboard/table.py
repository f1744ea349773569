"""The trials of one experiment as a table kept in memory, paged, sorted and filtered.

Reading a long history is slow (100,000 records take seconds), so the table reads it
once and then refreshes cheaply: it asks the store for trials newer than the last one it
holds and re-reads only the trials it last saw running. Last metric values are read in a
background thread (finished trials' values do not change) and fill their columns as they
arrive; the rows of the page asked for are read at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from xptrack.application.dashboard.query import PageQuery, select_rows
from xptrack.application.dashboard.values import jsonable, status_of
from xptrack.domain.errors import NotFoundError
from xptrack.domain.trial import TrialRecord
from xptrack.ports.repositories import ExperimentStore

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)

#: A table refreshed less than this many seconds ago answers from memory.
REFRESH_INTERVAL = 1.0
_QUERY_CACHE_SIZE = 16


class TrialTable:
    """The trials of one experiment's store, as the trials page shows them."""

    def __init__(self, store: ExperimentStore) -> None:
        self._store = store
        self._lock = threading.RLock()
        self._records: dict[int, TrialRecord] = {}
        self._last_id = 0
        self._missing: set[int] = set()  # ids handed out whose record was not there yet
        self._metrics: dict[int, dict[str, Any]] = {}
        self._version = 0  # grows whenever a record or metric value changes
        self._frame: pd.DataFrame | None = None
        self._frame_version = -1
        self._refreshed = 0.0
        self._queries: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._loader: threading.Thread | None = None

    # --- keeping up with the store ---------------------------------------------------------

    def refresh(self, force: bool = False) -> None:
        """Catch up with the store: new trials, trials that were running, pending metrics."""
        with self._lock:
            if not force and time.monotonic() - self._refreshed < REFRESH_INTERVAL:
                return
            self._refreshed = time.monotonic()
            if not self._records and not self._missing:
                self._load_everything()
            else:
                self._load_changes()
            self._start_metric_loader()

    def _load_everything(self) -> None:
        records = self._store.list_trials()
        self._records = {record.trial_id: record for record in records}
        self._last_id = max(self._store.last_trial_id(), max(self._records, default=0))
        self._missing = set(range(1, self._last_id + 1)) - set(self._records)
        self._version += 1

    def _load_changes(self) -> None:
        last = self._store.last_trial_id()
        running = [tid for tid, r in self._records.items() if status_of(r) == "running"]
        candidates = sorted({*running, *self._missing, *range(self._last_id + 1, last + 1)})
        self._last_id = max(self._last_id, last)
        for trial_id in candidates:
            self._reread(trial_id)

    def _reread(self, trial_id: int) -> None:
        try:
            record = self._store.get_trial(trial_id)
        except NotFoundError:
            self._missing.add(trial_id)
            if self._records.pop(trial_id, None) is not None:
                self._version += 1
            return
        self._missing.discard(trial_id)
        if status_of(record) == "running":
            self._metrics.pop(trial_id, None)  # a running trial's last values move
        if _changed(self._records.get(trial_id), record):
            self._records[trial_id] = record
            self._version += 1

    def forget(self, trial_id: int) -> None:
        """Re-read ``trial_id`` at the next refresh (after the dashboard changed it)."""
        with self._lock:
            self._reread(trial_id)
            self._refreshed = 0.0

    # --- last metric values ----------------------------------------------------------------

    def _start_metric_loader(self) -> None:
        if self._loader is not None and self._loader.is_alive():
            return
        if len(self._metrics) >= len(self._records):
            return
        self._loader = threading.Thread(target=self._load_metrics, daemon=True)
        self._loader.start()

    def _load_metrics(self) -> None:
        with self._lock:
            pending = [tid for tid in self._records if tid not in self._metrics]
        for start in range(0, len(pending), 500):
            values = {tid: self._read_last_values(tid) for tid in pending[start : start + 500]}
            with self._lock:
                self._metrics.update(values)
                self._version += 1

    def _read_last_values(self, trial_id: int) -> dict[str, Any]:
        values: dict[str, Any] = {}
        try:
            for key in self._store.metric_keys(trial_id):
                series = self._store.load_metric(trial_id, key)
                if series.values:
                    values[key] = series.values[-1]
        except NotFoundError:
            pass
        return values

    def last_values(self, trial_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        """Last metric values of ``trial_ids``, read now for those not loaded yet."""
        with self._lock:
            absent = [tid for tid in trial_ids if tid not in self._metrics]
        found = {tid: self._read_last_values(tid) for tid in absent}
        with self._lock:
            for tid, values in found.items():
                self._metrics.setdefault(tid, values)
            return {tid: self._metrics.get(tid, {}) for tid in trial_ids}

    # --- reading ---------------------------------------------------------------------------

    def records(self) -> list[TrialRecord]:
        """Every trial held, by id."""
        with self._lock:
            return [self._records[tid] for tid in sorted(self._records)]

    def frame(self) -> pd.DataFrame:
        """The history frame with ``Status``, ``Tags``, ``Note`` and one column per metric."""
        from xptrack.application.dashboard.frame import trials_frame

        with self._lock:
            if self._frame is None or self._frame_version != self._version:
                self._frame = trials_frame(self.records(), self._metrics)
                self._frame_version = self._version
                self._queries.clear()
            return self._frame

    def page(self, query: PageQuery) -> dict[str, Any]:
        """One page of trials, as ``GET /api/experiments/{id}/trials`` answers."""
        self.refresh()
        frame = self.frame()
        with self._lock:
            key = (self._frame_version, query.where, query.filters, query.sort, query.order)
            ids = self._queries.get(key)
        if ids is None:
            ids = select_rows(frame, query)
            with self._lock:
                self._queries[key] = ids
                while len(self._queries) > _QUERY_CACHE_SIZE:
                    self._queries.popitem(last=False)
        page_ids = [int(tid) for tid in ids[query.offset : query.offset + query.limit]]
        rows = self.rows(page_ids)  # first: it reads the page's metrics the columns name
        return {
            "total": len(ids),
            "count": len(self._records),
            "metrics_pending": max(0, len(self._records) - len(self._metrics)),
            "columns": self.columns(),
            "trials": rows,
        }

    def columns(self) -> dict[str, list[str]]:
        """Parameter names and metric keys, in first-seen order."""
        with self._lock:
            records = list(self._records.values())
            metrics = list(self._metrics.values())
        parameters = dict.fromkeys(name for r in records for name in r.parameters)
        keys = dict.fromkeys(key for values in metrics for key in values)
        return {"parameters": list(parameters), "metrics": sorted(keys)}

    def rows(self, trial_ids: Sequence[int]) -> list[dict[str, Any]]:
        """The JSON of each trial in ``trial_ids``."""
        last = self.last_values(trial_ids)
        with self._lock:
            records = [self._records[tid] for tid in trial_ids if tid in self._records]
        return [trial_row(record, last.get(record.trial_id, {})) for record in records]

    def summary(self) -> dict[str, Any]:
        """Trial count, status counts and last activity (for the experiments page)."""
        self.refresh()
        records = self.records()
        statuses: dict[str, int] = {}
        last = None
        for record in records:
            status = status_of(record)
            statuses[status] = statuses.get(status, 0) + 1
            moment = record.finished or record.started
            last = moment if last is None or moment > last else last
        return {"trials": len(records), "statuses": statuses, "last_activity": jsonable(last)}


def _changed(before: TrialRecord | None, after: TrialRecord) -> bool:
    try:
        return bool(before != after)
    except Exception:  # values without a plain ``==`` (arrays): count as changed
        return True


def trial_row(record: TrialRecord, metrics: dict[str, Any]) -> dict[str, Any]:
    """One trial as the trials table shows it."""
    return {
        "id": record.trial_id,
        "status": status_of(record),
        "parameters": jsonable(record.parameters),
        "result": jsonable(record.result),
        "result_type": record.result_type,
        "error": record.description,
        "seed": record.seed,
        "started": jsonable(record.started),
        "finished": jsonable(record.finished),
        "process_time": record.process_time,
        "tags": list(record.tags),
        "note": record.note,
        "metrics": jsonable(metrics),
    }
