"""The trials of one experiment as a table kept in memory, paged, sorted and filtered.

Reading a long history is slow (100,000 local records take seconds), so the table reads
it once, in the background, and then refreshes cheaply: it asks the store for trials
newer than the last one it holds and re-reads only the trials it last saw running,
replacing just their rows. Until the first read is done, the newest trials are read one
by one, so the first page shows at once. Last metric values are read in a background
thread (finished trials' values do not change) and fill their columns as they arrive;
the rows of the page asked for are read at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from xptrack.application.dashboard.frame import metrics_frame, records_frame, trials_frame
from xptrack.application.dashboard.frames import RowFrame
from xptrack.application.dashboard.query import PageQuery, select_rows
from xptrack.application.dashboard.values import jsonable, status_of, trial_summary
from xptrack.domain.errors import CorruptRecord, NotFoundError
from xptrack.domain.trial import TrialRecord
from xptrack.ports.repositories import ExperimentStore

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)

#: A table refreshed less than this many seconds ago answers from memory.
REFRESH_INTERVAL = 1.0
_QUERY_CACHE_SIZE = 16
_METRIC_CHUNK = 2000
_PUBLISH_INTERVAL = 5.0
_FIRST_READ_TIMEOUT = 600.0
#: How long a request waits for the first read before answering what it can without it.
_FIRST_READ_PATIENCE = 0.5


class TrialTable:
    """The trials of one experiment's store, as the trials page shows them."""

    def __init__(self, store: ExperimentStore) -> None:
        self._store = store
        self._lock = threading.RLock()
        self._loaded = threading.Event()
        self._first_read: threading.Thread | None = None
        self._records: dict[int, TrialRecord] = {}
        self._last_id = 0
        self._missing: set[int] = set()  # ids handed out whose record was not there yet
        self._running: set[int] = set()  # trials last seen running: re-read at each refresh
        self._summary: tuple[int, dict[str, Any]] | None = None
        self._rows: RowFrame | None = None
        self._metrics: dict[int, dict[str, Any]] = {}
        self._metric_rows: RowFrame | None = None
        self._joined: tuple[tuple[int, int], pd.DataFrame] | None = None
        self._refreshed = 0.0
        self._queries: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._loader: threading.Thread | None = None

    # --- keeping up with the store ---------------------------------------------------------

    def refresh(self, force: bool = False) -> None:
        """Catch up with the store: new trials, trials that were running, pending metrics."""
        if not self._loaded.is_set():
            self._start_first_read()
            self._loaded.wait(_FIRST_READ_PATIENCE)  # a small store is read by then
            return
        with self._lock:
            if not force and time.monotonic() - self._refreshed < REFRESH_INTERVAL:
                return
            self._refreshed = time.monotonic()
            self._load_changes()
        self._start_metric_loader()

    def _start_first_read(self) -> None:
        with self._lock:
            if self._first_read is None:
                self._first_read = threading.Thread(target=self._read_everything, daemon=True)
                self._first_read.start()

    def _read_everything(self) -> None:
        try:
            last = self._store.last_trial_id()
            records = self._store.list_trials()
            frame = records_frame(records)
        except Exception:
            logger.exception("Dashboard could not read the trials")
            with self._lock:
                self._first_read = None  # the next request tries again
            return
        with self._lock:
            self._records = {record.trial_id: record for record in records}
            self._last_id = max(last, max(self._records, default=0))
            self._missing = set(range(1, self._last_id + 1)) - set(self._records)
            self._running = {r.trial_id for r in records if status_of(r) == "running"}
            self._rows = RowFrame(frame)
            self._refreshed = time.monotonic()
        self._loaded.set()
        self._start_metric_loader()

    def wait_loaded(self, timeout: float = _FIRST_READ_TIMEOUT) -> None:
        """Block until the first read of every record is done."""
        self._start_first_read()
        self._loaded.wait(timeout)

    def _load_changes(self) -> None:
        last = self._store.last_trial_id()
        candidates = sorted({*self._running, *self._missing, *range(self._last_id + 1, last + 1)})
        self._last_id = max(self._last_id, last)
        changed, gone = [], []
        for trial_id in candidates:
            record = self._reread(trial_id)
            if record is None:
                gone.append(trial_id)
            elif _changed(self._records.get(trial_id), record):
                self._records[trial_id] = record
                changed.append(record)
        self._apply(changed, gone)

    def _reread(self, trial_id: int) -> TrialRecord | None:
        try:
            record = self._store.get_trial(trial_id)
        except NotFoundError:
            self._missing.add(trial_id)
            return None
        except CorruptRecord as error:  # shown by the next full read; never breaks the page
            logger.warning("Dashboard skips unreadable trial %s: %s", trial_id, error)
            self._missing.add(trial_id)
            return None
        self._missing.discard(trial_id)
        if status_of(record) == "running":
            self._running.add(trial_id)
            self._metrics.pop(trial_id, None)  # a running trial's last values move
        else:
            self._running.discard(trial_id)
        return record

    def _apply(self, changed: list[TrialRecord], gone: list[int]) -> None:
        if self._rows is None:
            return
        for trial_id in gone:
            self._records.pop(trial_id, None)
            self._running.discard(trial_id)
        self._rows.drop(gone)
        self._rows.upsert(records_frame(sorted(changed, key=lambda r: r.trial_id)))

    def forget(self, trial_id: int) -> None:
        """Re-read ``trial_id`` now (after the dashboard changed it)."""
        with self._lock:
            record = self._reread(trial_id)
            if record is None:
                self._apply([], [trial_id])
            else:
                self._records[trial_id] = record
                self._apply([record], [])

    # --- last metric values ----------------------------------------------------------------

    def _start_metric_loader(self) -> None:
        with self._lock:
            if self._loader is not None and self._loader.is_alive():
                return
            if len(self._metrics) >= len(self._records):
                return
            self._loader = threading.Thread(target=self._load_metrics, daemon=True)
            self._loader.start()

    def _load_metrics(self) -> None:
        with self._lock:
            pending = [tid for tid in sorted(self._records) if tid not in self._metrics]
        unpublished: dict[int, dict[str, Any]] = {}
        published = time.monotonic()
        for start in range(0, len(pending), _METRIC_CHUNK):
            chunk = pending[start : start + _METRIC_CHUNK]
            values = {tid: self._read_last_values(tid) for tid in chunk}
            unpublished.update(values)
            with self._lock:
                self._metrics.update(values)
                # New metric columns mean a new frame and fresh queries: every few seconds
                # while a long history loads, not at every chunk.
                last_chunk = start + _METRIC_CHUNK >= len(pending)
                if last_chunk or time.monotonic() - published > _PUBLISH_INTERVAL:
                    self._store_metric_rows(unpublished)
                    unpublished, published = {}, time.monotonic()

    def _store_metric_rows(self, values: dict[int, dict[str, Any]]) -> None:
        rows = metrics_frame(values)
        if self._metric_rows is None:
            self._metric_rows = RowFrame(rows)
        else:
            self._metric_rows.upsert(rows)

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
        """Every trial held, by id (all of them once the first read is done)."""
        self.wait_loaded()
        with self._lock:
            return [self._records[tid] for tid in sorted(self._records)]

    def frame(self) -> pd.DataFrame:
        """The trials frame: verbose history, ``Status``, ``Tags``, ``Note``, metrics."""
        import pandas as pd

        self.wait_loaded()
        with self._lock:
            assert self._rows is not None
            metric_version = self._metric_rows.version if self._metric_rows else -1
            versions = (self._rows.version, metric_version)
            if self._joined is None or self._joined[0] != versions:
                metrics = self._metric_rows.frame if self._metric_rows else pd.DataFrame()
                self._joined = (versions, trials_frame(self._rows.frame, metrics))
                self._queries.clear()
            return self._joined[1]

    def page(self, query: PageQuery) -> dict[str, Any]:
        """One page of trials, as ``GET /api/experiments/{id}/trials`` answers."""
        self.refresh()
        if not self._loaded.is_set() and query.plain:
            return self._newest_page(query)
        frame = self.frame()
        with self._lock:
            key = (self._joined[0] if self._joined else None, query.selection)
            ids = self._queries.get(key)
        if ids is None:
            ids = select_rows(frame, query)
            with self._lock:
                self._queries[key] = ids
                while len(self._queries) > _QUERY_CACHE_SIZE:
                    self._queries.popitem(last=False)
        page_ids = [int(tid) for tid in ids[query.offset : query.offset + query.limit]]
        return self._answer(len(ids), len(self._records), self.rows(page_ids))

    def _newest_page(self, query: PageQuery) -> dict[str, Any]:
        """The page of a plain listing by id, read record by record (during the first read)."""
        last = self._store.last_trial_id()
        if query.order == "desc":
            span = range(last - query.offset, 0, -1)
        else:
            span = range(1 + query.offset, last + 1)
        records: list[TrialRecord] = []
        for trial_id in span:
            if len(records) >= query.limit:
                break
            try:
                records.append(self._store.get_trial(trial_id))
            except NotFoundError:
                continue
        last_values = self.last_values([r.trial_id for r in records])
        rows = [trial_row(r, last_values.get(r.trial_id, {})) for r in records]
        return {**self._answer(last, last, rows), "loading": True}

    def _answer(self, total: int, count: int, rows: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "total": total,
            "count": count,
            "loading": False,
            "metrics_pending": max(0, len(self._records) - len(self._metrics)),
            "columns": self.columns(rows),
            "trials": rows,
        }

    def columns(self, rows: Sequence[dict[str, Any]] = ()) -> dict[str, list[str]]:
        """Parameter names and metric keys (those of ``rows`` too), in first-seen order."""
        with self._lock:
            frame = self._joined[1] if self._joined else None
            parameters = dict.fromkeys(frame.attrs["parameters"] if frame is not None else ())
            keys = dict.fromkeys(frame.attrs["metrics"] if frame is not None else ())
        for row in rows:
            parameters.update(dict.fromkeys(row["parameters"]))
            keys.update(dict.fromkeys(row["metrics"]))
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
        if not self._loaded.is_set():
            count = self._store.last_trial_id()
            return {"trials": count, "statuses": {}, "loading": True, "last_activity": None}
        with self._lock:
            assert self._rows is not None
            version = self._rows.version
            if self._summary is None or self._summary[0] != version:
                self._summary = (version, _summarise(self._records.values()))
            return self._summary[1]


def _summarise(records: Iterable[TrialRecord]) -> dict[str, Any]:
    statuses: dict[str, int] = {}
    last, count = None, 0
    for record in records:
        count += 1
        status = status_of(record)
        statuses[status] = statuses.get(status, 0) + 1
        moment = record.finished or record.started
        last = moment if last is None or moment > last else last
    activity = jsonable(last)
    return {"trials": count, "statuses": statuses, "loading": False, "last_activity": activity}


def _changed(before: TrialRecord | None, after: TrialRecord) -> bool:
    try:
        return bool(before != after)
    except Exception:  # values without a plain ``==`` (arrays): count as changed
        return True


def trial_row(record: TrialRecord, metrics: dict[str, Any]) -> dict[str, Any]:
    """One trial as the trials table shows it."""
    return {**trial_summary(record), "metrics": jsonable(metrics)}
