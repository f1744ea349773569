"""Hypothesis strategies for everything that reaches a store, edge cases first.

Values are what users really pass: NaN, infinities and -0.0, ints past 64 bits,
unicode and empty strings, tuples, NumPy scalars and arrays, aware and naive
datetimes, and objects that only pickle. Names follow xptrack's naming rule, and
small pools of common names make writes and reads meet often.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from typing import Any

import attrs
import numpy as np
from hypothesis import strategies as st

from xptrack.domain.environment import CATEGORIES, CATEGORY_FORMATS, EnvironmentSnapshot
from xptrack.domain.labels import MAX_TAG_LENGTH, validate_tag
from xptrack.domain.metric import MetricSeries
from xptrack.domain.trial import StepRecord, TrialRecord
from xptrack.testing.samples import EVERY_KIND_OF_VALUE, INF, NAN, UserObject, environment

NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}"
_COMMON_NAMES = ("a", "loss", "val.loss", "lr-0", "x_1", "A9", "step")
_EDGE_INTS = (2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64, 10**40, -(10**40))
_EDGE_FLOATS = (NAN, INF, -INF, -0.0, 0.0, 5e-324, 1.7976931348623157e308)
_INT_DTYPES: tuple[type[np.integer[Any]], ...] = (
    np.int8,
    np.int16,
    np.int32,
    np.int64,
    np.uint8,
    np.uint16,
    np.uint32,
    np.uint64,
)
_HEX = "0123456789abcdef"
_COMMON_TAGS = ("best", "baseline", "needs review", "ü", "v1.2")
#: Keys that trip stores keeping user dicts as native documents (and xptrack's own tag).
_AWKWARD_KEYS = ("", "$x", "a.b", "__xptrack__", "v", "ü", "\x00")


@functools.cache
def names() -> st.SearchStrategy[str]:
    """Experiment ids, step names, metric keys, parameter names: valid identifiers."""
    return st.one_of(st.sampled_from(_COMMON_NAMES), st.from_regex(NAME_PATTERN, fullmatch=True))


@functools.cache
def ints() -> st.SearchStrategy[int]:
    """Ints of any size, with the 64-bit boundaries often."""
    return st.one_of(st.integers(), st.sampled_from(_EDGE_INTS), st.integers(-(2**80), 2**80))


@functools.cache
def floats() -> st.SearchStrategy[float]:
    """Floats with NaN, both infinities, -0.0 and the extremes often."""
    return st.one_of(st.sampled_from(_EDGE_FLOATS), st.floats())


@functools.cache
def timezones() -> st.SearchStrategy[dt.tzinfo | None]:
    """None (naive), UTC, or a fixed offset in whole minutes (what ISO 8601 text carries)."""
    offsets = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(
        lambda minutes: dt.timezone(dt.timedelta(minutes=minutes))
    )
    return st.one_of(st.none(), st.just(dt.timezone.utc), offsets)


@functools.cache
def datetimes() -> st.SearchStrategy[dt.datetime]:
    """Aware and naive datetimes, microseconds included."""
    return st.datetimes(timezones=timezones())


@functools.cache
def numpy_scalars() -> st.SearchStrategy[Any]:
    """NumPy bools, ints of every width, floats of every width (NaN too), complex, str."""
    return st.one_of(
        st.booleans().map(np.bool_),
        st.sampled_from(_INT_DTYPES).flatmap(
            lambda kind: st.integers(int(np.iinfo(kind).min), int(np.iinfo(kind).max)).map(kind)
        ),
        st.floats(width=16).map(np.float16),
        st.floats(width=32).map(np.float32),
        floats().map(np.float64),
        st.complex_numbers(width=64).map(np.complex64),
        # NumPy drops trailing NULs of a str_ on .item(): no store can give those back.
        st.text(max_size=8).map(lambda text: np.str_(text.rstrip("\x00"))),
    )


@functools.cache
def numpy_arrays() -> st.SearchStrategy[np.ndarray[Any, Any]]:
    """Small one-dimensional float and int arrays (a user object: it is pickled)."""
    return st.one_of(
        st.lists(floats(), max_size=5).map(lambda items: np.array(items, dtype=np.float64)),
        st.lists(st.integers(-(2**63), 2**63 - 1), max_size=5).map(
            lambda items: np.array(items, dtype=np.int64)
        ),
    )


@functools.cache
def user_objects() -> st.SearchStrategy[Any]:
    """Values with no JSON form that a user may pass: they travel pickled."""
    return st.one_of(
        st.builds(UserObject, st.text(max_size=10), st.lists(st.integers(), max_size=3).map(tuple)),
        st.frozensets(st.integers(), max_size=3),
        numpy_arrays(),
    )


@functools.cache
def catalog_values() -> st.SearchStrategy[Any]:
    """The values of :data:`EVERY_KIND_OF_VALUE`: each edge case, often."""
    return st.sampled_from(tuple(EVERY_KIND_OF_VALUE.values()))


@functools.cache
def scalar_values() -> st.SearchStrategy[Any]:
    """Every kind of single value a parameter or result may be."""
    return st.one_of(
        catalog_values(),
        st.none(),
        st.booleans(),
        ints(),
        floats(),
        st.text(),
        st.sampled_from(_AWKWARD_KEYS),
        numpy_scalars(),
        datetimes(),
        st.dates(),
        st.timedeltas(),
        st.binary(max_size=16),
        st.complex_numbers(),
        user_objects(),
    )


@functools.cache
def values() -> st.SearchStrategy[Any]:
    """Parameter values and results: scalars, nested in lists, tuples and dicts."""
    keys = st.one_of(st.text(max_size=8), st.sampled_from(_AWKWARD_KEYS))
    return st.recursive(
        scalar_values(),
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.lists(children, max_size=4).map(tuple),
            st.dictionaries(keys, children, max_size=4),
            st.dictionaries(st.integers(-5, 5), children, max_size=3),
        ),
        max_leaves=8,
    )


@functools.cache
def parameters() -> st.SearchStrategy[dict[str, Any]]:
    """What a trial ran with: parameter name -> value (plain numbers and text most often)."""
    return st.dictionaries(
        names(), st.one_of(catalog_values(), floats(), ints(), st.text(), values()), max_size=6
    )


@functools.cache
def errors() -> st.SearchStrategy[BaseException]:
    """Errors a failing trial records."""
    kinds = st.sampled_from((ValueError, KeyError, RuntimeError, ZeroDivisionError))
    return st.builds(lambda kind, message: kind(message), kinds, st.text(max_size=20))


@functools.cache
def trial_records(trial_id: int = 1) -> st.SearchStrategy[TrialRecord]:
    """A running, finished or failed trial record, as the trial runner makes them."""
    return _trial_records(trial_id)


@functools.cache
def step_records() -> st.SearchStrategy[StepRecord]:
    """When a step ran, and the trial it reused an output from (or None)."""
    return st.builds(
        StepRecord, names(), datetimes(), datetimes(), st.none() | st.integers(1, 2**40)
    )


@st.composite
def _trial_records(draw: st.DrawFn, trial_id: int) -> TrialRecord:
    record = TrialRecord(
        trial_id,
        draw(parameters()),
        draw(datetimes()),
        seed=draw(st.none() | st.integers(0, 2**32 - 1)),
        heartbeat=draw(st.none() | datetimes()),
        tags=draw(st.lists(names(), max_size=3)),
        note=draw(st.sampled_from(("", "baseline ü\nline two")) | st.text(max_size=20)),
    )
    finished = draw(datetimes())
    process_time = draw(st.floats(min_value=0, allow_infinity=False, allow_nan=False))
    steps = tuple(draw(st.lists(step_records(), max_size=3)))
    end = draw(st.sampled_from(("running", "finished", "failed")))
    # A record may carry labels (an old copy a runner re-saves): save_trial must ignore them.
    labels = draw(st.none() | st.tuples(st.lists(tags(), max_size=2).map(tuple), texts()))
    if labels is not None:
        record = attrs.evolve(record, tags=labels[0], note=labels[1])
    if end == "finished":
        return record.succeeded(draw(values()), finished, process_time, steps)
    if end == "failed":
        traceback = draw(st.none() | texts())
        return record.failed(draw(errors()), finished, process_time, traceback, steps)
    return record


@functools.cache
def tags() -> st.SearchStrategy[str]:
    """Tags as a user gives them (valid ones: the facade refuses the others)."""
    free = st.text(st.characters(codec="utf-8", categories=("L", "N", "P", "S", "Zs")), min_size=1)
    valid = free.map(lambda text: text.strip()[:MAX_TAG_LENGTH]).filter(_is_tag)
    return st.one_of(st.sampled_from(_COMMON_TAGS), valid)


def _is_tag(text: str) -> bool:
    try:
        validate_tag(text)
    except ValueError:
        return False
    return True


@functools.cache
def epochs() -> st.SearchStrategy[int]:
    """Epochs: small and repeated mostly, sometimes anywhere in 32 bits, negative included."""
    return st.one_of(st.integers(0, 20), st.integers(-(2**31), 2**31 - 1))


@functools.cache
def metric_values() -> st.SearchStrategy[float]:
    """Metric values: any float (NaN and infinities are legitimate values)."""
    return st.one_of(st.sampled_from((NAN, INF, -INF, -0.0)), st.floats())


@functools.cache
def metric_series(max_points: int = 12) -> st.SearchStrategy[MetricSeries]:
    """Points in the order a step saves them: epochs out of order and repeated."""
    points = st.lists(st.tuples(epochs(), metric_values()), max_size=max_points)
    return points.map(
        lambda pairs: MetricSeries([epoch for epoch, _ in pairs], [value for _, value in pairs])
    )


@functools.cache
def hashes() -> st.SearchStrategy[str]:
    """Hex digests, from a small pool so that the same inputs come back."""
    return st.one_of(
        st.sampled_from(("0", "ab12", "f" * 64)), st.text(_HEX, min_size=1, max_size=64)
    )


@functools.cache
def texts() -> st.SearchStrategy[str]:
    """Code and environment texts: any unicode, empty, with \\r\\n and \\r line ends."""
    return st.one_of(st.text(), st.sampled_from(("", "a\r\nb\rc\n", "\ufeffbom")))


@functools.cache
def json_texts() -> st.SearchStrategy[str]:
    """JSON text as a probe writes it, in the formatting it chose (kept as given)."""
    leaves = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
    documents = st.recursive(
        leaves,
        lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(), children),
        max_leaves=6,
    )
    return st.builds(
        lambda data, indent, ascii_only: json.dumps(data, indent=indent, ensure_ascii=ascii_only),
        documents,
        st.sampled_from((None, 2)),
        st.booleans(),
    )


@functools.cache
def environment_snapshots() -> st.SearchStrategy[EnvironmentSnapshot]:
    """What a probe captured: some of the seed's categories (at least one)."""
    return _environment_snapshots()


@st.composite
def _environment_snapshots(draw: st.DrawFn) -> EnvironmentSnapshot:
    chosen = draw(st.lists(st.sampled_from(CATEGORIES), min_size=1, unique=True))
    return environment(
        {
            category: draw(json_texts() if CATEGORY_FORMATS[category] == "json" else texts())
            for category in chosen
        }
    )
