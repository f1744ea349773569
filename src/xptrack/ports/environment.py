"""The environment probe port: what captures the machine and software a trial runs on."""

from __future__ import annotations

import abc

from xptrack.domain.environment import EnvironmentSnapshot


class EnvironmentProbe(abc.ABC):
    """Captures an :class:`EnvironmentSnapshot`."""

    @abc.abstractmethod
    def capture(self) -> EnvironmentSnapshot:
        """The environment now, one text per category; never raises (a failed probe is recorded
        as text saying what failed). Cheap when called again and nothing changed."""
