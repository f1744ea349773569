"""The use-cases the dashboard shares: tags and note (its only writes), and the diff."""

from __future__ import annotations

from typing import Any

from xptrack.application import management
from xptrack.application.dashboard.trial_page import record_fields
from xptrack.application.diff import diff_trials
from xptrack.domain.errors import InvalidArgument
from xptrack.ports.repositories import ExperimentStore

_FIELDS = ("add_tags", "remove_tags", "note")


def change_labels(store: ExperimentStore, trial_id: int, body: Any) -> None:
    """Apply ``{"add_tags": [...], "remove_tags": [...], "note": "..."}`` to a trial, in one
    atomic change (the use-case behind ``ex.tag``, ``ex.untag`` and ``ex.note``)."""
    if not isinstance(body, dict) or not set(body) <= set(_FIELDS):
        raise InvalidArgument(f"labels must be a JSON object with keys {', '.join(_FIELDS)}")
    store.get_trial(trial_id)  # NotFoundError, saying so, for a trial that is not there
    management.change_labels(
        store,
        trial_id,
        add_tags=_tags(body, "add_tags"),
        remove_tags=_tags(body, "remove_tags"),
        note=body.get("note"),
    )


def _tags(body: dict[str, Any], name: str) -> list[Any]:
    tags = body.get(name, [])
    if not isinstance(tags, list):
        raise InvalidArgument(f"{name} must be a list of tags; got {tags!r:.80}")
    return [t.strip() if isinstance(t, str) else t for t in tags]


def trial_diff(store: ExperimentStore, experiment_id: str, a: int, b: int) -> dict[str, Any]:
    """``ex.diff(a, b).to_dict()`` (the diff use-case), with both trials' records beside it."""
    records = {str(tid): record_fields(store.get_trial(tid)) for tid in (a, b)}
    diff = diff_trials(store, experiment_id, a, b).to_dict()
    return {"a": a, "b": b, "trials": records, "diff": diff}
