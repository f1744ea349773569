"""A trial: one run of an experiment's result step, and what it is recorded with."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import attrs


class TrialStatus(str, enum.Enum):
    """Where a trial is in its life; a trial killed mid-run stays ``RUNNING`` for ever."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


def utcnow() -> dt.datetime:
    """The current time, timezone-aware in UTC (what every record stores)."""
    return dt.datetime.now(dt.timezone.utc)


@attrs.frozen
class TrialRecord:
    """Everything the history shows about one trial.

    ``parameters`` holds the values the trial ran with, of any type a user passes;
    ``result`` is the result step's output (``None`` until the trial finishes).
    """

    trial_id: int
    parameters: dict[str, Any]
    started: dt.datetime
    seed: int | None = None
    status: TrialStatus = TrialStatus.RUNNING
    finished: dt.datetime | None = None
    process_time: float | None = None
    result: Any = None
    result_type: str | None = None
    description: str | None = None

    @property
    def success(self) -> bool:
        """True only for a trial that finished without error."""
        return self.status is TrialStatus.SUCCEEDED

    def succeeded(self, result: Any, finished: dt.datetime, process_time: float) -> TrialRecord:
        """This trial, finished with ``result``."""
        return attrs.evolve(
            self,
            status=TrialStatus.SUCCEEDED,
            result=result,
            result_type=qualified_type_name(result),
            finished=finished,
            process_time=process_time,
        )

    def failed(
        self, error: BaseException, finished: dt.datetime, process_time: float
    ) -> TrialRecord:
        """This trial, ended by ``error``."""
        return attrs.evolve(
            self,
            status=TrialStatus.FAILED,
            finished=finished,
            process_time=process_time,
            description=describe_error(error),
        )


def qualified_type_name(value: Any) -> str:
    """``int``, ``numpy.float64``, ``mymodule.Model``: the type as a user would write it."""
    cls = type(value)
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


def describe_error(error: BaseException) -> str:
    """``ValueError: bad input``, the line a user reads in the history."""
    message = str(error)
    name = type(error).__name__
    return f"{name}: {message}" if message else name
