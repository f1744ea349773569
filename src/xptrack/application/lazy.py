"""Lazy values: parameters, step calls and what operators build on them, as dask.delayed does.

Every lazy value is a real dask collection (``__dask_graph__``, ``__dask_keys__``, ...), so
``dask.compute``, ``dask.visualize``, ``dask.optimize``, ``dask.delayed`` and
``distributed.Client.compute`` accept it. The graph a lazy value shows dask is *unrecorded*:
its steps run as plain functions and no trial is recorded. A call of the ``@ex.result`` step
cannot be computed that way: its graph starts with a task that raises
:class:`NeedsATrial` before any step runs, and its own task raises it too, so a result is
never computed unrecorded. ``call.compute()`` (one trial) and ``ex.run_trials`` (several)
build the *trial* graph instead, where every lazy value becomes a task of that trial.

Each task of an unrecorded graph carries the lazy value it stands for (:class:`Evaluation`),
so that a trial can take back the values a ``dask.delayed`` function or a dask collection
was built on and run them as tasks of its own (:func:`merge_collection`).
"""

from __future__ import annotations

import operator
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from dask._expr import ProhibitReuse
from dask._task_spec import (
    Alias,
    DataNode,
    GraphNode,
    Task,
    TaskRef,
    _execute_subgraph,
    convert_legacy_graph,
    parse_input,
)
from dask.base import DaskMethodsMixin, is_dask_collection
from dask.delayed import Delayed, single_key, unpack_collections
from dask.delayed import optimize as delayed_optimize
from dask.threaded import get as threaded_get

from xptrack.application.runtime import StepFailure, StepOutput, format_error, unwrap
from xptrack.domain.errors import NeedsATrial

Key = Any
#: Turns a lazy value (or anything a step is given) into what a task of a graph holds.
Convert = Callable[[Any], Any]
_PLAIN = frozenset({int, float, str, bool, bytes, type(None), complex})


def new_key(label: str) -> str:
    """A key no other lazy value has (dask.delayed's ``name-<uuid>`` form)."""
    return f"{label}-{uuid.uuid4().hex}"


