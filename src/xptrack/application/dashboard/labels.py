"""The dashboard's uses of the experiment's own calls: tags and note (its only writes), diff."""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any

from xptrack.application.dashboard.trial_page import record_fields
from xptrack.domain.errors import InvalidArgument, NotFoundError
from xptrack.ports.repositories import ExperimentStore

if TYPE_CHECKING:
    from xptrack.application.experiment import Experiment

_FIELDS = ("add_tags", "remove_tags", "note")


def change_labels(experiment: Experiment, trial_id: int, body: Any) -> None:
    """Apply ``{"add_tags": [...], "remove_tags": [...], "note": "..."}`` to a trial, through
    ``ex.tag``, ``ex.untag`` and ``ex.note``."""
    if not isinstance(body, dict) or not set(body) <= set(_FIELDS):
        raise InvalidArgument(f"labels must be a JSON object with keys {', '.join(_FIELDS)}")
    add, remove = _tags(body, "add_tags"), _tags(body, "remove_tags")
    note = body.get("note")
    if note is not None and not isinstance(note, str):
        raise InvalidArgument(f"note must be text; got {type(note).__name__}")
    tag, untag, set_note = (getattr(experiment, name, None) for name in ("tag", "untag", "note"))
    if not (callable(tag) and callable(untag) and callable(set_note)):
        raise NotFoundError("this version of xptrack cannot label trials (no ex.tag / ex.note)")
    if add:
        tag(trial_id, *add)
    if remove:
        untag(trial_id, *remove)
    if note is not None:
        set_note(trial_id, note)


def _tags(body: dict[str, Any], name: str) -> list[str]:
    tags = body.get(name, [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise InvalidArgument(f"{name} must be a list of texts; got {tags!r:.80}")
    return [t.strip() for t in tags if t.strip()]


def trial_diff(store: ExperimentStore, experiment: Experiment, a: int, b: int) -> dict[str, Any]:
    """``ex.diff(a, b).to_dict()``, with both trials' records to show side by side."""
    records = {str(tid): record_fields(store.get_trial(tid)) for tid in (a, b)}
    answer: dict[str, Any] = {"a": a, "b": b, "trials": records}
    diff = getattr(experiment, "diff", None)
    if callable(diff):
        answer["diff"] = diff(a, b).to_dict()
    else:
        answer["diff"] = {"code": _code_diff(experiment, a, b)}
    return answer


def _code_diff(experiment: Experiment, a: int, b: int) -> str:
    texts = []
    for trial_id in (a, b):
        try:
            texts.append(experiment.get_code(trial_id))
        except NotFoundError:
            texts.append("")
    lines = difflib.unified_diff(
        texts[0].splitlines(keepends=True),
        texts[1].splitlines(keepends=True),
        fromfile=f"trial {a}",
        tofile=f"trial {b}",
    )
    return "".join(lines)
