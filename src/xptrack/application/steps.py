"""Experiment steps, parameters and the lazy calls that make up a trial's graph."""

from __future__ import annotations

import functools
import hashlib
import inspect
import logging
import sys
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import attrs
from dask._task_spec import Task, parse_input

from xptrack.application import lazy
from xptrack.application.fingerprint import code_fingerprint
from xptrack.application.lazy import Evaluation, Key, LazyValue, UnrecordedGraph
from xptrack.application.runtime import StepKind, StepSpec, seed_global_generators
from xptrack.domain.errors import InvalidStep, UndefinedParameter
from xptrack.domain.names import validate_name
from xptrack.domain.seeding import derive_step_seed

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


class Parameter(LazyValue):
    """A named value of an experiment, set with ``set_parameters`` and passed to steps.

    A lazy value (see :mod:`xptrack.application.lazy`): ``a + 1`` builds a further one,
    ``a.compute()`` is its current value.
    """

    def __init__(self, experiment: Experiment, name: str) -> None:
        self._experiment = experiment
        self.name = name
        self.key = lazy.new_key(f"parameter-{name}")

    @property
    def value(self) -> Any:
        """The value the next trial will run with (``Undefined`` when none)."""
        return self._experiment.get_parameters()[self.name]

    def unrecorded_task(self, key: Key, graph: UnrecordedGraph) -> Task:
        # The value now: a dask.delayed built on this parameter keeps it (in a trial, the
        # trial's value is used instead).
        return Task(key, Evaluation(self, _parameter_value, self.name, self.value), (), {})

    def __repr__(self) -> str:
        return f"Parameter({self.name}: {self.value!r})"


def _parameter_value(name: str, value: Any, args: Any, kwargs: Any) -> Any:
    if value is Undefined:
        raise UndefinedParameter(
            f"parameter {name!r} has no value: set it with ex.set_parameters({name}=...) "
            "before computing"
        )
    return value


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

    def __init__(
        self, experiment: Experiment, func: Callable[..., Any], kind: StepKind, cache: bool = False
    ) -> None:
        name = getattr(func, "__name__", None)
        if not callable(func):
            raise InvalidStep(f"a step must be a function; got {type(func).__name__} {func!r}")
        self.name = validate_name(name, "step name (the function's name)")
        self.func = func
        self.kind = kind
        #: ``cache=True``: its output may be reused from an earlier trial (see ``spec_for``).
        self.cache = cache
        self.source = capture_source(func, self.name)
        code_hash = hashlib.sha256(self.source.encode()).hexdigest()
        self.spec = StepSpec(self.name, kind, func, code_hash)
        self._experiment = experiment
        functools.update_wrapper(self, func)

    def __call__(self, *args: Any, **kwargs: Any) -> StepCall:
        call = StepCall(self._experiment, self.name, args, kwargs)
        if self.kind is StepKind.RESULT and _built_result_calls:
            _built_result_calls[-1].append((call, _caller()))
        return call

    def spec_for(self, use_cache: bool) -> StepSpec:
        """The spec its tasks get in a run: a cached step's carries its code fingerprint, taken
        now (the helpers it calls may have changed since it was defined)."""
        if not (self.cache and use_cache):
            return self.spec
        return attrs.evolve(self.spec, fingerprint=code_fingerprint(self.func, self.source))

    def __repr__(self) -> str:
        return f"Step({self.name}, kind: {self.kind.value})"


class StepCall(LazyValue):
    """A lazy call of a step. ``compute()`` on a result step's call runs one trial; on
    another step's call it returns the value, recording nothing."""

    def __init__(
        self, experiment: Experiment, step: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        self.experiment = experiment
        self.step = step
        self.args = args
        self.kwargs = kwargs
        self.key = lazy.new_key(step)

    @property
    def is_result(self) -> bool:
        """Whether this is a call of the experiment's ``@ex.result`` step (its trial's result)."""
        return self.experiment.step_definition(self.step).kind is StepKind.RESULT

    def compute(self, seed: int | None = None, cache: bool = True, **dask_kwargs: Any) -> Any:
        """A result step's call: run one trial of the experiment and return its result.
        Another step's call: its value, recording no trial.

        ``seed`` seeds ``random``, NumPy and every step; ``cache=False`` runs the
        ``cache=True`` steps too instead of reusing their outputs; other keyword arguments go
        to ``dask.compute`` (``scheduler='processes'``, ...).
        """
        if not self.is_result:
            return super().compute(seed, **dask_kwargs)
        return self.experiment.run_trial(self, seed=seed, cache=cache, **dask_kwargs)

    def inputs(self) -> tuple[Any, ...]:
        return (*self.args, *self.kwargs.values())

    def needs_a_trial(self) -> bool:
        return self.is_result

    def unrecorded_task(self, key: Key, graph: UnrecordedGraph) -> Task:
        args = parse_input(tuple(graph.convert(arg) for arg in self.args))
        kwargs = parse_input({name: graph.convert(value) for name, value in self.kwargs.items()})
        if self.is_result:
            refusal = Evaluation(self, lazy.refuse_unrecorded, lazy.needs_a_trial_message(self))
            return Task(key, refusal, args, kwargs)
        spec = self.experiment.step_definition(self.step).spec
        return Task(key, Evaluation(self, _run_unrecorded, spec, graph.seed), args, kwargs)

    def parameters(self) -> Iterator[Parameter]:
        """Every parameter this call depends on, directly or through other lazy values."""
        for node in lazy.lazy_values_under(self):
            if isinstance(node, Parameter):
                yield node

    def __repr__(self) -> str:
        return f"StepCall({self.step}, experiment: {self.experiment.id})"


def _run_unrecorded(spec: StepSpec, seed: int | None, args: Any, kwargs: Any) -> Any:
    """A step run outside a trial: its function, seeded as in a trial of ``seed`` if given."""
    if seed is not None:
        seed_global_generators(derive_step_seed(seed, spec.name))
    return spec.func(*args, **kwargs)


# --- result calls built while a script runs (how ``xptrack run`` finds the one to run) ---------

_built_result_calls: list[list[tuple[StepCall, str]]] = []


@contextmanager
def remembering_result_calls() -> Iterator[list[tuple[StepCall, str]]]:
    """Collect every call of an ``@ex.result`` step built inside the block, with where (the
    ``file:line`` of the code that built it), bound to a name or not."""
    built: list[tuple[StepCall, str]] = []
    _built_result_calls.append(built)
    try:
        yield built
    finally:
        _built_result_calls.remove(built)


def _caller() -> str:
    frame = sys._getframe(2)  # Step.__call__ <- the user's code
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"
