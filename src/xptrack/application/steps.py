"""Experiment steps, parameters and the lazy calls that make up a trial's graph."""

from __future__ import annotations

import functools
import hashlib
import inspect
import logging
import textwrap
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from xptrack.application.runtime import StepKind, StepSpec
from xptrack.domain.names import validate_name

if TYPE_CHECKING:
    from xptrack.application.experiment import Experiment

logger = logging.getLogger("xptrack.experiment")


class _UndefinedType:
    """The value of a parameter that was declared with no default and never set."""

    _instance: _UndefinedType | None = None

    def __new__(cls) -> _UndefinedType:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "Undefined"

    def __reduce__(self) -> str:
        return "Undefined"


Undefined = _UndefinedType()


class Parameter:
    """A named value of an experiment, set with ``set_parameters`` and passed to steps."""

    def __init__(self, experiment: Experiment, name: str) -> None:
        self._experiment = experiment
        self.name = name

    @property
    def value(self) -> Any:
        """The value the next trial will run with (``Undefined`` when none)."""
        return self._experiment.get_parameters()[self.name]

    def __repr__(self) -> str:
        return f"Parameter({self.name}: {self.value!r})"


def capture_source(func: Callable[..., Any], name: str) -> str:
    """The step's source, decorators included; a comment saying why when there is none."""
    try:
        return textwrap.dedent(inspect.getsource(func))
    except (OSError, TypeError) as error:
        module = getattr(func, "__module__", "?")
        logger.info(
            "Source of step %s is not available (%s): code context records a note", name, error
        )
        return f"# step {name}: source not available (defined in {module}: {error})\n"


class Step:
    """A function of an experiment; calling it returns a :class:`StepCall`, running nothing."""

    def __init__(self, experiment: Experiment, func: Callable[..., Any], kind: StepKind) -> None:
        name = getattr(func, "__name__", None)
        if not callable(func):
            raise TypeError(f"a step must be a function; got {type(func).__name__} {func!r}")
        self.name = validate_name(name, "step name (the function's name)")
        self.func = func
        self.kind = kind
        self.source = capture_source(func, self.name)
        code_hash = hashlib.sha256(self.source.encode()).hexdigest()
        self.spec = StepSpec(self.name, kind, func, code_hash)
        self._experiment = experiment
        functools.update_wrapper(self, func)

    def __call__(self, *args: Any, **kwargs: Any) -> StepCall:
        return StepCall(self._experiment, self.name, args, kwargs)

    def __repr__(self) -> str:
        return f"Step({self.name}, kind: {self.kind.value})"


class StepCall:
    """A lazy call of a step. ``compute()`` on a result step's call runs one trial."""

    def __init__(
        self, experiment: Experiment, step: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        self.experiment = experiment
        self.step = step
        self.args = args
        self.kwargs = kwargs

    def compute(self, seed: int | None = None, **dask_kwargs: Any) -> Any:
        """Run one trial of the experiment and return its result.

        ``seed`` seeds ``random``, NumPy and every step; other keyword arguments go to
        ``dask.compute`` (``scheduler='processes'``, ...).
        """
        return self.experiment.run_trial(self, seed=seed, **dask_kwargs)

    def parameters(self) -> Iterator[Parameter]:
        """Every parameter this call depends on, directly or through other calls."""
        seen: set[int] = set()
        stack: list[Any] = [self]
        while stack:
            node = stack.pop()
            if isinstance(node, Parameter):
                yield node
            elif isinstance(node, StepCall):
                if id(node) not in seen:
                    seen.add(id(node))
                    stack.extend(node.args)
                    stack.extend(node.kwargs.values())
            elif type(node) in (list, tuple, set):
                stack.extend(node)
            elif type(node) is dict:
                stack.extend(node.values())

    def __repr__(self) -> str:
        return f"StepCall({self.step}, experiment: {self.experiment.id})"
