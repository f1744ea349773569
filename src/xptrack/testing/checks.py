"""Asking a store and the model the same question and comparing the answers."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import attrs

from xptrack.domain.errors import NotFoundError
from xptrack.ports.repositories import ExperimentStore
from xptrack.testing.compare import show, value_difference
from xptrack.testing.model import ModelStore


@attrs.frozen
class Found:
    """A call returned ``value``."""

    value: Any


@attrs.frozen
class Missing:
    """A call raised NotFoundError."""

    error: NotFoundError = attrs.field(eq=False)


Answer = Found | Missing


def answer(call: Callable[[], Any]) -> Answer:
    """What ``call`` gave: its value, or the NotFoundError it raised (anything else propagates)."""
    try:
        return Found(call())
    except NotFoundError as error:
        return Missing(error)


def answer_difference(expected: Answer, actual: Answer, call: str) -> str | None:
    """None when the store answered ``call`` as the model did; else what went wrong."""
    if isinstance(expected, Missing):
        if isinstance(actual, Missing):
            return None
        return (
            f"{call} returned {show(actual.value)}, but nothing was saved there "
            "(expected NotFoundError)"
        )
    if isinstance(actual, Missing):
        return f"{call} raised NotFoundError({actual.error}), but {show(expected.value)} was saved"
    return value_difference(expected.value, actual.value, call)


def guarantee(method: str) -> str:
    """The guarantee the port states for ``method``: the first paragraph of its docstring,
    on one line."""
    doc = getattr(ExperimentStore, method).__doc__ or ""
    paragraph = doc.strip().split("\n\n")[0]
    return " ".join(line.strip() for line in paragraph.splitlines())


def agree(model: ExperimentStore, store: ExperimentStore, method: str, *args: Any) -> Any:
    """Call ``method`` on the model and the store; AssertionError unless they answer alike.

    Returns the store's answer (its value, or the NotFoundError it raised).
    """
    expected = answer(lambda: getattr(model, method)(*args))
    actual = answer(lambda: getattr(store, method)(*args))
    # Messages start with the path they are given; the call is spelled out only on failure.
    difference = answer_difference(expected, actual, "@")
    if difference is not None:
        call = f"{method}({', '.join(show(arg) for arg in args)})"
        raise AssertionError(f"{call}{difference[1:]}\n  the port's guarantee: {guarantee(method)}")
    return actual.value if isinstance(actual, Found) else actual.error


def assert_same_contents(model: ModelStore, store: ExperimentStore) -> None:
    """AssertionError unless ``store`` holds exactly what the :class:`ModelStore` holds.

    Step hashes are read by swapping in the hash already stored, which changes nothing.
    """
    agree(model, store, "last_trial_id")
    agree(model, store, "list_trials")
    for trial_id in range(1, model.last_id + 2):
        for method in ("get_trial", "metric_keys", "list_persisted", "load_code", "load_output"):
            agree(model, store, method, trial_id)
        agree(model, store, "load_environment", trial_id)
    for trial_id, key in sorted(model.metrics):
        agree(model, store, "load_metric", trial_id, key)
    for step, trial_id in sorted(model.persisted):
        agree(model, store, "load_persisted", step, trial_id)
    for (step, input_hash), output_hash in sorted(model.step_hashes.items()):
        agree(model, store, "swap_step_hash", step, input_hash, output_hash)


def assert_empty(store: ExperimentStore, trial_ids: range) -> None:
    """AssertionError unless ``store`` holds nothing for any of ``trial_ids``."""
    assert store.last_trial_id() == 0, f"last_trial_id() is {store.last_trial_id()}, expected 0"
    assert store.list_trials() == [], "list_trials() of an empty store is not empty"
    for trial_id in trial_ids:
        assert store.metric_keys(trial_id) == [], f"metric_keys({trial_id}) of an empty store"
        assert store.list_persisted(trial_id) == [], f"list_persisted({trial_id}) of an empty store"
        for name, read in _READS.items():
            outcome = answer(functools.partial(read, store, trial_id))
            assert isinstance(outcome, Missing), (
                f"{name}({trial_id}) of an empty store returned {show(outcome)}; "
                "expected NotFoundError"
            )


_READS: dict[str, Callable[[ExperimentStore, int], Any]] = {
    "get_trial": lambda store, trial_id: store.get_trial(trial_id),
    "load_metric": lambda store, trial_id: store.load_metric(trial_id, "loss"),
    "load_persisted": lambda store, trial_id: store.load_persisted("features", trial_id),
    "load_code": lambda store, trial_id: store.load_code(trial_id),
    "load_environment": lambda store, trial_id: store.load_environment(trial_id),
    "load_output": lambda store, trial_id: store.load_output(trial_id),
}
