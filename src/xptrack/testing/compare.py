"""Exact, NaN-aware comparison of what a store gave back with what was put in.

``==`` is not enough to say a store kept a value: ``nan != nan``, ``1 == 1.0 == True``,
``(1, 2) != [1, 2]`` but a user would be equally surprised by each. Here a value comes
back the same only when it has the same type, the same content, NaN where NaN was, the
same sign of zero, the same dict key order and, for datetimes, the same wall time and
UTC offset.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from typing import Any

import attrs
import numpy as np

from xptrack.adapters.user_object_codec import PickleCodec
from xptrack.domain.environment import EnvironmentSnapshot
from xptrack.domain.metric import MetricSeries
from xptrack.domain.trial import qualified_type_name
from xptrack.domain.user_objects import PickledValue

_PREVIEW = 120


def show(value: Any) -> str:
    """A short ``repr`` for failure messages (series and blobs run to megabytes)."""
    if isinstance(value, bytes) and len(value) > 32:
        return f"<{len(value)} bytes starting {value[:16]!r}>"
    if isinstance(value, MetricSeries) and len(value) > 8:
        return f"<MetricSeries of {len(value)} points>"
    text = repr(value)
    return text if len(text) <= _PREVIEW else text[: _PREVIEW - 3] + "..."


def _mismatch(path: str, expected: Any, actual: Any) -> str:
    return (
        f"{path}: expected {show(expected)} ({qualified_type_name(expected)}), "
        f"got {show(actual)} ({qualified_type_name(actual)})"
    )


def value_difference(expected: Any, actual: Any, path: str = "value") -> str | None:
    """None when ``actual`` is exactly ``expected``; else the first difference, located.

    >>> value_difference((1.0, float("nan")), (1.0, float("nan"))) is None
    True
    >>> value_difference({"a": (1,)}, {"a": [1]})
    "value['a']: expected (1,) (tuple), got [1] (list)"
    """
    if isinstance(actual, PickledValue) and not isinstance(expected, PickledValue):
        # Stores give users' pickles back unloaded: compare the object.
        actual = PickleCodec().load(actual.data)
    if type(expected) is not type(actual):
        return _mismatch(path, expected, actual)
    for kinds, compare in _COMPARISONS:
        if isinstance(expected, kinds):
            return compare(expected, actual, path)
    if attrs.has(type(expected)):
        return _attrs_difference(expected, actual, path)
    return None if _plain_equal(expected, actual) else _mismatch(path, expected, actual)


def _plain_equal(expected: Any, actual: Any) -> bool:
    try:
        return bool(expected == actual)
    except Exception:  # an __eq__ that cannot answer is as good as "different"
        return False


def _same_float(expected: float, actual: float) -> bool:
    if math.isnan(expected) or math.isnan(actual):
        return math.isnan(expected) and math.isnan(actual)
    return expected == actual and math.copysign(1.0, expected) == math.copysign(1.0, actual)


def _float_difference(expected: float, actual: float, path: str) -> str | None:
    return None if _same_float(expected, actual) else _mismatch(path, expected, actual)


def _complex_difference(expected: complex, actual: complex, path: str) -> str | None:
    same = _same_float(expected.real, actual.real) and _same_float(expected.imag, actual.imag)
    return None if same else _mismatch(path, expected, actual)


def _sequence_difference(expected: Any, actual: Any, path: str) -> str | None:
    if len(expected) != len(actual):
        return (
            f"{path}: expected {len(expected)} items {show(expected)}, "
            f"got {len(actual)} {show(actual)}"
        )
    for index, (item, other) in enumerate(zip(expected, actual, strict=True)):
        difference = value_difference(item, other, f"{path}[{index}]")
        if difference is not None:
            return difference
    return None


def _dict_difference(expected: dict[Any, Any], actual: dict[Any, Any], path: str) -> str | None:
    keys = _sequence_difference(list(expected), list(actual), f"{path}.keys()")
    if keys is not None:
        return keys
    for key, item in expected.items():
        difference = value_difference(item, actual[key], f"{path}[{show(key)}]")
        if difference is not None:
            return difference
    return None


def _datetime_difference(expected: dt.datetime, actual: dt.datetime, path: str) -> str | None:
    same_wall_time = expected.replace(tzinfo=None) == actual.replace(tzinfo=None)
    if same_wall_time and expected.utcoffset() == actual.utcoffset():
        return None
    return _mismatch(path, expected, actual)


def _numpy_scalar_difference(expected: np.generic, actual: np.generic, path: str) -> str | None:
    if expected.dtype != actual.dtype:
        return f"{path}: expected dtype {expected.dtype}, got {actual.dtype} ({show(actual)})"
    item, other = expected.item(), actual.item()
    if type(item) is type(expected):  # no Python equivalent (np.longdouble): numpy decides
        same = _plain_equal(item, other) or bool(item != item and other != other)
        return None if same else _mismatch(path, expected, actual)
    difference: str | None = value_difference(item, other, path)
    return difference


def _array_difference(
    expected: np.ndarray[Any, Any], actual: np.ndarray[Any, Any], path: str
) -> str | None:
    if expected.dtype != actual.dtype or expected.shape != actual.shape:
        return (
            f"{path}: expected array {expected.dtype}{expected.shape}, "
            f"got array {actual.dtype}{actual.shape}"
        )
    return _sequence_difference(expected.tolist(), actual.tolist(), path)


def _attrs_difference(expected: Any, actual: Any, path: str) -> str | None:
    for field in attrs.fields(type(expected)):
        difference = value_difference(
            getattr(expected, field.name), getattr(actual, field.name), f"{path}.{field.name}"
        )
        if difference is not None:
            return difference
    return None


def _series_difference(expected: MetricSeries, actual: MetricSeries, path: str) -> str | None:
    # Metric values compare as MetricSeries does: NaN equals NaN, and 0.0 equals -0.0 (a
    # metric's sign of zero carries nothing, and SQLite REAL columns drop it).
    if len(expected) != len(actual):
        return f"{path}: expected {len(expected)} points, got {len(actual)}"
    for index, (epoch, other) in enumerate(zip(expected.epochs, actual.epochs, strict=True)):
        if type(other) is not int or epoch != other:
            return f"{path}: point {index}: expected epoch {epoch!r}, got {other!r}"
    for index, (number, got) in enumerate(zip(expected.values, actual.values, strict=True)):
        if type(got) is not float or not (number == got or (number != number and got != got)):
            epoch = expected.epochs[index]
            return f"{path}: point {index} (epoch {epoch}): expected value {number!r}, got {got!r}"
    return None


def _snapshot_difference(
    expected: EnvironmentSnapshot, actual: EnvironmentSnapshot, path: str
) -> str | None:
    # Categories are a mapping, not a sequence: their order carries nothing.
    if set(expected.categories) != set(actual.categories):
        return (
            f"{path}: expected categories {sorted(expected.categories)}, "
            f"got {sorted(actual.categories)}"
        )
    for category, text in expected.categories.items():
        difference = value_difference(text, actual[category], f"{path}[{category!r}]")
        if difference is not None:
            return difference
    return None


_COMPARISONS: tuple[tuple[type | tuple[type, ...], Callable[[Any, Any, str], str | None]], ...] = (
    (float, _float_difference),
    (complex, _complex_difference),
    ((list, tuple), _sequence_difference),
    (dict, _dict_difference),
    (dt.datetime, _datetime_difference),
    (np.ndarray, _array_difference),
    (np.generic, _numpy_scalar_difference),
    (MetricSeries, _series_difference),
    (EnvironmentSnapshot, _snapshot_difference),
)


def assert_same_value(expected: Any, actual: Any, what: str = "value") -> None:
    """Raise AssertionError naming the first place where ``actual`` differs from ``expected``."""
    difference = value_difference(expected, actual, what)
    if difference is not None:
        raise AssertionError(difference)
