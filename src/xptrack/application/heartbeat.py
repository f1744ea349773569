"""How often a running trial says it is alive, and when a reader stops believing it.

The interval is ``HEARTBEAT_INTERVAL`` (10 s) unless ``XPTRACK_HEARTBEAT_INTERVAL`` (seconds)
says otherwise, in the writing and the reading processes alike; a trial is read as
interrupted once its heartbeat is 4.5 intervals old (45 s by default).
"""

from __future__ import annotations

import datetime as dt
import os

from xptrack.domain.errors import InvalidArgument
from xptrack.domain.trial import HEARTBEAT_INTERVAL, HEARTBEAT_STALE

ENVIRONMENT_VARIABLE = "XPTRACK_HEARTBEAT_INTERVAL"
_STALE_INTERVALS = HEARTBEAT_STALE / HEARTBEAT_INTERVAL


def heartbeat_interval() -> dt.timedelta:
    """How often a running trial's heartbeat is renewed."""
    text = os.environ.get(ENVIRONMENT_VARIABLE)
    if not text:
        return HEARTBEAT_INTERVAL
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds < 3600:
        raise InvalidArgument(
            f"{ENVIRONMENT_VARIABLE} must be a number of seconds between 0 and 3600 "
            f"(default {HEARTBEAT_INTERVAL.total_seconds():g}); got {text!r}"
        )
    return dt.timedelta(seconds=seconds)


def stale_after() -> dt.timedelta:
    """How old a running trial's heartbeat may be before a reader reports it interrupted."""
    return heartbeat_interval() * _STALE_INTERVALS
