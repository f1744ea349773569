"""One trial as its page shows it: everything recorded, in readable form, never unpickled."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any, TypeVar

from xptrack.application.dashboard.values import describe_pickle, jsonable, trial_summary
from xptrack.domain.environment import CATEGORY_FORMATS, EnvironmentSnapshot
from xptrack.domain.errors import NotFoundError
from xptrack.domain.trial import StepRecord, TrialRecord
from xptrack.ports.repositories import ExperimentStore

T = TypeVar("T")
#: How far back to look for the previous trial's packages (ids may have gaps).
_LOOKBACK = 20


def trial_detail(store: ExperimentStore, trial_id: int) -> dict[str, Any]:
    """The JSON of ``GET /api/experiments/{id}/trials/{n}``; NotFoundError for no such trial."""
    record = store.get_trial(trial_id)
    environment = _optional(lambda: store.load_environment(trial_id))
    previous = _previous_environment(store, trial_id)
    return {
        **record_fields(record),
        "output": _optional(lambda: store.load_output(trial_id)),
        "steps": [_step(step) for step in record.steps],
        "metrics": _metrics(store, trial_id),
        "persisted": _persisted(store, trial_id),
        "code": _optional(lambda: store.load_code(trial_id)),
        "environment": readable_environment(environment) if environment else None,
        "packages": _packages(environment, previous),
    }


def record_fields(record: TrialRecord) -> dict[str, Any]:
    """What a trial record itself says, JSON-ready."""
    return {
        **trial_summary(record),
        "traceback": record.traceback,
        "heartbeat": jsonable(record.heartbeat),
    }


def _optional(read: Callable[[], T]) -> T | None:
    try:
        return read()
    except NotFoundError:
        return None


def _step(step: StepRecord) -> dict[str, Any]:
    return {
        "name": step.name,
        "started": jsonable(step.started),
        "finished": jsonable(step.finished),
        "duration": step.duration.total_seconds(),
        "cached_from": step.cached_from,
    }


def _metrics(store: ExperimentStore, trial_id: int) -> list[dict[str, Any]]:
    found = []
    for key in store.metric_keys(trial_id):
        series = _optional(lambda key=key: store.load_metric(trial_id, key))  # type: ignore[misc]
        if series is None or not series.values:
            continue
        found.append(
            {
                "key": key,
                "points": len(series),
                "last": jsonable(series.values[-1]),
                "last_epoch": series.epochs[-1],
            }
        )
    return found


def _persisted(store: ExperimentStore, trial_id: int) -> list[dict[str, Any]]:
    found = []
    for step in store.list_persisted(trial_id):
        data = _optional(lambda step=step: store.load_persisted(step, trial_id))  # type: ignore[misc]
        if data is not None:
            found.append({"step": step, "repr": describe_pickle(data), "bytes": len(data)})
    return found


def _previous_environment(store: ExperimentStore, trial_id: int) -> EnvironmentSnapshot | None:
    for earlier in range(trial_id - 1, max(0, trial_id - 1 - _LOOKBACK), -1):
        snapshot = _optional(lambda earlier=earlier: store.load_environment(earlier))  # type: ignore[misc]
        if snapshot is not None:
            return snapshot
    return None


def readable_environment(snapshot: EnvironmentSnapshot) -> dict[str, str]:
    """Category -> text a person reads: JSON categories as indented ``key: value`` lines."""
    readable = {}
    for category, text in snapshot.categories.items():
        if category == "requirements":
            continue  # shown as the package list
        if CATEGORY_FORMATS.get(category) == "json":
            with contextlib.suppress(ValueError):
                text = "\n".join(_lines(json.loads(text)))
        readable[category] = text
    return readable


def _lines(value: Any, indent: str = "") -> list[str]:
    if isinstance(value, dict):
        lines = []
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item:
                lines.append(f"{indent}{key}:")
                lines.extend(_lines(item, indent + "  "))
            else:
                lines.append(f"{indent}{key}: {_scalar(item)}")
        return lines
    if isinstance(value, list):
        return [line for item in value for line in _lines(item, indent + "- ")]
    return [f"{indent}{_scalar(value)}"]


def _scalar(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, (dict, list)):
        return "(none)"
    return str(value)


def _packages(
    current: EnvironmentSnapshot | None, previous: EnvironmentSnapshot | None
) -> dict[str, Any] | None:
    if current is None or "requirements" not in current.categories:
        return None
    now = _requirements(current)
    before = _requirements(previous) if previous is not None else None
    changes: dict[str, Any] = {"added": [], "removed": [], "changed": []}
    if before is not None:
        changes["added"] = sorted(f"{n}=={v}" for n, v in now.items() if n not in before)
        changes["removed"] = sorted(f"{n}=={v}" for n, v in before.items() if n not in now)
        changes["changed"] = [
            {"name": name, "before": before[name], "after": now[name]}
            for name in sorted(now)
            if name in before and before[name] != now[name]
        ]
    return {
        "list": current["requirements"].splitlines(),
        "compared": before is not None,
        **changes,
    }


def _requirements(snapshot: EnvironmentSnapshot) -> dict[str, str]:
    found = {}
    for line in snapshot.categories.get("requirements", "").splitlines():
        name, _, version = line.partition("==")
        if name.strip():
            found[name.strip().lower()] = version.strip()
    return found
