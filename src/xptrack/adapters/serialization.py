"""How xptrack turns its records into stored data and back: one mechanism for every store.

Tracker-owned records (trials, metrics, step hashes, code, environment) become
JSON-compatible data that cannot run code when read. Only a user's own objects
(persisted step outputs, parameter values or results with no JSON form) are
pickled, by the user-object codec the application is given (which signs them when a key
is set): :func:`seal_user_objects` turns such an object into its :class:`PickledValue`
before the record is written. An object left in a record is pickled unsigned.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from xptrack.adapters.pickles import pickle_object, pickled_type_name
from xptrack.domain.environment import EnvironmentSnapshot
from xptrack.domain.errors import CorruptRecord, SignatureError, StoreError, UnstorableValue
from xptrack.domain.labels import TrialLabels
from xptrack.domain.metric import MetricSeries
from xptrack.domain.step_cache import CachedOutput
from xptrack.domain.trial import (
    StepRecord,
    TrialRecord,
    TrialStatus,
    describe_error,
    qualified_type_name,
)
from xptrack.domain.user_objects import PickledValue

logger = logging.getLogger(__name__)

#: The key marking a tagged value (a type JSON cannot say by itself).
TAG = "__xptrack__"
_INT64 = 2**63


# --- values of any type a user passes -------------------------------------------------------


def encode_value(value: Any) -> Any:
    """``value`` as JSON-compatible data from which :func:`decode_value` rebuilds it exactly.

    Plain JSON stays plain (so stores stay readable); NaN, infinities, big ints,
    tuples, non-string dict keys, NumPy scalars and datetimes are tagged; anything
    else is pickled as a user object.
    """
    kind = type(value)
    if kind is str:
        return value if value.isascii() or _encodable(value) else _encode_unpaired(value)
    if value is None or kind is bool:
        return value
    if kind is int:
        return value if -_INT64 <= value < _INT64 else {TAG: "int", "v": str(value)}
    if kind is float:
        return value if math.isfinite(value) else {TAG: "float", "v": repr(value)}
    if kind is list:
        return [encode_value(item) for item in value]
    if kind is tuple:
        return {TAG: "tuple", "v": [encode_value(item) for item in value]}
    if kind is dict:
        return _encode_dict(value)
    encoder = _SPECIAL_ENCODERS.get(kind)
    if encoder is not None:
        return encoder(value)
    if kind.__module__ == "numpy" and _is_plain_numpy_number(value):
        return {TAG: "numpy", "dtype": value.dtype.str, "v": encode_value(value.item())}
    return _encode_pickle(qualified_type_name(value), pickle_object(value))


def seal_user_objects(value: Any, dump: Callable[[Any], bytes]) -> Any:
    """``value`` with every object :func:`encode_value` would pickle (at any depth of lists,
    tuples and dicts) replaced by its :class:`PickledValue`, made with ``dump``."""
    kind = type(value)
    if kind is list:
        return [seal_user_objects(item, dump) for item in value]
    if kind is tuple:
        return tuple(seal_user_objects(item, dump) for item in value)
    if kind is dict:
        return {seal_user_objects(k, dump): seal_user_objects(v, dump) for k, v in value.items()}
    if value is None or kind in _PLAIN or kind in _SPECIAL_ENCODERS:
        return value
    if kind.__module__ == "numpy" and _is_plain_numpy_number(value):
        return value
    return PickledValue(qualified_type_name(value), dump(value))


#: Types :func:`encode_value` keeps without a pickle, besides containers and special ones.
_PLAIN = frozenset({str, bool, int, float})


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _encode_unpaired(text: str) -> dict[str, Any]:
    """A text holding lone surrogates (no UTF-8 form, so no BSON or SQL text either), kept
    exactly as the code points of its UTF-16 reading."""
    return {TAG: "surrogates", "v": text.encode("utf-8", "surrogatepass").hex()}


def _is_plain_numpy_number(value: Any) -> bool:
    """A NumPy bool, int, float or complex scalar whose ``item()`` is the Python equivalent
    (long doubles, datetimes and strings are not: they are kept exactly as user objects)."""
    dtype = getattr(value, "dtype", None)
    return (
        dtype is not None
        and getattr(value, "ndim", 1) == 0
        and dtype.kind in "biufc"
        and dtype.itemsize <= (16 if dtype.kind == "c" else 8)
    )


def _encode_dict(value: dict[Any, Any]) -> Any:
    if TAG not in value and all(type(key) is str for key in value):
        return {key: encode_value(item) for key, item in value.items()}
    return {TAG: "dict", "v": [[encode_value(k), encode_value(v)] for k, v in value.items()]}


# --- users' pickles: stored with their type's name, read back as placeholders ---------------


def _encode_pickle(type_name: str, data: bytes) -> dict[str, Any]:
    return {TAG: "pickle", "v": base64.b64encode(data).decode("ascii"), "type": type_name}


def _decode_pickle(data: dict[str, Any]) -> PickledValue:
    """A placeholder of a stored pickle, never the object: unpickling can run code, and only
    the calls that hand the one value to the user load it (``UserObjectCodec.load_pickled``)."""
    payload = base64.b64decode(data["v"], validate=True)
    type_name = data.get("type")
    if type_name is None:  # written before types were recorded, or planted: read the opcodes
        type_name = pickled_type_name(payload)
    if not isinstance(type_name, str):
        raise CorruptRecord(f"stored pickle's type is {type_name!r:.40}, not a name")
    return PickledValue(type_name, payload)


_SPECIAL_ENCODERS: dict[type, Callable[[Any], Any]] = {
    # A placeholder read from a store goes back exactly as it came (a copy never unpickles).
    PickledValue: lambda v: _encode_pickle(v.type_name, v.data),
    dt.datetime: lambda v: {TAG: "datetime", "v": v.isoformat()},
    dt.date: lambda v: {TAG: "date", "v": v.isoformat()},
    dt.timedelta: lambda v: {TAG: "timedelta", "v": [v.days, v.seconds, v.microseconds]},
    bytes: lambda v: {TAG: "bytes", "v": base64.b64encode(v).decode("ascii")},
    complex: lambda v: {TAG: "complex", "v": [repr(v.real), repr(v.imag)]},
}


def decode_value(data: Any) -> Any:
    """The value :func:`encode_value` encoded; CorruptRecord for data it never makes."""
    if isinstance(data, list):
        return [decode_value(item) for item in data]
    if not isinstance(data, dict):
        return data
    tag = data.get(TAG)
    if tag is None:
        return {key: decode_value(item) for key, item in data.items()}
    decoder = _DECODERS.get(tag)
    if decoder is None:
        raise CorruptRecord(f"unknown value tag {tag!r} in stored record")
    try:
        return decoder(data)
    except (KeyError, TypeError, ValueError) as error:
        raise CorruptRecord(f"malformed {tag!r} value in stored record: {error}") from error


def _decode_numpy(data: dict[str, Any]) -> Any:
    import numpy

    return numpy.dtype(data["dtype"]).type(decode_value(data["v"]))


_DECODERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "int": lambda d: int(d["v"]),
    "float": lambda d: float(d["v"]),
    "tuple": lambda d: tuple(decode_value(item) for item in d["v"]),
    "dict": lambda d: {decode_value(k): decode_value(v) for k, v in d["v"]},
    "datetime": lambda d: dt.datetime.fromisoformat(d["v"]),
    "date": lambda d: dt.date.fromisoformat(d["v"]),
    "timedelta": lambda d: dt.timedelta(*d["v"]),
    "bytes": lambda d: base64.b64decode(d["v"]),
    "complex": lambda d: complex(float(d["v"][0]), float(d["v"][1])),
    "numpy": _decode_numpy,
    "pickle": _decode_pickle,
    "surrogates": lambda d: bytes.fromhex(d["v"]).decode("utf-8", "surrogatepass"),
}


# --- trial records ---------------------------------------------------------------------------


def _encode_parameters(parameters: dict[str, Any]) -> dict[str, Any]:
    return {name: encode_value(value) for name, value in parameters.items()}


def _decode_parameters(data: Any, _: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise CorruptRecord(f"stored parameters must be a mapping; got {type(data).__name__}")
    return {str(name): decode_value(value) for name, value in data.items()}


def make_converter() -> cattrs.Converter:
    """The converter between domain records and JSON-compatible documents."""
    # Not detailed: our own errors (CorruptRecord, SignatureError) must come out as they are,
    # not wrapped in an exception group whose message says nothing.
    converter = cattrs.Converter(detailed_validation=False)
    converter.register_unstructure_hook(dt.datetime, lambda v: v.isoformat())
    converter.register_structure_hook(dt.datetime, lambda v, _: dt.datetime.fromisoformat(v))
    # Optional fields are read once per trial per history load: direct hooks, not the
    # generic Optional dispatch (a third of the cost of reading a record).
    for kind in (int, float, str):
        converter.register_structure_hook(kind | None, _optional(kind))
    converter.register_structure_hook(
        dt.datetime | None, lambda v, _: None if v is None else dt.datetime.fromisoformat(v)
    )
    converter.register_unstructure_hook(
        TrialRecord,
        make_dict_unstructure_fn(
            TrialRecord,
            converter,
            parameters=override(unstruct_hook=_encode_parameters),
            result=override(unstruct_hook=encode_value),
            # Tuples as lists: JSON and BSON both keep arrays, and neither has a tuple.
            steps=override(unstruct_hook=lambda steps: [_step_document(s) for s in steps]),
            # Labels are stored apart (see trial labels below): never in the record.
            tags=override(omit=True),
            note=override(omit=True),
        ),
    )
    converter.register_structure_hook(
        TrialRecord,
        make_dict_structure_fn(
            TrialRecord,
            converter,
            parameters=override(struct_hook=_decode_parameters),
            result=override(struct_hook=lambda v, _: decode_value(v)),
            tags=override(omit=True),
            note=override(omit=True),
        ),
    )
    # A stored "succeeded" (the name before "finished") reads as FINISHED: TrialStatus says so.
    converter.register_structure_hook(TrialStatus, lambda v, _: TrialStatus(v))
    return converter


def _step_document(step: StepRecord) -> dict[str, Any]:
    return {
        "name": step.name,
        "started": step.started.isoformat(),
        "finished": step.finished.isoformat(),
        "cached_from": step.cached_from,
    }


def _optional(kind: type) -> Any:
    def structure(value: Any, _: Any) -> Any:
        return value if value is None or type(value) is kind else kind(value)

    return structure


CONVERTER = make_converter()


def trial_to_document(record: TrialRecord) -> dict[str, Any]:
    """``record`` as a JSON-compatible dict (the form every store keeps)."""
    document: dict[str, Any] = CONVERTER.unstructure(record)
    return document


def trial_from_document(document: Any) -> TrialRecord:
    """The record in ``document``; CorruptRecord when it is not one xptrack wrote."""
    try:
        return CONVERTER.structure(document, TrialRecord)
    except StoreError:  # CorruptRecord, SignatureError: they already say what is wrong
        raise
    except Exception as error:
        raise CorruptRecord(f"stored trial record is not in xptrack's format: {error}") from error


def trial_to_json(record: TrialRecord) -> str:
    """``record`` as JSON text."""
    return dump_json(trial_to_document(record))


def trial_from_json(text: str | bytes) -> TrialRecord:
    """The record in JSON ``text``; CorruptRecord for anything else (a planted pickle, say)."""
    return trial_from_document(load_json(text))


# --- trial labels: tags and note, stored apart from the record -------------------------------


def labels_of(record: TrialRecord) -> TrialLabels:
    """The labels ``record`` carries."""
    return TrialLabels(record.tags, record.note)


def labelled(record: TrialRecord, labels: TrialLabels | None) -> TrialRecord:
    """``record`` carrying ``labels`` (none stored: no tags, empty note)."""
    labels = labels or TrialLabels()
    return attrs.evolve(record, tags=labels.tags, note=labels.note)


def labels_to_document(labels: TrialLabels) -> dict[str, Any]:
    """``labels`` as JSON-compatible data."""
    return {"tags": list(labels.tags), "note": labels.note}


def labels_from_document(document: Any) -> TrialLabels:
    """The labels in ``document``; CorruptRecord when it is not what xptrack writes."""
    tags = document.get("tags") if isinstance(document, dict) else None
    note = document.get("note") if isinstance(document, dict) else None
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise CorruptRecord(f"stored trial labels are not in xptrack's format: {document!r:.80}")
    if not isinstance(note, str):
        raise CorruptRecord(f"stored trial note is a {type(note).__name__}, not text")
    return TrialLabels(tuple(tags), note)


def labels_to_json(labels: TrialLabels) -> str:
    """``labels`` as JSON text."""
    return dump_json(labels_to_document(labels))


def labels_from_json(text: str | bytes) -> TrialLabels:
    """The labels in JSON ``text``; CorruptRecord for anything else."""
    return labels_from_document(load_json(text))


# --- JSON text -------------------------------------------------------------------------------


def dump_json(data: Any) -> str:
    """Strict JSON text (NaN and infinities are tagged by :func:`encode_value`, never bare)."""
    try:
        text = json.dumps(data, allow_nan=False, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError) as error:
        raise UnstorableValue(f"cannot store record as JSON: {error}") from error
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: JSON's \ud800 escapes keep it exactly
            text = json.dumps(data, allow_nan=False, separators=(",", ":"), ensure_ascii=True)
    return text


def load_json(text: str | bytes) -> Any:
    """The data in JSON ``text``; CorruptRecord when it is not JSON (never unpickled)."""
    try:
        return json.loads(text)
    except (TypeError, ValueError) as error:
        preview = text[:40] if isinstance(text, (str, bytes)) else type(text).__name__
        raise CorruptRecord(
            f"stored record is not JSON ({error}); starts with {preview!r}"
        ) from error


def load_json_values(texts: Sequence[str | bytes]) -> list[Any]:
    """The JSON value of each of ``texts``, parsed in one call (many small records parse several
    times faster so); CorruptRecord when one is not exactly one JSON value."""
    joined = b",".join(text.encode() if isinstance(text, str) else bytes(text) for text in texts)
    values = load_json(b"[" + joined + b"]")
    if not isinstance(values, list) or len(values) != len(texts):
        raise CorruptRecord("a stored record is not one JSON value")
    return list(values)


# --- metric points ---------------------------------------------------------------------------

#: Points per stored chunk, in every store: few rows, documents or list elements per long
#: series, each far from any size limit (about 2 MB of JSON for ordinary numbers).
CHUNK_POINTS = 50_000


def metric_rows(batch: Iterable[tuple[int, str, MetricSeries]]) -> list[tuple[int, str, str]]:
    """A batch of ``append_metrics`` as (trial id, key, chunk text) rows, in order: each series
    cut into chunks of at most :data:`CHUNK_POINTS` points (an empty one gives none)."""
    return [
        (trial_id, key, chunk)
        for trial_id, key, series in batch
        for chunk in encode_metric_chunks(series)
    ]


def encode_metric_chunks(series: MetricSeries) -> list[str]:
    """``series`` as the texts of chunks of at most :data:`CHUNK_POINTS` points each."""
    return [encode_metric_chunk(part) for part in split_series(series)]


def split_series(series: MetricSeries, size: int = CHUNK_POINTS) -> list[MetricSeries]:
    """``series`` in consecutive pieces of at most ``size`` points."""
    return [
        MetricSeries(series.epochs[i : i + size], series.values[i : i + size])
        for i in range(0, len(series), size)
    ]


def encode_metric_chunk(series: MetricSeries) -> str:
    """A batch of points as JSON text ``[[epochs...], [values...]]`` (NaN/Infinity allowed)."""
    return json.dumps([series.epochs, series.values], separators=(",", ":"))


def decode_metric_chunks(chunks: Iterable[str | bytes]) -> MetricSeries:
    """The points of several chunks, in order, as one series (how every store loads a metric)."""
    series = MetricSeries()
    for chunk in chunks:
        series.extend(decode_metric_chunk(chunk))
    return series


def decode_metric_chunk(text: str | bytes) -> MetricSeries:
    """The points of one chunk written by :func:`encode_metric_chunk`."""
    try:
        epochs, values = json.loads(text)
    except (TypeError, ValueError) as error:
        raise CorruptRecord(f"stored metric chunk is not in xptrack's format: {error}") from error
    if not (isinstance(epochs, list) and isinstance(values, list)) or len(epochs) != len(values):
        raise CorruptRecord("stored metric chunk has epochs and values of different lengths")
    # Integer values come back as ints (JSON keeps them apart from floats), the rest as floats.
    return MetricSeries(epochs, [v if type(v) is int else float(v) for v in values])


# --- one unreadable record isolated to its trial ----------------------------------------------

#: The start shown for a trial whose record cannot be read (its real start is in that record).
UNREADABLE_START = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def unreadable_trial(trial_id: int, error: StoreError) -> TrialRecord:
    """The row a bulk read gives for a trial whose stored record xptrack cannot read (damaged,
    foreign, planted): failed, its ``Description`` naming the problem, so that every other
    trial reads as usual. A read of that one trial still raises ``error``."""
    return TrialRecord(
        trial_id,
        {},
        UNREADABLE_START,
        status=TrialStatus.FAILED,
        description=f"unreadable record: {describe_error(error)}",
    )


def read_trial_isolated(trial_id: int, read: Callable[[], TrialRecord]) -> TrialRecord:
    """``read()``, or :func:`unreadable_trial` when it finds the record is not xptrack's."""
    try:
        return read()
    except (CorruptRecord, SignatureError) as error:  # the record is at fault, not the store
        logger.warning("Trial %s has an unreadable record: %s", trial_id, error)
        return unreadable_trial(trial_id, error)


# --- environments and cached step outputs ---------------------------------------------------


def environment_to_json(snapshot: EnvironmentSnapshot) -> str:
    """``snapshot`` as one JSON text (its categories in order, each text exact)."""
    return dump_json(dict(snapshot.categories))


def environment_from_json(text: str | bytes) -> EnvironmentSnapshot:
    """The snapshot in JSON ``text``; CorruptRecord for anything else."""
    data = load_json(text)
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise CorruptRecord("stored environment is not a mapping of category to text")
    return EnvironmentSnapshot(data)


def cached_output_to_bytes(output: CachedOutput) -> bytes:
    """``output`` as one value: its trial id, a newline, its bytes."""
    return b"%d\n" % output.trial_id + bytes(output.data)


def cached_output_from_bytes(value: bytes, step: str) -> CachedOutput:
    """The cached output of ``step`` in ``value``; CorruptRecord for anything else."""
    header, newline, data = value.partition(b"\n")
    if not newline or not header.isdigit():
        raise CorruptRecord(f"cached output of step {step!r} has no trial id: {value[:40]!r}")
    return CachedOutput(int(header), data)
