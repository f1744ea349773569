"""The documents of the MongoDB store: records as BSON-safe fields and back, refusing
anything xptrack did not write; and the update pipelines that remember what they replace
(the indexes are in :mod:`~xptrack.adapters.mongo_indexes`).

Only persisted step outputs (a user's own bytes) are BSON binary; every other field
is the JSON-compatible data of :mod:`xptrack.adapters.serialization`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bson.int64 import Int64

from xptrack.adapters.serialization import TAG
from xptrack.adapters.trial_columns_codec import HISTORY_FIELDS, VERBOSE_FIELDS
from xptrack.adapters.trial_parts import joined_document, joined_trial, split_trial
from xptrack.domain.errors import CorruptRecord
from xptrack.domain.trial import TrialRecord

Document = dict[str, Any]
#: The categories of documents that belong to one trial (they carry its ``trial_id``).
TRIAL_CATEGORIES = [
    *("trial", "labels", "output", "code", "environment", "metric", "persist", "persist_chunk"),
    *("step_cache", "step_cache_chunk"),
]
_JSON_SCALARS = (str, int, float, bool, type(None))


def _plain_key(key: str) -> bool:
    return bool(key) and key[0] != "$" and "." not in key and "\x00" not in key and key != TAG


def bson_safe(data: Any) -> Any:
    """Encoded data (from ``encode_value``) with every mapping MongoDB could misread
    (keys with '.', a leading '$', NUL or empty) in the tagged pair form that
    ``decode_value`` reads back to the same dict."""
    if isinstance(data, list):
        return [bson_safe(item) for item in data]
    if not isinstance(data, dict):
        return data
    if TAG in data:  # a tagged value: its own keys are plain
        return {key: bson_safe(value) for key, value in data.items()}
    return bson_safe_mapping(data)


def bson_safe_mapping(mapping: Mapping[str, Any]) -> Document:
    """A str-keyed mapping of encoded values as a sub-document, or in the pair form when
    a key could be misread (a parameter named ``model.lr``, say)."""
    if all(_plain_key(key) for key in mapping):
        return {key: bson_safe(value) for key, value in mapping.items()}
    return {TAG: "dict", "v": [[key, bson_safe(value)] for key, value in mapping.items()]}


def json_data(data: Any, what: str) -> Any:
    """``data`` as read from BSON, as plain JSON-compatible values (BSON's Int64 becomes
    int); CorruptRecord for anything else (binary, dates, code: nothing xptrack writes)."""
    kind = type(data)
    if kind is dict:
        if not all(type(key) is str for key in data):
            raise CorruptRecord(f"stored {what} has non-text keys: not written by xptrack")
        return {key: json_data(value, what) for key, value in data.items()}
    if kind is list:
        return [json_data(item, what) for item in data]
    if kind is Int64:
        return int(data)
    if kind in _JSON_SCALARS:
        return data
    raise CorruptRecord(f"stored {what} holds a {kind.__name__}, not xptrack's JSON data; refused")


def _parameter_mapping(stored: dict[str, Any]) -> dict[str, Any]:
    """Parameter name -> encoded value, from a plain sub-document or the pair form."""
    if TAG not in stored:
        return stored
    pairs = stored.get("v")
    if stored.get(TAG) != "dict" or not isinstance(pairs, list):
        raise CorruptRecord("stored parameters are not in xptrack's format")
    if not all(isinstance(p, list) and len(p) == 2 and isinstance(p[0], str) for p in pairs):
        raise CorruptRecord("stored parameters are not in xptrack's format")
    return dict(pairs)


def trial_fields(record: TrialRecord) -> Document:
    """The ``parameter`` and ``history`` fields of a trial document."""
    parameters, history = split_trial(record)
    return {"parameter": bson_safe_mapping(parameters), "history": bson_safe(history)}


def _trial_parts(document: Mapping[str, Any]) -> tuple[int, dict[str, Any], Any]:
    """(trial id, parameters, history) of a trial document, as JSON-compatible data."""
    parameter, history = document.get("parameter"), document.get("history")
    if not isinstance(parameter, dict) or not isinstance(history, dict):
        trial_id = document.get("trial_id")
        raise CorruptRecord(f"stored trial {trial_id!r} lacks xptrack's parameter/history fields")
    parameters = _parameter_mapping(json_data(parameter, "parameters"))
    return int_field(document, "trial_id"), parameters, json_data(history, "history")


def trial_from_fields(document: Mapping[str, Any]) -> TrialRecord:
    """The record in a trial document; CorruptRecord for anything xptrack did not write."""
    return joined_trial(*_trial_parts(document))


#: What a history table reads of a trial document (steps and tracebacks stay on the server).
COLUMN_PROJECTION = {
    "_id": False,
    "trial_id": True,
    "parameter": True,
    **{f"history.{field}": True for field in (*HISTORY_FIELDS, *VERBOSE_FIELDS, "heartbeat")},
}


def columns_document(document: Mapping[str, Any]) -> dict[str, Any]:
    """A trial document read with :data:`COLUMN_PROJECTION` in ``trial_to_document``'s form
    (the fields a history table reads); CorruptRecord for anything xptrack did not write."""
    return joined_document(*_trial_parts(document))


def text_field(document: Mapping[str, Any], field: str, what: str) -> str:
    """The text in ``field``; CorruptRecord (naming ``what``) when it is anything else."""
    text = document.get(field)
    if not isinstance(text, str):
        raise CorruptRecord(f"stored {what} is a {type(text).__name__}, not text; refused")
    return text


def bytes_field(document: Mapping[str, Any], what: str) -> bytes:
    """The binary ``data`` field; CorruptRecord (naming ``what``) when it is anything else."""
    data = document.get("data")
    if not isinstance(data, bytes):
        raise CorruptRecord(f"stored {what} is a {type(data).__name__}, not binary; refused")
    return data


def int_field(document: Mapping[str, Any] | None, field: str) -> int:
    """The int in ``field`` (0 when there is no document or no field); CorruptRecord
    when it holds anything else."""
    value = 0 if document is None else document.get(field, 0)
    if not isinstance(value, int) or isinstance(value, bool):
        raise CorruptRecord(f"stored {field!r} is {value!r}, not an int")
    return int(value)  # not BSON's Int64: callers get exactly an int


def set_remembering(fields: Mapping[str, Any], **remember: str) -> list[Document]:
    """An update pipeline that first copies each ``remember`` value's field to its name,
    then sets ``fields``: one atomic update whose result also tells what it replaced."""
    copies = {name: f"${field}" for name, field in remember.items()}
    # $literal: a value such as "$x" must be stored as text, not read as a field path.
    return [{"$set": copies}, {"$set": {key: {"$literal": v} for key, v in fields.items()}}]
