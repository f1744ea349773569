"""Parameter values from a command line: ``a=1``, ``lr=1e-3``, ``layers=[64,64]``, ``name=foo``.

A value is a Python literal where it parses and a string otherwise; when the parameter has
a default, the value must be (or convert without loss to) the default's type: ``lr=1`` for a
float default is ``1.0``, ``name=123`` for a string default is ``'123'``, ``b=name`` for an
int default is a usage error naming ``b``.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from typing import Any

from xptrack.domain.errors import InvalidName
from xptrack.domain.names import validate_name

_TRUE, _FALSE = {"true", "yes", "on", "1"}, {"false", "no", "off", "0"}
#: Default types whose values a command line must match; others accept any literal.
CHECKED_TYPES = (bool, int, float, complex, str, list, tuple, dict, set)


class BadValue(ValueError):
    """A command-line value that is malformed or does not fit its parameter (a usage error)."""


def parse_value(text: str) -> Any:
    """``text`` as a Python literal when it is one, else the string itself."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
        return text


def split_assignment(token: str) -> tuple[str, str]:
    """``'a=1'`` -> ``('a', '1')``; BadValue when it is not name=value with a valid name."""
    name, separator, text = token.partition("=")
    if not separator:
        raise BadValue(f"{token!r} is not name=value (e.g. a=1 or name=foo)")
    try:
        validate_name(name, "parameter name")
    except InvalidName as error:
        raise BadValue(str(error)) from None
    return name, text


def typed_value(name: str, text: str, default: Any) -> Any:
    """The value of parameter ``name`` given as ``text``, fitted to ``default``'s type."""
    kind = type(default)
    if default is None or kind not in CHECKED_TYPES:
        return parse_value(text)
    if kind is str:
        return text
    if kind is bool:
        lowered = text.strip().lower()
        if lowered in _TRUE or lowered in _FALSE:
            return lowered in _TRUE
        raise _misfit(name, text, default)
    value = parse_value(text)
    if type(value) is kind:
        return value
    if kind is float and type(value) is int:
        return float(value)
    if kind is complex and type(value) in (int, float):
        return complex(value)
    if kind in (list, tuple, set) and type(value) in (list, tuple, set):
        return kind(value)
    raise _misfit(name, text, default)


def _misfit(name: str, text: str, default: Any) -> BadValue:
    kind = type(default).__name__
    article = "an" if kind[0] in "aeiou" else "a"
    return BadValue(f"parameter {name}={text} is not {article} {kind} like its default {default!r}")


def parameter_values(tokens: Sequence[str], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """``['a=1', 'b=x']`` -> values checked against the declared parameters' ``defaults``
    (the value each has now; a parameter with no value yet accepts any literal)."""
    values: dict[str, Any] = {}
    for token in tokens:
        name, text = split_assignment(token)
        if name not in defaults:
            declared = ", ".join(defaults) or "none"
            raise BadValue(f"unknown parameter {name!r}; the experiment declares: {declared}")
        if name in values:
            raise BadValue(f"parameter {name} is given twice")
        values[name] = typed_value(name, text, defaults[name])
    return values
