"""A sweep's progress: a bar with rate and ETA on a terminal, a log line every few seconds
otherwise (a file, a CI log, a notebook's captured stderr)."""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import Any, TextIO

logger = logging.getLogger("xptrack.experiment")

#: Seconds between progress lines when stderr is not a terminal.
LOG_EVERY_SECONDS = 5.0
_BAR_WIDTH = 30


class SweepProgress:
    """Counts the trials of a sweep as they end and shows it."""

    def __init__(self, total: int, stream: TextIO | None = None) -> None:
        self.total = total
        self.done = 0
        self.failed = 0
        self._stream = stream if stream is not None else sys.stderr
        self._tty = _is_terminal(self._stream)
        self._started = time.monotonic()
        self._last_line = self._started
        self._lock = threading.Lock()

    def __enter__(self) -> SweepProgress:
        if self._tty:
            self._draw()
        else:
            logger.info("Running %d trials", self.total)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._tty:
            self._stream.write("\n")
            self._stream.flush()
        logger.info("Trials finished: %s", self._summary())

    def trial_ended(self, outcome: Any) -> None:
        """Count one more ended trial (``outcome.error`` set when it failed)."""
        with self._lock:
            self.done += 1
            self.failed += getattr(outcome, "error", None) is not None
            if self._tty:
                self._draw()
            elif time.monotonic() - self._last_line >= LOG_EVERY_SECONDS:
                self._last_line = time.monotonic()
                logger.info("Trials finished: %s", self._summary())

    def _summary(self) -> str:
        failed = f", {self.failed} failed" if self.failed else ""
        return f"{self.done}/{self.total}{failed} ({self._rate()})"

    def _rate(self) -> str:
        elapsed = time.monotonic() - self._started
        if not self.done or elapsed <= 0:
            return f"{elapsed:.1f} s"
        rate = self.done / elapsed
        left = (self.total - self.done) / rate
        return f"{rate:.2f} trials/s, {elapsed:.0f} s elapsed, ETA {left:.0f} s"

    def _draw(self) -> None:
        filled = int(_BAR_WIDTH * self.done / self.total) if self.total else _BAR_WIDTH
        bar = "#" * filled + "-" * (_BAR_WIDTH - filled)
        self._stream.write(f"\rtrials [{bar}] {self._summary()}\x1b[K")
        self._stream.flush()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
