"""The exceptions xptrack raises: one root, a store family, and input errors.

Input errors also subclass the builtin a Python user would catch for the same
mistake (``ValueError``, ``TypeError``, ``LookupError``), so ``except ValueError``
keeps working around xptrack calls.
"""

from __future__ import annotations


class XptrackError(Exception):
    """Root of every error xptrack raises on purpose."""


class InvalidName(XptrackError, ValueError):
    """An experiment id, step name, metric key or parameter name breaks the naming rules."""


class InvalidBackend(XptrackError, TypeError):
    """The ``backend`` argument is of a kind xptrack does not accept."""


class InvalidStep(XptrackError, TypeError):
    """Something that is not a function was given where a step is defined."""


class InvalidArgument(XptrackError, ValueError):
    """A call got a value it cannot use (a non-int trial id, a non-int epoch, ...)."""


class UndefinedParameter(XptrackError, ValueError):
    """A trial was asked to run while a parameter it needs has no value."""


class UnknownParameter(XptrackError, ValueError):
    """``set_parameters`` named a parameter the experiment never declared."""


class TrialStateError(XptrackError, RuntimeError):
    """A call was made inside a trial that only works outside one, or the other way round."""


class NeedsATrial(TrialStateError):
    """A call of the ``@ex.result`` step was computed through dask, where no trial records it."""


class StoreError(XptrackError):
    """The store failed to do what was asked."""


class ConflictError(StoreError):
    """A write would overwrite what another writer already put there."""


class NotFoundError(StoreError, LookupError):
    """Nothing is stored under the trial id, step, metric key or category asked for."""


class StoreUnavailable(StoreError):
    """The store cannot be reached or refused the connection."""


class CorruptRecord(StoreError):
    """A stored record is not in xptrack's format (damaged, foreign, or planted) and was refused."""


class UnstorableValue(StoreError, TypeError):
    """A value cannot be stored (it has no JSON form and cannot be pickled either)."""


class SignatureError(StoreError):
    """A user object is unsigned or its signature does not match ``XPTRACK_SIGNING_KEY``."""
