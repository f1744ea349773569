"""xptrack: reproducible machine-learning experiments on Dask.

>>> import xptrack
>>> ex = xptrack.Experiment("quickstart")      # doctest: +SKIP
"""

from xptrack.application.bootstrap import open_backend, register_backend
from xptrack.application.copy import copy_experiment
from xptrack.application.experiment import Experiment
from xptrack.application.management import delete_experiment, list_experiments
from xptrack.application.runtime import step_rng
from xptrack.application.steps import Parameter, Undefined
from xptrack.application.trial_info import TrialInfo
from xptrack.application.trials import ActiveTrial, TrialRecorder
from xptrack.errors import (
    ConflictError,
    CorruptRecord,
    InvalidArgument,
    InvalidBackend,
    InvalidName,
    InvalidStep,
    NeedsATrial,
    NotFoundError,
    SignatureError,
    StoreError,
    StoreUnavailable,
    TrialStateError,
    UndefinedParameter,
    UnknownParameter,
    UnstorableValue,
    XptrackError,
)

__version__ = "0.1.0"

__all__ = [
    "ActiveTrial",
    "ConflictError",
    "CorruptRecord",
    "Experiment",
    "InvalidArgument",
    "InvalidBackend",
    "InvalidName",
    "InvalidStep",
    "NeedsATrial",
    "NotFoundError",
    "Parameter",
    "SignatureError",
    "StoreError",
    "StoreUnavailable",
    "TrialInfo",
    "TrialRecorder",
    "TrialStateError",
    "Undefined",
    "UndefinedParameter",
    "UnknownParameter",
    "UnstorableValue",
    "XptrackError",
    "copy_experiment",
    "delete_experiment",
    "list_experiments",
    "open_backend",
    "register_backend",
    "step_rng",
]
