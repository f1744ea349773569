"""Public exceptions (the hierarchy lives in the domain so that it depends on nothing)."""

from xptrack.domain.errors import (
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

__all__ = [
    "ConflictError",
    "CorruptRecord",
    "InvalidArgument",
    "InvalidBackend",
    "InvalidName",
    "InvalidStep",
    "NeedsATrial",
    "NotFoundError",
    "SignatureError",
    "StoreError",
    "StoreUnavailable",
    "TrialStateError",
    "UndefinedParameter",
    "UnknownParameter",
    "UnstorableValue",
    "XptrackError",
]
