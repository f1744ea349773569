"""Metric series: values a step reports per epoch during a trial."""

from __future__ import annotations

import math
import numbers
from typing import Any

import attrs

from xptrack.domain.errors import InvalidArgument


@attrs.define(eq=False)
class MetricSeries:
    """Points of one metric in one trial, in the order they were saved.

    Kept as two parallel lists rather than one object per point: series run to
    millions of points, and every store moves them in bulk.
    """

    epochs: list[int] = attrs.Factory(list)
    #: Integers stay ``int`` (through every store), other values are ``float``.
    values: list[float] = attrs.Factory(list)

    def __len__(self) -> int:
        return len(self.epochs)

    def append(self, epoch: int, value: float) -> None:
        self.epochs.append(epoch)
        self.values.append(value)

    def extend(self, other: MetricSeries) -> None:
        self.epochs.extend(other.epochs)
        self.values.extend(other.values)

    def __eq__(self, other: object) -> bool:
        # NaN is a legitimate metric value: two series holding NaN at the same place are equal.
        if not isinstance(other, MetricSeries):
            return NotImplemented
        if self.epochs != other.epochs or len(self.values) != len(other.values):
            return False
        return all(
            a == b or (math.isnan(a) and math.isnan(b))
            for a, b in zip(self.values, other.values, strict=True)
        )


def check_epoch(epoch: Any) -> int:
    """Return ``epoch`` as an int; bools, floats and strings are refused."""
    if isinstance(epoch, bool) or not isinstance(epoch, numbers.Integral):
        raise InvalidArgument(f"metric epoch must be an int; got {type(epoch).__name__} {epoch!r}")
    return int(epoch)


def check_metric_value(value: Any) -> float:
    """Return ``value`` as an int when it is an integer (as daskperiment kept them), else as a
    float (numpy numbers, NaN and infinities accepted)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidArgument(
            f"metric value must be a real number; got {type(value).__name__} {value!r}"
        )
    if isinstance(value, numbers.Integral):
        return int(value)
    return float(value)
