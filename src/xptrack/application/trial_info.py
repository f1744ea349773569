"""One trial as a user reads it: ``ex.get_trial(n)``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from xptrack.application.heartbeat import stale_after
from xptrack.domain.errors import NotFoundError
from xptrack.domain.trial import StepRecord, TrialRecord
from xptrack.ports.repositories import ExperimentStore


@attrs.frozen
class TrialInfo:
    """A read-only view of one trial.

    ``status`` is what a reader reports now (``running``, ``finished``, ``failed`` or
    ``interrupted``); ``error`` the one-line description of a failure and ``traceback``
    its full text; ``output`` what the trial's steps printed and logged; ``steps`` maps
    each step's name to when it ran (a step called more than once in the trial appears
    as ``name``, ``name#2``, ...). ``parameters`` and ``result`` hand the user's own objects
    back: a value stored as a pickle is unpickled (its signature checked when
    ``XPTRACK_SIGNING_KEY`` is set) only when that attribute is read, never when the
    ``TrialInfo`` is made, so reading the other fields runs no stored code.
    """

    id: int
    status: str
    _parameters: dict[str, Any]
    _result: Any
    seed: int | None
    started: dt.datetime
    finished: dt.datetime | None
    process_time: float | None
    error: str | None
    traceback: str | None
    output: str
    steps: Mapping[str, StepRecord]
    tags: tuple[str, ...]
    note: str
    _load: Callable[[Any], Any] = attrs.field(default=lambda value: value, repr=False, eq=False)

    @property
    def parameters(self) -> dict[str, Any]:
        """The trial's parameters, a pickled one loaded (SignatureError if refused)."""
        loaded: dict[str, Any] = self._load(dict(self._parameters))
        return loaded

    @property
    def result(self) -> Any:
        """The trial's result, loaded if it was pickled (SignatureError if refused)."""
        return self._load(self._result)


def trial_info(
    store: ExperimentStore, trial_id: int, load_pickled: Callable[[Any], Any] | None = None
) -> TrialInfo:
    """The :class:`TrialInfo` of ``trial_id`` in ``store`` (NotFoundError when none);
    ``load_pickled`` loads a stored pickle when its parameter or result is read."""
    record = store.get_trial(trial_id)
    try:
        output = store.load_output(trial_id)
    except NotFoundError:
        output = ""
    return info_of(record, output, load_pickled)


def info_of(
    record: TrialRecord, output: str = "", load_pickled: Callable[[Any], Any] | None = None
) -> TrialInfo:
    """``record`` (and its captured ``output``) as a :class:`TrialInfo`."""
    status = record.effective_status(stale=stale_after())
    return TrialInfo(
        id=record.trial_id,
        status=status.value,
        parameters=dict(record.parameters),
        result=record.result,
        seed=record.seed,
        started=record.started,
        finished=record.finished,
        process_time=record.process_time,
        error=record.description,
        traceback=record.traceback,
        output=output,
        steps=_steps_by_name(record.steps),
        tags=record.tags,
        note=record.note,
        **({} if load_pickled is None else {"load": load_pickled}),
    )


def _steps_by_name(steps: tuple[StepRecord, ...]) -> dict[str, StepRecord]:
    named: dict[str, StepRecord] = {}
    for step in steps:
        name, count = step.name, 1
        while name in named:
            count += 1
            name = f"{step.name}#{count}"
        named[name] = step
    return named
