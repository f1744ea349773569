"""Serialization: exact round trips of user values, JSON-only tracker records, signed pickles."""

from __future__ import annotations

import datetime as dt
import json
import math
import pickle

import attrs
import numpy as np
import pytest

from xptrack.adapters.serialization import (
    decode_metric_chunk,
    decode_value,
    dump_json,
    encode_metric_chunk,
    encode_value,
    labelled,
    labels_from_json,
    labels_of,
    labels_to_json,
    load_json,
    trial_from_json,
    trial_to_json,
)
from xptrack.application.bootstrap import user_object_codec
from xptrack.domain.metric import MetricSeries
from xptrack.domain.trial import StepRecord, TrialRecord, TrialStatus
from xptrack.domain.user_objects import PickledValue
from xptrack.errors import CorruptRecord, SignatureError, UnstorableValue


class Opaque:
    def __init__(self, x):
        self.x = x

    def __eq__(self, other):
        return isinstance(other, Opaque) and other.x == self.x


VALUES = [
    0,
    -1,
    2**63,
    -(2**63) - 1,
    10**40,
    1.5,
    -0.0,
    math.inf,
    -math.inf,
    "",
    "ünï",
    "lone \ud800 surrogate",
    None,
    True,
    [1, [2, "x"]],
    (1, (2,)),
    {"a": {"b": [1]}},
    {1: "int key"},
    {"__xptrack__": "not a tag"},
    np.float32(1.25),
    np.int8(-3),
    np.bool_(False),
    dt.datetime(2026, 1, 2, 3, 4, 5),
    dt.datetime(2026, 1, 2, tzinfo=dt.timezone.utc),
    dt.date(2026, 1, 2),
    dt.timedelta(seconds=3),
    b"\x00\x80",
    1 + 2j,
    Opaque(3),
]


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_values_round_trip_exactly_through_json_text(value):
    back = user_object_codec().load_pickled(decode_value(load_json(dump_json(encode_value(value)))))
    assert back == value and type(back) is type(value)


def test_nan_round_trips_as_nan():
    assert math.isnan(decode_value(load_json(dump_json(encode_value(math.nan)))))


def test_plain_json_values_stay_readable_in_the_store():
    assert encode_value({"a": [1, "x", None]}) == {"a": [1, "x", None]}


def test_trial_record_json_has_no_pickle_for_plain_values():
    record = TrialRecord(1, {"a": 1}, dt.datetime.now(dt.timezone.utc)).succeeded(
        2, dt.datetime.now(dt.timezone.utc), 1.0
    )
    text = trial_to_json(record)
    assert json.loads(text)["result"] == 2
    assert trial_from_json(text) == record


def test_heartbeat_traceback_and_steps_round_trip_and_labels_stay_out_of_the_record():
    now = dt.datetime.now(dt.timezone.utc)
    steps = [StepRecord("prepare", now, now + dt.timedelta(seconds=1), cached_from=4)]
    record = TrialRecord(
        3, {"a": 1}, now, seed=2, heartbeat=now, tags=("best",), note="ü\nnote"
    ).failed(ValueError("boom"), now, 1.0, "Traceback (most recent call last):\n...", steps)
    text = trial_to_json(record)
    again = trial_from_json(text)
    # Tags and note are stored apart (labels_to_json), so a re-save never overwrites them.
    assert "tags" not in json.loads(text) and "note" not in json.loads(text)
    assert again == attrs.evolve(record, tags=(), note="")
    assert again.steps[0].duration == dt.timedelta(seconds=1)
    labels = labels_from_json(labels_to_json(labels_of(record)))
    assert labelled(again, labels) == record


def test_a_stored_succeeded_status_reads_as_finished_and_old_records_get_defaults():
    now = dt.datetime.now(dt.timezone.utc)
    document = json.loads(trial_to_json(TrialRecord(1, {}, now).succeeded(2, now, 1.0)))
    document["status"] = "succeeded"
    for field in ("heartbeat", "traceback", "steps"):
        del document[field]
    record = trial_from_json(json.dumps(document))
    assert record.status is TrialStatus.FINISHED and record.success
    assert (record.heartbeat, record.traceback, record.steps, record.tags, record.note) == (
        None,
        None,
        (),
        (),
        "",
    )


