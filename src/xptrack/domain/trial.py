"""A trial: one run of an experiment's result step, and what it is recorded with."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable
from typing import Any

import attrs

#: How often a running trial's process renews its heartbeat (see ``HEARTBEAT_STALE``).
HEARTBEAT_INTERVAL = dt.timedelta(seconds=10)
#: A running trial whose heartbeat is older than this reads as interrupted. Four and a half
#: missed renewals: a slow store write (up to 10 s before it times out), a long pause of the
#: process or a few seconds of clock difference between machines never make a live trial
#: look dead, and a dead one is reported within a minute of its last renewal.
HEARTBEAT_STALE = dt.timedelta(seconds=45)


class TrialStatus(str, enum.Enum):
    """Where a trial is in its life.

    A stored ``"succeeded"`` (what xptrack wrote before trials could be interrupted) reads
    as ``FINISHED``. ``INTERRUPTED`` is what a reader makes of a ``RUNNING`` trial whose
    heartbeat stopped (see :meth:`TrialRecord.effective_status`).
    """

    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    INTERRUPTED = "interrupted"

    @classmethod
    def _missing_(cls, value: object) -> TrialStatus | None:
        return cls.FINISHED if value == "succeeded" else None


def utcnow() -> dt.datetime:
    """The current time, timezone-aware in UTC (what every record stores)."""
    return dt.datetime.now(dt.timezone.utc)


@attrs.frozen
class StepRecord:
    """When one step of a trial ran; ``cached_from`` is the trial whose stored output it
    reused instead of running (None when it ran)."""

    name: str
    started: dt.datetime
    finished: dt.datetime
    cached_from: int | None = None

    @property
    def duration(self) -> dt.timedelta:
        """How long the step took."""
        return self.finished - self.started


def _step_tuple(steps: Iterable[StepRecord]) -> tuple[StepRecord, ...]:
    return tuple(steps)


def _text_tuple(texts: Iterable[str]) -> tuple[str, ...]:
    return tuple(texts)


@attrs.frozen
class TrialRecord:
    """Everything the history shows about one trial.

    ``parameters`` holds the values the trial ran with, of any type a user passes;
    ``result`` is the result step's output (``None`` until the trial finishes).
    ``heartbeat`` is the last time the running process said it was alive; ``traceback``
    the full text of a failed trial's error; ``steps`` when each step ran. ``tags`` and
    ``note`` are a user's labels on the trial.
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
    heartbeat: dt.datetime | None = None
    traceback: str | None = None
    steps: tuple[StepRecord, ...] = attrs.field(default=(), converter=_step_tuple)
    tags: tuple[str, ...] = attrs.field(default=(), converter=_text_tuple)
    note: str = ""

    @property
    def success(self) -> bool:
        """True only for a trial that finished without error."""
        return self.status is TrialStatus.FINISHED

    def effective_status(
        self, now: dt.datetime | None = None, stale: dt.timedelta = HEARTBEAT_STALE
    ) -> TrialStatus:
        """The status a reader reports: a running trial whose heartbeat (or, with none, its
        start) is older than ``stale`` at ``now`` is ``INTERRUPTED``."""
        if self.status is not TrialStatus.RUNNING:
            return self.status
        last_sign_of_life = self.heartbeat or self.started
        if (now or utcnow()) - last_sign_of_life > stale:
            return TrialStatus.INTERRUPTED
        return TrialStatus.RUNNING

    def renewed(self, heartbeat: dt.datetime) -> TrialRecord:
        """This trial, alive at ``heartbeat``."""
        return attrs.evolve(self, heartbeat=heartbeat)

    def succeeded(
        self,
        result: Any,
        finished: dt.datetime,
        process_time: float,
        steps: tuple[StepRecord, ...] | None = None,
    ) -> TrialRecord:
        """This trial, finished with ``result``."""
        return attrs.evolve(
            self,
            status=TrialStatus.FINISHED,
            result=result,
            result_type=qualified_type_name(result),
            finished=finished,
            process_time=process_time,
            steps=self.steps if steps is None else steps,
        )

    def failed(
        self,
        error: BaseException,
        finished: dt.datetime,
        process_time: float,
        traceback: str | None = None,
        steps: tuple[StepRecord, ...] | None = None,
    ) -> TrialRecord:
        """This trial, ended by ``error`` (``traceback``: its full text, when known)."""
        return attrs.evolve(
            self,
            status=TrialStatus.FAILED,
            finished=finished,
            process_time=process_time,
            description=describe_error(error),
            traceback=traceback,
            steps=self.steps if steps is None else steps,
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
