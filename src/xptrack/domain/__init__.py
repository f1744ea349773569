"""Pure models and rules of xptrack: no I/O, no dask, no drivers."""

from xptrack.domain.environment import CATEGORIES, CATEGORY_FORMATS, EnvironmentSnapshot
from xptrack.domain.metric import MetricSeries
from xptrack.domain.step_hash import StepHash
from xptrack.domain.trial import StepRecord, TrialRecord, TrialStatus

__all__ = [
    "CATEGORIES",
    "CATEGORY_FORMATS",
    "EnvironmentSnapshot",
    "MetricSeries",
    "StepHash",
    "StepRecord",
    "TrialRecord",
    "TrialStatus",
]
