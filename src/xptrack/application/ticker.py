"""One background thread per process that runs periodic jobs: metric flushes, heartbeats.

A job is a callable run every ``interval`` seconds until its handle is cancelled. Jobs
must be quick and never raise (an exception is logged and the job keeps its schedule).
The thread is a daemon, started on first use and again in a forked child.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)


class Job:
    """A scheduled job; :meth:`cancel` stops it (it never runs again once it returns)."""

    def __init__(self, ticker: Ticker, interval: float, run: Callable[[], None]) -> None:
        self.interval = interval
        self.run = run
        self.cancelled = False
        self._ticker = ticker

    def cancel(self) -> None:
        """Stop the job; a run in progress in the ticker thread finishes first."""
        with self._ticker.lock:
            self.cancelled = True


class Ticker:
    """Runs jobs on one daemon thread, each at its own interval."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._wake = threading.Condition(self.lock)
        self._queue: list[tuple[float, int, Job]] = []
        self._order = itertools.count()
        self._pid = -1

    def every(self, interval: float, run: Callable[[], None]) -> Job:
        """Run ``run`` every ``interval`` seconds (first after one interval)."""
        job = Job(self, interval, run)
        due = time.monotonic() + interval
        with self._wake:
            self._ensure_thread()
            # The thread sleeps until the earliest job: woken only when this one is earlier
            # (jobs come and go with every step; a wake-up each time would cost a switch).
            earliest = not self._queue or due < self._queue[0][0]
            heapq.heappush(self._queue, (due, next(self._order), job))
            if earliest:
                self._wake.notify()
        return job

    def _ensure_thread(self) -> None:
        if self._pid == os.getpid():
            return
        # A forked child has the queue but not the thread: jobs of the parent are not its own.
        self._queue.clear()
        self._pid = os.getpid()
        threading.Thread(target=self._loop, name="xptrack-ticker", daemon=True).start()

    def _loop(self) -> None:
        while True:
            job = self._next_due()
            try:
                job.run()
            except Exception:
                logger.exception("xptrack background job %r failed", job.run)
            with self._wake:
                if not job.cancelled:
                    due = time.monotonic() + job.interval
                    heapq.heappush(self._queue, (due, next(self._order), job))

    def _next_due(self) -> Job:
        with self._wake:
            while True:
                while self._queue and self._queue[0][2].cancelled:
                    heapq.heappop(self._queue)
                if self._queue and self._queue[0][0] <= time.monotonic():
                    return heapq.heappop(self._queue)[2]
                timeout = self._queue[0][0] - time.monotonic() if self._queue else None
                self._wake.wait(timeout)


#: This process's ticker.
TICKER = Ticker()