def test_a_pickle_where_a_record_belongs_is_refused_not_loaded(tmp_path):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    with pytest.raises(CorruptRecord, match="not JSON"):
        trial_from_json(pickle.dumps(Exploit()))
    assert not marker.exists()


def test_a_foreign_json_document_is_a_corrupt_record():
    with pytest.raises(CorruptRecord, match="format"):
        trial_from_json('{"hello": 1}')


def test_unknown_tag_is_a_corrupt_record():
    with pytest.raises(CorruptRecord, match="unknown value tag"):
        decode_value({"__xptrack__": "bogus"})


def test_unpicklable_value_is_refused_with_the_reason():
    with pytest.raises(UnstorableValue, match="pickling it failed"):
        encode_value(lambda: 1)


def test_metric_chunks_keep_nan_and_infinities():
    series = MetricSeries([3, 1, 1], [math.nan, math.inf, -1.0])
    assert decode_metric_chunk(encode_metric_chunk(series)) == series


def test_signed_user_objects(monkeypatch):
    unsigned = user_object_codec().dump({"w": 1})
    monkeypatch.setenv("XPTRACK_SIGNING_KEY", "k1")
    signed = user_object_codec().dump({"w": 1})
    assert user_object_codec().load(signed) == {"w": 1}
    with pytest.raises(SignatureError, match="not signed"):
        user_object_codec().load(unsigned)
    tampered = signed[:-2] + bytes([signed[-2] ^ 1]) + signed[-1:]
    with pytest.raises(SignatureError, match="does not match"):
        user_object_codec().load(tampered)
    monkeypatch.setenv("XPTRACK_SIGNING_KEY", "another key")
    with pytest.raises(SignatureError):
        user_object_codec().load(signed)


# --- users' pickles are read as placeholders, loaded only on demand -------------------------


class Planted:
    """Unpickling this creates ``path``: what a malicious pickle would do, harmlessly."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (type(self.path).touch, (self.path,))


def test_a_stored_pickle_reads_as_a_placeholder_and_only_load_unpickles_it(tmp_path):
    marker = tmp_path / "unpickled"
    encoded = load_json(dump_json(encode_value({"model": Opaque(1), "planted": Planted(marker)})))

    decoded = decode_value(encoded)

    assert repr(decoded["model"]) == f"<pickled {Opaque.__module__}.Opaque, 68 bytes>"
    assert str(decoded["planted"]).startswith(f"<pickled {Planted.__module__}.Planted, ")
    assert not marker.exists()
    assert encode_value(decoded) == encoded  # copied on without being unpickled
    assert user_object_codec().load(decoded["model"].data) == Opaque(1)
    user_object_codec().load_pickled(decoded)
    assert marker.exists()


@pytest.mark.parametrize(
    ("value", "shown"),
    [(Opaque(2), f"{Opaque.__module__}.Opaque"), ({1, 2}, "set"), (np.arange(3), "numpy")],
)
def test_a_pickle_stored_without_its_type_names_the_class_its_opcodes_name(value, shown):
    untyped = {"__xptrack__": "pickle", "v": encode_value(value)["v"]}

    placeholder = decode_value(untyped)

    assert isinstance(placeholder, PickledValue) and placeholder.type_name.startswith(shown)
    assert value_equal(user_object_codec().load(placeholder.data), value)


def value_equal(a, b):
    return bool(np.all(a == b)) if isinstance(a, np.ndarray) else a == b


def test_a_malformed_pickle_tag_is_a_corrupt_record():
    with pytest.raises(CorruptRecord):
        decode_value({"__xptrack__": "pickle", "v": "not base64!"})
    with pytest.raises(CorruptRecord):
        decode_value({"__xptrack__": "pickle", "v": "", "type": 3})
