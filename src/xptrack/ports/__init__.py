"""The ports: what any store must provide (see :mod:`xptrack.ports.repositories`)."""

from xptrack.ports.environment import EnvironmentProbe
from xptrack.ports.repositories import (
    Backend,
    CodeRepository,
    EnvironmentRepository,
    ExperimentStore,
    MetricRepository,
    PersistedRepository,
    StepCacheRepository,
    StepHashRepository,
    TrialRepository,
)

__all__ = [
    "Backend",
    "CodeRepository",
    "EnvironmentProbe",
    "EnvironmentRepository",
    "ExperimentStore",
    "MetricRepository",
    "PersistedRepository",
    "StepCacheRepository",
    "StepHashRepository",
    "TrialRepository",
]
