"""Code and environment of each trial, with a warning when they changed since the last one."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TypeVar

from xptrack.domain.code import CodeContext
from xptrack.domain.environment import EnvironmentSnapshot, unified_diff
from xptrack.domain.errors import NotFoundError
from xptrack.ports.environment import EnvironmentProbe
from xptrack.ports.repositories import ExperimentStore

logger = logging.getLogger("xptrack.experiment")

#: How far back to look for the previous trial's code or environment (ids may have gaps).
_LOOKBACK = 20
_T = TypeVar("_T")
_captured_in_this_process = False


class ChangeLog:
    """Captures each trial's environment and warns about what changed in its code and
    environment since the trial before (the store saves both with the trial's start)."""

    def __init__(self, store: ExperimentStore) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._previous_code: str | None = None
        self._previous_environment: EnvironmentSnapshot | None = None

    def capture(self, probe: EnvironmentProbe) -> EnvironmentSnapshot:
        """The environment a trial about to start runs in."""
        global _captured_in_this_process
        if not _captured_in_this_process:
            _captured_in_this_process = True
            logger.info(
                "Capturing the environment (platform, CPU, packages, git state): the first "
                "trial of a process takes a moment longer; Experiment(..., "
                "capture_environment=False) skips it"
            )
        return probe.capture()

    def code_saved(self, trial_id: int, code: CodeContext) -> None:
        """``code`` was saved for ``trial_id``: warn per step changed since the trial before."""
        text = code.text
        with self._lock:
            previous = self._previous_code
            if previous is None:
                previous = self._find_previous(trial_id, self._store.load_code)
            self._previous_code = text
        if previous is not None and previous != text:
            diff = unified_diff(previous, text, "code")
            for step in code.changed_steps(previous) or ["(removed steps)"]:
                logger.warning("Code context has been changed: %s\n%s", step, diff)

    def environment_saved(self, trial_id: int, snapshot: EnvironmentSnapshot) -> None:
        """``snapshot`` was saved for ``trial_id``: warn per category changed since the trial
        before."""
        with self._lock:
            previous = self._previous_environment
            if previous is None:
                previous = self._find_previous(trial_id, self._store.load_environment)
            self._previous_environment = snapshot
        if previous is not None:
            for category, diff in snapshot.changes_since(previous).items():
                logger.warning("Environment has been changed: %s\n%s", category, diff)

    @staticmethod
    def _find_previous(trial_id: int, load: Callable[[int], _T]) -> _T | None:
        for earlier in range(trial_id - 1, max(0, trial_id - 1 - _LOOKBACK), -1):
            try:
                return load(earlier)
            except NotFoundError:
                continue
        return None
