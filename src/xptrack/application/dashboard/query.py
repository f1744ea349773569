"""Which trials a page shows: the ``--where`` pandas query, per-column filters, sort, paging."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

from xptrack.application.dashboard.frame import column_of
from xptrack.application.where import apply_where
from xptrack.domain.errors import InvalidArgument

if TYPE_CHECKING:
    import pandas as pd

MAX_LIMIT = 1000
_COMPARISON = re.compile(r"^\s*(>=|<=|!=|==|=|>|<)\s*(.+?)\s*$")


@attrs.frozen
class PageQuery:
    """A page of trials: ``offset``/``limit``, ``sort``/``order``, ``where`` and filters.

    ``filters`` are (column key, text) pairs: ``>0.1``, ``<=3``, ``=adam``, ``!=2`` compare;
    any other text matches values containing it (case-insensitive).
    """

    offset: int = 0
    limit: int = 50
    sort: str = "id"
    order: str = "asc"
    where: str = ""
    filters: tuple[tuple[str, str], ...] = ()

    @property
    def plain(self) -> bool:
        """Every trial by id: a page answerable without the whole table."""
        return not self.where and not self.filters and self.sort == "id"

    @property
    def selection(self) -> tuple[Any, ...]:
        """What decides which trials are in and in what order (not the page)."""
        return (self.where, self.filters, self.sort, self.order)

    @classmethod
    def from_params(cls, params: Mapping[str, str], filters: Sequence[str] = ()) -> PageQuery:
        """From a request's query string; ``filters`` are its ``filter=KEY:TEXT`` values."""
        order = params.get("order", "asc")
        if order not in ("asc", "desc"):
            raise InvalidArgument(f"order must be 'asc' or 'desc'; got {order!r}")
        pairs = []
        for text in filters:
            key, separator, value = text.partition(":")
            if not separator:
                raise InvalidArgument(f"filter must read KEY:TEXT (say result:>0.5); got {text!r}")
            if value.strip():
                pairs.append((key, value))
        return cls(
            offset=_integer(params, "offset", 0, 0, None),
            limit=_integer(params, "limit", 50, 1, MAX_LIMIT),
            sort=params.get("sort", "id") or "id",
            order=order,
            where=params.get("where", "").strip(),
            filters=tuple(pairs),
        )


def _integer(params: Mapping[str, str], name: str, default: int, low: int, high: int | None) -> int:
    text = params.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise InvalidArgument(f"{name} must be an integer; got {text!r}") from None
    if value < low or (high is not None and value > high):
        bound = f"{low} to {high}" if high is not None else f"at least {low}"
        raise InvalidArgument(f"{name} must be {bound}; got {value}")
    return value


def select_rows(frame: pd.DataFrame, query: PageQuery) -> np.ndarray[Any, Any]:
    """The ids of the trials ``query`` selects, in its order."""
    if query.where:
        frame = apply_where(frame, query.where)
    for key, text in query.filters:
        frame = frame[filter_mask(frame, key, text)]
    column = column_of(frame, query.sort)
    ascending = query.order == "asc"
    if column is None:
        ids = frame.index.to_numpy()
        return ids if ascending else ids[::-1]
    if column == "":
        return frame.index.to_numpy()
    return _sorted_ids(frame, column, ascending)


def filter_mask(frame: pd.DataFrame, key: str, text: str) -> Any:
    """Rows of ``frame`` whose ``key`` column matches the filter ``text``."""
    import pandas as pd

    column = column_of(frame, key)
    values = frame.index.to_series() if column is None else frame.get(column)
    if values is None:
        return pd.Series(False, index=frame.index)
    match = _COMPARISON.match(text)
    if match:
        operator, operand = match.groups()
        number = _as_number(operand)
        if number is not None:
            numeric = pd.to_numeric(values, errors="coerce")
            return _compare(numeric, operator, number).fillna(False).astype(bool)
        return _compare(values.astype(str), operator, operand)
    return values.astype(str).str.contains(text.strip(), case=False, regex=False)


def _as_number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _compare(values: Any, operator: str, operand: Any) -> Any:
    if operator in ("=", "=="):
        return values == operand
    if operator == "!=":
        return values != operand
    if operator == ">":
        return values > operand
    if operator == ">=":
        return values >= operand
    if operator == "<":
        return values < operand
    return values <= operand


def _sorted_ids(frame: pd.DataFrame, column: str, ascending: bool) -> np.ndarray[Any, Any]:
    values = frame[column]
    try:
        ordered = values.sort_values(ascending=ascending, na_position="last", kind="stable")
    except TypeError:  # mixed types (a parameter that was a number, then a string)
        ordered = values.sort_values(
            ascending=ascending, na_position="last", kind="stable", key=lambda s: s.astype(str)
        )
    return ordered.index.to_numpy()
