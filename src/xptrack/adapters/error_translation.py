"""Driver errors turned into xptrack's, one store call at a time, with a quiet window.

Every networked store does the same around each call: run it, turn what its driver raises
into a :class:`~xptrack.errors.StoreError`, and, once the server has failed to answer in
time, give the calls of the next while a short budget (a trial facing a silent server then
fails within one budget, not one per call) until one is answered. :class:`ErrorTranslation`
is that loop; a store's subclass says what its driver raises and what each error means, and
:func:`translated` runs a store's method inside it.
"""

from __future__ import annotations

import abc
import contextlib
import functools
import time
from collections.abc import Callable, Iterator
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from xptrack.domain.errors import StoreError


class Translating(Protocol):
    """A store whose calls translate its driver's errors."""

    def translating(self, action: str) -> contextlib.AbstractContextManager[None]:
        """Run one call doing ``action``: a driver error comes out as xptrack's."""
        ...


_S = TypeVar("_S", bound=Translating)
_P = ParamSpec("_P")
_R = TypeVar("_R")


def translated(
    action: str,
) -> Callable[[Callable[Concatenate[_S, _P], _R]], Callable[Concatenate[_S, _P], _R]]:
    """Decorate a store method so that it runs inside ``self.translating(action)``."""

    def decorate(method: Callable[Concatenate[_S, _P], _R]) -> Callable[Concatenate[_S, _P], _R]:
        @functools.wraps(method)
        def wrapper(self: _S, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
            with self.translating(action):
                return method(self, *args, **kwargs)

        return wrapper

    return decorate


class QuietWindow:
    """Whether calls get the quick budget: for ``seconds`` after a timeout, until one is
    answered. A pickled copy starts outside it (the server may be fine by then)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._until = 0.0  # monotonic clock

    @property
    def open(self) -> bool:
        """True while calls get the quick budget."""
        return time.monotonic() < self._until

    def timed_out(self) -> None:
        """A call timed out: the next ``seconds`` get the quick budget."""
        self._until = time.monotonic() + self.seconds

    def answered(self) -> None:
        """A call was answered: the full budget again."""
        self._until = 0.0

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_until": 0.0}


class ErrorTranslation(abc.ABC):
    """Runs store calls with a driver's errors (:attr:`driver_errors`) translated and the
    quick budget in the :class:`QuietWindow` after a timeout."""

    #: What the driver raises (each is translated by :meth:`translated`).
    driver_errors: tuple[type[BaseException], ...] = ()

    def __init__(self, quiet_seconds: float) -> None:
        self.window = QuietWindow(quiet_seconds)

    @contextlib.contextmanager
    def translating(self, action: str) -> Iterator[None]:
        """Run one store call doing ``action``: a driver error comes out as xptrack's."""
        quick = self.window.open
        try:
            if quick:
                with self.quick_budget():
                    yield
            else:
                yield
        except self.driver_errors as error:
            if self.is_timeout(error):
                self.window.timed_out()
            raise self.translated(error, action, quick) from error
        else:
            self.window.answered()

    def quick_budget(self) -> contextlib.AbstractContextManager[Any]:
        """What bounds a call's waits in the quiet window (default: nothing here; the store
        picks a quick client itself)."""
        return contextlib.nullcontext()

    @abc.abstractmethod
    def is_timeout(self, error: BaseException) -> bool:
        """Whether ``error`` says the server did not answer in time."""

    @abc.abstractmethod
    def translated(self, error: BaseException, action: str, quick: bool) -> StoreError:
        """xptrack's error for ``error`` raised while doing ``action`` (``quick``: within the
        quick budget)."""
