"""A backend wrapper for bindings whose store is a shared server that tests never flush."""

from __future__ import annotations

from collections.abc import Hashable

from xptrack.ports.repositories import Backend, ExperimentStore


class TrackedBackend(Backend):
    """Wraps a backend and notes every experiment opened through it, so that a binding can
    delete exactly those afterwards (``delete_opened``). Pickles, for the process tests, as
    the backend it wraps does."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.opened: set[str] = set()

    @property
    def location(self) -> str:
        return self.backend.location

    def open(self, experiment_id: str) -> ExperimentStore:
        self.opened.add(experiment_id)
        return self.backend.open(experiment_id)

    def list_experiments(self) -> list[str]:
        return self.backend.list_experiments()

    def delete_experiment(self, experiment_id: str) -> None:
        self.backend.delete_experiment(experiment_id)

    def configuration(self) -> Hashable:
        return self.backend

    def delete_opened(self) -> None:
        """Delete every experiment opened through this wrapper (and nothing else)."""
        for experiment_id in self.opened:
            self.backend.open(experiment_id).delete_experiment()