class LazyValue(DaskMethodsMixin):
    """What :class:`Parameter`, :class:`StepCall` and :class:`LazyOperation` share.

    ``a + 3``, ``-a``, ``call[0]``, ``call.attr``, ``call.method(x)`` and ``call(x)`` build
    further lazy values (:class:`LazyOperation`); nothing runs until it is computed.
    Attributes whose name starts with ``_`` are never lazy, and ``key``, ``dask``,
    ``compute``, ``persist``, ``visualize`` are this object's own, as on ``dask.delayed``.
    """

    key: str

    def inputs(self) -> tuple[Any, ...]:
        """What this value is computed from (arguments that may hold lazy values)."""
        return ()

    def needs_a_trial(self) -> bool:
        """Whether computing this value is a trial (a call of the ``@ex.result`` step)."""
        return False

    def unrecorded_task(self, key: Key, graph: UnrecordedGraph) -> Task:
        """The task computing this value outside a trial, its inputs converted by ``graph``."""
        raise NotImplementedError

    # --- building further lazy values ----------------------------------------------------

    def __getattr__(self, name: str) -> LazyOperation:
        if name.startswith("_"):
            raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")
        return LazyOperation(getattr, (self, name), label=name)

    def __getitem__(self, index: Any) -> LazyOperation:
        return LazyOperation(operator.getitem, (self, index), label="getitem")

    def __call__(self, *args: Any, **kwargs: Any) -> LazyOperation:
        return LazyOperation(_apply, (self, *args), kwargs, label="call")

    def __iter__(self) -> Iterator[Any]:
        raise TypeError(f"{self!r} is lazy: its length is not known; index it (value[0]) instead")

    def __len__(self) -> int:
        raise TypeError(f"{self!r} is lazy: its length is not known until it is computed")

    def __bool__(self) -> bool:
        raise TypeError(
            f"{self!r} is lazy: its truth is not known until it is computed (use .compute())"
        )

    __hash__ = object.__hash__

    # --- the dask collection protocol ----------------------------------------------------

    def __dask_graph__(self) -> dict[Key, GraphNode]:
        return unrecorded_graph(self)

    def __dask_keys__(self) -> list[Key]:
        return [self.key]

    def __dask_layers__(self) -> tuple[str, ...]:
        return (self.key,)

    def __dask_tokenize__(self) -> str:
        return self.key

    def __dask_postcompute__(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        return single_key, ()

    def __dask_postpersist__(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        return _rebuild_as_delayed, (self.key,)

    __dask_scheduler__ = staticmethod(threaded_get)
    __dask_optimize__ = staticmethod(delayed_optimize)

    @property
    def dask(self) -> dict[Key, GraphNode]:
        """The unrecorded graph (as ``Delayed.dask``)."""
        return self.__dask_graph__()

    def compute(self, seed: int | None = None, **dask_kwargs: Any) -> Any:
        """Its value, computed with dask (``scheduler=...`` as ``dask.compute``); no trial is
        recorded. With ``seed``, each step is seeded as in a trial of that seed. (A call of
        the ``@ex.result`` step runs one trial instead: see ``StepCall.compute``.)"""
        graph = unrecorded_graph(self, seed)
        return Delayed(self.key, graph).compute(**dask_kwargs)


def _apply(function: Any, *args: Any, **kwargs: Any) -> Any:
    return function(*args, **kwargs)


def _rebuild_as_delayed(dsk: Any, key: str, *, rename: Any = None) -> Delayed:
    # What dask.optimize / dask.persist give back: a plain Delayed of the same graph.
    layer = next(iter(dsk.layers)) if len(getattr(dsk, "layers", ())) == 1 else None
    return Delayed(key, dsk, layer=layer)


class LazyOperation(LazyValue):
    """``function(*args, **kwargs)`` on lazy values, run as a task of the trial's graph."""

    def __init__(
        self,
        function: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any] | None = None,
        label: str = "",
    ) -> None:
        self.function = function
        self.args = args
        self.kwargs = kwargs or {}
        self.label = label or getattr(function, "__name__", "operation")
        self.key = new_key(self.label)

    def inputs(self) -> tuple[Any, ...]:
        return (*self.args, *self.kwargs.values())

    def trial_task(self, convert: Convert, new_key: Callable[[str], str]) -> tuple[str, Task]:
        """The task computing this operation in a trial: its inputs converted by ``convert``
        (first, so that they have their keys), then its own key from ``new_key``."""
        args, kwargs = self._inputs(convert)
        key = new_key(self.label)
        return key, Task(key, run_operation, key, self.function, args, kwargs)

    def unrecorded_task(self, key: Key, graph: UnrecordedGraph) -> Task:
        args, kwargs = self._inputs(graph.convert)
        return Task(key, Evaluation(self, _run_operation, self.function), args, kwargs)

    def _inputs(self, convert: Convert) -> tuple[Any, Any]:
        args = parse_input(tuple(convert(arg) for arg in self.args))
        return args, parse_input({name: convert(value) for name, value in self.kwargs.items()})

    def __repr__(self) -> str:
        return f"LazyOperation({self.label}, key: {self.key})"


def _run_operation(function: Callable[..., Any], args: Any, kwargs: Any) -> Any:
    return function(*args, **kwargs)


# Operators, as dask.delayed binds them (reflected ones swap their operands).
_BINARY = [
    "add", "sub", "mul", "matmul", "truediv", "floordiv", "mod", "pow",
    "lshift", "rshift", "and", "xor", "or",
]  # fmt: skip
_COMPARISONS = ["lt", "le", "eq", "ne", "gt", "ge"]
_UNARY = ["neg", "pos", "abs", "invert"]


def _bind_operators() -> None:
    def binary(name: str, function: Callable[..., Any], reflected: bool) -> None:
        def method(self: LazyValue, other: Any) -> LazyOperation:
            operands = (other, self) if reflected else (self, other)
            return LazyOperation(function, operands, label=name)

        method.__name__ = f"__{'r' if reflected else ''}{name}__"
        setattr(LazyValue, method.__name__, method)

    for name in _BINARY:
        function = getattr(operator, f"{name}_" if name in ("and", "or") else name)
        binary(name, function, reflected=False)
        binary(name, function, reflected=True)
    for name in _COMPARISONS:
        binary(name, getattr(operator, name), reflected=False)

    def unary(name: str, function: Callable[..., Any]) -> None:
        def method(self: LazyValue) -> LazyOperation:
            return LazyOperation(function, (self,), label=name)

        method.__name__ = f"__{name}__"
        setattr(LazyValue, method.__name__, method)

    for name in _UNARY:
        unary(name, getattr(operator, name))


_bind_operators()


# --- the tasks of unrecorded graphs ----------------------------------------------------------


class Evaluation:
    """The function of a task standing for a lazy value: ``run(*details, args, kwargs)``.

    ``node`` is the lazy value, kept so that a trial given a graph that contains this task
    (a ``dask.delayed`` built on a step call, say) runs the value as a task of its own.
    Pickled without it: a worker needs only ``run`` and its details.
    """

    __slots__ = ("details", "node", "run")

    def __init__(self, node: LazyValue | None, run: Callable[..., Any], *details: Any) -> None:
        self.node = node
        self.run = run
        self.details = details

    def __call__(self, args: Any = (), kwargs: Any = None, *after: Any) -> Any:
        # ``after``: results of tasks that must run first (the trial check), ignored.
        return self.run(*self.details, args, kwargs or {})

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (Evaluation, (None, self.run, *self.details))

    def __repr__(self) -> str:
        return f"Evaluation({getattr(self.run, '__name__', self.run)})"


def refuse_unrecorded(message: str, args: Any, kwargs: Any) -> Any:
    """What computing a result call through dask does: raise, naming what records a trial."""
    raise NeedsATrial(message)


def needs_a_trial_message(call: LazyValue) -> str:
    """Why ``call`` (a result step's call) cannot be computed through dask, and what can."""
    return (
        f"{call!r} is a call of an @ex.result step: computing it is a trial, and dask.compute, "
        "dask.persist or distributed's Client.compute would give a result no trial records. "
        "Use call.compute() for one trial (seed=..., scheduler=... accepted) or "
        "ex.run_trials(call, [{...}, ...]) for several at once; nothing was computed"
    )


def inputs_of(value: Any) -> Iterator[Any]:
    """The lazy values directly inside ``value``: itself, or those in a container or in the
    graph of a dask collection."""
    if isinstance(value, LazyValue):
        yield value
    elif type(value) in (list, tuple, set):
        for item in value:
            yield from inputs_of(item)
    elif type(value) is dict:
        for item in value.values():
            yield from inputs_of(item)
    elif is_collection(value):
        yield from lazy_values_in(collection_graph(value)[1]).values()


def lazy_values_under(root: LazyValue) -> Iterator[LazyValue]:
    """``root`` and every lazy value it depends on, each once."""
    seen: set[int] = set()
    stack: list[LazyValue] = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        yield node
        for argument in node.inputs():
            if isinstance(argument, LazyValue):  # the common case, without a generator
                stack.append(argument)
            elif type(argument) not in _PLAIN:
                stack.extend(inputs_of(argument))


class UnrecordedGraph:
    """The graph dask computes a lazy value with outside a trial (see the module docstring).

    ``seed``: when given, each step is seeded as it would be in a trial of that seed.
    """

    def __init__(self, root: LazyValue, seed: int | None = None) -> None:
        self.seed = seed
        self.graph: dict[Key, GraphNode] = {}
        self._gate: TaskRef | None = None
        result = next((n for n in lazy_values_under(root) if n.needs_a_trial()), None)
        if result is not None:
            # Every task of ours with no input waits for this one, which raises: nothing runs.
            gate = f"needs-a-trial-{root.key}"
            message = needs_a_trial_message(result)
            self.graph[gate] = Task(gate, Evaluation(None, refuse_unrecorded, message))
            self._gate = TaskRef(gate)
        self.convert(root)

    def convert(self, value: Any) -> Any:
        """``value`` as a task's input: lazy values and collections become references."""
        if isinstance(value, LazyValue):
            if value.key not in self.graph:
                task = value.unrecorded_task(value.key, self)
                if self._gate is not None and not task.dependencies:
                    task = Task(task.key, task.func, *task.args, self._gate)
                self.graph[value.key] = task
            return TaskRef(value.key)
        if type(value) in (list, tuple):
            return type(value)(self.convert(item) for item in value)
        if type(value) is dict:
            return {name: self.convert(item) for name, item in value.items()}
        if is_collection(value):
            key, foreign = collection_graph(value)
            self.graph.update(foreign)
            return TaskRef(key)
        return value


def unrecorded_graph(root: LazyValue, seed: int | None = None) -> dict[Key, GraphNode]:
    """The graph dask computes ``root`` with outside a trial."""
    return UnrecordedGraph(root, seed).graph


# --- dask collections inside a trial's graph ---------------------------------------------------


def is_collection(value: Any) -> bool:
    """Whether ``value`` is a dask collection other than a lazy value (cheap for plain data)."""
    return type(value) not in _PLAIN and is_dask_collection(value)


def collection_graph(collection: Any) -> tuple[Key, dict[Key, GraphNode]]:
    """The key and task-spec graph that compute ``collection`` to one value (arrays and
    dataframes are finalized, as ``dask.delayed(collection)`` does)."""
    ref, found = unpack_collections(collection)
    graph: dict[Key, GraphNode] = {}
    for part in found:
        graph.update(_unfused(convert_legacy_graph(dict(part.__dask_graph__()))))
    return ref.key, graph


def _unfused(graph: dict[Key, GraphNode]) -> dict[Key, GraphNode]:
    """``graph`` with the fused subgraphs (dask.array's optimization) that hold tasks of lazy
    values taken apart again, so that a trial can find those tasks and run its own."""
    out: dict[Key, GraphNode] = {}
    fused: list[tuple[Key, GraphNode]] = []
    for key, task in graph.items():
        subgraph = _reused(task)
        if getattr(subgraph, "func", None) is _execute_subgraph:
            fused.append((key, subgraph))
        else:
            out[key] = task
    for key, subgraph in fused:
        inner, outkey, inkeys, *dependencies = subgraph.args  # type: ignore[attr-defined]
        tasks = _unfused(dict(inner))
        if not lazy_values_in(tasks):
            out[key] = graph[key]
            continue
        # The inner tasks replace the aliases dask left pointing at the fused task.
        out.update(tasks)
        for name, dependency in zip(inkeys, dependencies, strict=True):
            if name != getattr(dependency, "key", name):
                out[name] = Alias(name, dependency)
        out[key] = Alias(key, outkey)
    return out


def lazy_values_in(graph: dict[Key, GraphNode]) -> dict[Key, LazyValue]:
    """Key -> lazy value, for the tasks of ``graph`` standing for one."""
    found = {}
    for key, task in graph.items():
        evaluation = _evaluation(task)
        if evaluation is not None and evaluation.node is not None:
            found[key] = evaluation.node
    return found


def _evaluation(task: GraphNode) -> Evaluation | None:
    """The Evaluation ``task`` runs, if any (see :func:`_reused`)."""
    function = getattr(_reused(task), "func", None)
    return function if type(function) is Evaluation else None


def _reused(task: GraphNode) -> GraphNode:
    """The task ``task`` copies, if it is a copy: dask.delayed copies the tasks of a
    collection it is given under new keys, each as ``_identity(<the task>)``."""
    if getattr(task, "func", None) is ProhibitReuse._identity and len(task.args) == 1:  # type: ignore[attr-defined]
        inner = task.args[0]  # type: ignore[attr-defined]
        if isinstance(inner, GraphNode):
            return inner
    return task


def merge_collection(
    collection: Any, graph: dict[Key, GraphNode], convert: Convert, suffix: str
) -> TaskRef:
    """Add ``collection``'s tasks to a trial's ``graph``; return the reference to its value.

    The lazy values the collection was built on become the trial's own tasks (``convert``),
    handed to the collection's tasks as plain values; every task depending on them gets a
    key of this trial (``suffix``), so that trials computed together never share a task
    whose value differs between them. The value carries the traces of those steps, as a
    step's output does (see :mod:`xptrack.application.runtime`).
    """
    key, foreign = collection_graph(collection)
    ours = lazy_values_in(foreign)
    if not ours:
        graph.update(foreign)
        return TaskRef(key)
    renamed = {old: _renamed(old, suffix) for old in foreign}
    steps: list[TaskRef] = []
    for old, node in ours.items():
        converted = convert(node)
        if isinstance(converted, TaskRef):  # a step call or operation: its value, unwrapped
            graph[renamed[old]] = Task(renamed[old], plain_value, converted)
            steps.append(converted)
        else:  # a parameter: the trial's value
            graph[renamed[old]] = DataNode(renamed[old], converted)
    for old, task in foreign.items():
        if _is_gate(task):  # inside a trial the trial check has nothing to refuse
            graph[renamed[old]] = DataNode(renamed[old], None)
        elif old not in ours:
            graph[renamed[old]] = task.substitute(renamed, key=renamed[old])
    joined = _renamed(f"traced-{key}", suffix)
    graph[joined] = Task(joined, with_traces, TaskRef(renamed[key]), *steps)
    return TaskRef(joined)


def plain_value(output: Any) -> Any:
    """The value of a trial task's output, for a task of dask's (not xptrack's) to use; a
    step's failure is raised (the trial fails with it)."""
    if type(output) is StepFailure:
        raise output.error
    return output.value if type(output) is StepOutput else output


def with_traces(value: Any, *outputs: Any) -> StepOutput:
    """``value`` with the traces of the step outputs it was computed from."""
    _, traces, _ = unwrap(outputs)
    return StepOutput(value, traces)


def run_operation(
    key: str, function: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> StepOutput | StepFailure:
    """The task of an operation (``a + 1``, ``call[0]``, ...) in a trial: like a step's, its
    inputs unwrapped and its error passed on as a :class:`StepFailure`."""
    values, traces, failure = unwrap([*args, *kwargs.values()])
    if failure is not None:
        return failure
    try:
        result = function(
            *values[: len(args)], **dict(zip(kwargs, values[len(args) :], strict=True))
        )
    except Exception as error:
        return StepFailure(error, format_error(error), traces)
    return StepOutput(result, traces)


def _is_gate(task: GraphNode) -> bool:
    function = getattr(task, "func", None)
    return (
        type(function) is Evaluation
        and function.node is None
        and (function.run is refuse_unrecorded)
    )


def _renamed(key: Key, suffix: str) -> Key:
    if isinstance(key, tuple):
        return (f"{key[0]}-{suffix}", *key[1:])
    return f"{key}-{suffix}"
