"""Fixed samples of everything a store keeps, for the plain (non-generated) contract tests."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any, cast

import attrs
import numpy as np

from xptrack.domain.environment import CATEGORIES, CATEGORY_FORMATS, EnvironmentSnapshot
from xptrack.domain.metric import MetricSeries
from xptrack.domain.trial import StepRecord, TrialRecord
from xptrack.ports.repositories import ExperimentStore
from xptrack.testing.checks import agree

NAN = float("nan")
INF = float("inf")


@attrs.frozen
class UserObject:
    """A user's own object: picklable (defined at module level), with no JSON form."""

    label: str
    numbers: tuple[int, ...] = ()


#: One value of each kind a user may pass as a parameter or get as a result.
EVERY_KIND_OF_VALUE: dict[str, Any] = {
    "int": 7,
    "negative_int": -3,
    "big_int": 2**64 + 1,
    "big_negative_int": -(2**63) - 1,
    "float": 0.1,
    "nan": NAN,
    "inf": INF,
    "minus_inf": -INF,
    "minus_zero": -0.0,
    "true": True,
    "none": None,
    "empty_string": "",
    "unicode": "ünï©ødé ✓ 日本語 \U0001f600\r\n\t\x00",
    "tag_lookalike": {"__xptrack__": "tuple", "v": [1]},
    "list": [1, "two", 3.0, None, [NAN]],
    "tuple": (1, (2, 3), ()),
    "nested": {"a": {"b": [1, {"c": (NAN, -0.0)}]}, "": [], "$x": {}, "a.b": 1},
    "int_keys": {1: "one", 2: "two"},
    "numpy_float32": np.float32(1.5),
    "numpy_nan": np.float64(NAN),
    "numpy_int64": np.int64(-(2**63)),
    "numpy_uint64": np.uint64(2**64 - 1),
    "numpy_bool": np.bool_(True),
    "numpy_array": np.array([1.0, NAN, -INF]),
    "aware_datetime": dt.datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=dt.timezone.utc),
    "offset_datetime": dt.datetime(
        2024, 1, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=-5, minutes=-30))
    ),
    "naive_datetime": dt.datetime(1999, 12, 31, 23, 59),
    "date": dt.date(2000, 1, 1),
    "timedelta": dt.timedelta(days=-1, microseconds=5),
    "bytes": b"\x00\xff",
    "complex": complex(NAN, -0.0),
    "user_object": UserObject("model", (1, 2, 3)),
    "set": frozenset({1, 2}),
}


def json_text(data: Any) -> str:
    """``data`` as the JSON text an environment probe writes."""
    return json.dumps(data, indent=2, ensure_ascii=False)


def environment(categories: Mapping[str, str]) -> EnvironmentSnapshot:
    """An :class:`EnvironmentSnapshot` of ``categories``."""
    # Through Any: mypy reads the attrs field's ``converter=dict`` as dict()'s overloads.
    return EnvironmentSnapshot(cast(Any, categories))


#: An environment as a probe captures it: every category, JSON text for the JSON ones.
FULL_ENVIRONMENT = environment(
    {
        category: json_text({"category": category, "values": [1, 2.5, None, "ü"]})
        if CATEGORY_FORMATS[category] == "json"
        else f"{category} text\nline two ü\r\nend\n"
        for category in CATEGORIES
    }
)

STARTED = dt.datetime(2024, 5, 1, 8, 30, tzinfo=dt.timezone.utc)
FINISHED = STARTED + dt.timedelta(seconds=90)


def sample_trials(first_id: int) -> list[TrialRecord]:
    """A finished, a failed and a running trial, with every kind of parameter value (the
    first and the running one carry labels, which ``save_trial`` must not store)."""
    running = TrialRecord(
        first_id + 2,
        dict(EVERY_KIND_OF_VALUE),
        STARTED,
        seed=2**32 - 1,
        heartbeat=FINISHED,
        tags=("stale",),
        note="a copy's note",
    )
    steps = (
        StepRecord("prepare", STARTED, STARTED + dt.timedelta(microseconds=1)),
        StepRecord("score", STARTED, FINISHED, cached_from=first_id),
    )
    return [
        TrialRecord(
            first_id, dict(EVERY_KIND_OF_VALUE), STARTED, seed=0, tags=("best", "v-1"), note="ü"
        ).succeeded(UserObject("result"), FINISHED, 1.25, steps),
        TrialRecord(first_id + 1, {"a": NAN}, STARTED, seed=1).failed(
            ValueError("bad input: ü"),
            FINISHED,
            0.0,
            'Traceback (most recent call last):\n  File "x.py", line 1\nValueError: bad input: ü\n',
            steps[:1],
        ),
        running,
    ]


def fill(store: ExperimentStore, model: ExperimentStore) -> None:
    """Write one of everything to ``store`` and ``model`` alike (three trials' worth)."""
    first_id = model.last_trial_id() + 1
    for _ in range(3):
        agree(model, store, "next_trial_id")
    for target in (store, model):
        _write_everything(target, first_id)


def _write_everything(target: ExperimentStore, first: int) -> None:
    for record in reversed(sample_trials(first)):  # trials finish in any order
        target.save_trial(record)
    target.append_metrics(
        [
            (first, "loss", MetricSeries([3, 1, 2, 2], [0.5, NAN, INF, -INF])),
            (first, "acc", MetricSeries([0], [1.0])),
            (first + 1, "loss", MetricSeries([0], [-0.0])),
        ]
    )
    target.append_metrics([(first, "loss", MetricSeries([0], [1e-300]))])
    target.save_persisted("features", first, b"\x80\x05K\x01.")
    target.save_persisted("empty", first, b"")
    target.save_persisted("features", first + 1, bytes(range(256)))
    target.swap_step_hash("features", "0123abcd", "ffff")
    target.save_code(first, "@ex\ndef prepare(a, b):\n    return a + b  # ü\n")
    target.save_code(first + 1, "# saved on Windows\r\nx = 1\r\n")
    target.save_code(first + 2, "")
    target.save_environment(first, FULL_ENVIRONMENT)
    target.save_environment(first + 1, environment({"git": json_text({"dirty": True})}))
    target.save_output(first, "epoch 0\r\nloss ü\n[WARNING] x.y: careful\n" * 3)
    target.save_output(first + 1, "saved while running\n")
    target.save_output(first + 1, "")  # replaced whole, even by nothing
    target.update_labels(first, ("best", "needs review", "ü"), (), "note ü\r\nline two")
    target.update_labels(first, ("v1.2",), ("needs review", "never there"))
    target.update_labels(first + 1, (), (), "")
    for record in sample_trials(first)[:1]:
        target.save_trial(record)  # a later save keeps the labels
