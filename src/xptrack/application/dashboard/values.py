"""Stored values as the dashboard's JSON shows them: plain data kept, the rest as text.

The page never unpickles: a user object is described from its bytes (type name and size),
by the same placeholder every reader of the history shows.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

from xptrack.application.bootstrap import user_object_codec
from xptrack.domain.trial import TrialRecord


def jsonable(value: Any) -> Any:
    """``value`` as JSON-ready data: numbers, text, lists and dicts kept, the rest as repr.

    Non-finite floats become the text ``nan``/``inf`` (JSON has no number for them).
    """
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item) and getattr(value, "shape", None) == ():
        return jsonable(item())
    return repr(value)


def status_of(record: TrialRecord) -> str:
    """The status a reader shows: the effective one (a stale heartbeat reads interrupted)."""
    return record.effective_status().value


def trial_summary(record: TrialRecord) -> dict[str, Any]:
    """What every view shows of a trial (the table's row and the trial page), JSON-ready."""
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
    }


def describe_pickle(data: bytes) -> str:
    """``<pickled TYPE, N bytes>`` for a stored user object, read without unpickling it."""
    return repr(user_object_codec().placeholder(data))
