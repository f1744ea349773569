"""Use-case: compare two trials of an experiment (``ex.diff(a, b)``, ``xptrack diff``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from xptrack.domain.diffing import (
    Change,
    code_changes,
    package_changes,
    same_value,
    text_diff,
    value_changes,
)
from xptrack.domain.environment import CATEGORY_FORMATS, EnvironmentSnapshot
from xptrack.domain.errors import CorruptRecord, NotFoundError
from xptrack.domain.trial import TrialRecord
from xptrack.domain.trial_diff import EnvironmentChange, TrialDiff
from xptrack.ports.repositories import ExperimentStore

#: Git facts a diff reports (the working-tree patch itself is left to ``get_environment``).
GIT_FACTS = ("repository", "commit", "branch", "dirty")
_T = TypeVar("_T")


def diff_trials(store: ExperimentStore, experiment_id: str, a: int, b: int) -> TrialDiff:
    """The :class:`TrialDiff` of trials ``a`` and ``b`` (NotFoundError when one is missing)."""
    first, second = store.get_trial(a), store.get_trial(b)
    notes: list[str] = []
    code = _both(store.load_code, a, b, "code", notes)
    environments = _both(store.load_environment, a, b, "environment", notes)
    environment, packages, git = {}, package_changes("", ""), {}
    if environments is not None:
        environment = environment_changes(*environments, a, b)
        packages = package_changes(*(e.categories.get("requirements", "") for e in environments))
        git = value_changes(*(_git_facts(e) for e in environments))
    return TrialDiff(
        experiment_id,
        a,
        b,
        parameters=value_changes(first.parameters, second.parameters),
        seed=_change(first.seed, second.seed),
        result=_change(first.result, second.result),
        status=_change(status_of(first), status_of(second)),
        error=_change(first.description, second.description),
        code=code_changes(*code, a, b) if code is not None else {},
        environment=environment,
        packages=packages,
        git=git,
        notes=tuple(notes),
    )


def status_of(record: TrialRecord) -> str:
    """The status a reader reports for ``record`` (``finished``, ``failed``, ``interrupted``...)."""
    return str(record.effective_status().value)


def environment_changes(
    first: EnvironmentSnapshot, second: EnvironmentSnapshot, a: int, b: int
) -> dict[str, EnvironmentChange]:
    """Category -> what changed, for every category but ``requirements`` and ``git`` (which
    the diff reports as packages and git facts)."""
    changes: dict[str, EnvironmentChange] = {}
    for category in CATEGORY_FORMATS:
        if category in ("requirements", "git"):
            continue
        before, after = first.categories.get(category, ""), second.categories.get(category, "")
        if before == after:
            continue
        parsed = _json_object(before), _json_object(after)
        if CATEGORY_FORMATS[category] == "json" and None not in parsed:
            changed: EnvironmentChange = value_changes(*parsed)  # type: ignore[arg-type]
        else:
            changed = text_diff(before, after, category, a, b)
        if changed:
            changes[category] = changed
    return changes


def _change(before: Any, after: Any) -> Change | None:
    return None if same_value(before, after) else Change(before, after)


def _both(
    load: Callable[[int], _T], a: int, b: int, what: str, notes: list[str]
) -> tuple[_T, _T] | None:
    """``load(a), load(b)``, or None with a note saying which trial has no such record."""
    loaded = []
    for trial_id in (a, b):
        try:
            loaded.append(load(trial_id))
        except (NotFoundError, CorruptRecord) as error:
            notes.append(f"{what} of trial {trial_id} not compared: {error}")
    return (loaded[0], loaded[1]) if len(loaded) == 2 else None


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _git_facts(snapshot: EnvironmentSnapshot) -> dict[str, Any]:
    state = _json_object(snapshot.categories.get("git", "")) or {}
    return {fact: state[fact] for fact in GIT_FACTS if fact in state}
