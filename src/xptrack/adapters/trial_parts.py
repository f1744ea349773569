"""A trial record as the seed's two records, its parameters and its history, and back.

The seed keeps a trial in two parts (Redis: ``<id>:parameter:<n>`` and ``<id>:history:<n>``;
MongoDB: the ``parameter`` and ``history`` fields of the trial document). Both stores split
and join a record here, so that what goes in which part is decided once; each store only
encodes the parts its own way (JSON text, BSON-safe sub-documents).
"""

from __future__ import annotations

from typing import Any

from xptrack.adapters.serialization import trial_from_document, trial_to_document
from xptrack.domain.errors import CorruptRecord
from xptrack.domain.trial import TrialRecord


def split_trial(record: TrialRecord) -> tuple[dict[str, Any], dict[str, Any]]:
    """``record`` as (parameters, history): the encoded parameter values by name, and the
    rest of the record's JSON-compatible form without the trial id (the key carries it)."""
    history = trial_to_document(record)
    history.pop("trial_id")
    return history.pop("parameters"), history


def joined_document(trial_id: int, parameters: Any, history: Any) -> dict[str, Any]:
    """The record's JSON-compatible form (``trial_to_document``'s) from its two parts as
    read; CorruptRecord when the history is not an object."""
    if not isinstance(history, dict):
        raise CorruptRecord(f"history of trial {trial_id} is not a JSON object")
    return {**history, "trial_id": trial_id, "parameters": parameters}


def joined_trial(trial_id: int, parameters: Any, history: Any) -> TrialRecord:
    """The record of ``trial_id`` from its two parts as read; CorruptRecord for anything
    xptrack did not write."""
    return trial_from_document(joined_document(trial_id, parameters, history))
