"""What differs between two trials: pure functions over their records' texts and values.

The application reads two trials from a store and hands their parts here; nothing in this
module does I/O or knows a store.
"""

from __future__ import annotations

import ast
import difflib
import math
import struct
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

#: The label of code that cannot be split into steps (not Python, or no step in it).
WHOLE_CODE = "(code)"


class _AbsentType:
    """The side of a change where the value does not exist (a parameter only one trial has)."""

    _instance: _AbsentType | None = None

    def __new__(cls) -> _AbsentType:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "(absent)"

    def __bool__(self) -> bool:
        return False


ABSENT: Any = _AbsentType()


@attrs.frozen
class Change:
    """A value as it was in trial ``a`` (``before``) and in trial ``b`` (``after``)."""

    before: Any
    after: Any

    def __str__(self) -> str:
        return f"{self.before!r} -> {self.after!r}"


@attrs.frozen
class PackageChanges:
    """Installed distributions: added in ``b``, removed from ``a``, and changed versions."""

    added: dict[str, str] = attrs.field(factory=dict)
    removed: dict[str, str] = attrs.field(factory=dict)
    changed: dict[str, Change] = attrs.field(factory=dict)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)


def same_value(a: Any, b: Any) -> bool:
    """True when ``a`` and ``b`` are the same bits: same type, same content, NaN where NaN
    was, the same sign of zero (``1 == 1.0`` and ``0.0 == -0.0`` are *not* the same here)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return struct.pack("<d", a) == struct.pack("<d", b)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same_value(a[key], b[key]) for key in a)
    tobytes = getattr(a, "tobytes", None)
    if callable(tobytes) and hasattr(a, "dtype"):  # numpy arrays and scalars
        same_kind = a.dtype == b.dtype and getattr(a, "shape", ()) == getattr(b, "shape", ())
        return bool(same_kind) and bool(tobytes() == b.tobytes())
    try:
        return bool(a == b)
    except Exception:  # an __eq__ that cannot answer (arrays of objects, ...) means "differs"
        return False


def value_changes(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Change]:
    """Name -> Change for every name whose value differs or exists on one side only."""
    names = list(dict.fromkeys([*a, *b]))
    return {
        name: Change(a.get(name, ABSENT), b.get(name, ABSENT))
        for name in names
        if name not in a or name not in b or not same_value(a[name], b[name])
    }


def split_steps(code: str) -> dict[str, str]:
    """A trial's code text (``get_code``) as step name -> that step's source, decorators
    included; ``{WHOLE_CODE: code}`` when the text holds no function definition."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return {WHOLE_CODE: code} if code else {}
    lines = code.splitlines(keepends=True)
    steps: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            steps[node.name] = "".join(lines[first - 1 : node.end_lineno])
    return steps or ({WHOLE_CODE: code} if code else {})


def text_diff(before: str, after: str, name: str, a: int, b: int) -> str:
    """A unified diff of ``before`` (trial ``a``) and ``after`` (trial ``b``); '' when equal."""
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            fromfile=f"{name} (trial {a})",
            tofile=f"{name} (trial {b})",
        )
    )


def code_changes(before: str, after: str, a: int, b: int) -> dict[str, str]:
    """Step name -> unified diff of its source, for every step changed, added or removed."""
    old, new = split_steps(before), split_steps(after)
    changes = {}
    for step in dict.fromkeys([*old, *new]):
        diff = text_diff(old.get(step, ""), new.get(step, ""), step, a, b)
        if diff:
            changes[step] = diff
    return changes


def parse_requirements(text: str) -> dict[str, str]:
    """``pip freeze``-like lines as name -> version (the whole line when it has no ``==``)."""
    packages = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, separator, version = line.partition("==")
        packages[name.strip()] = version.strip() if separator else line
    return packages


def package_changes(before: str, after: str) -> PackageChanges:
    """What changed between two ``requirements`` texts."""
    old, new = parse_requirements(before), parse_requirements(after)
    return PackageChanges(
        added={name: version for name, version in new.items() if name not in old},
        removed={name: version for name, version in old.items() if name not in new},
        changed={
            name: Change(old[name], new[name])
            for name in old
            if name in new and old[name] != new[name]
        },
    )


def json_ready(value: Any) -> Any:
    """``value`` as JSON data: plain JSON stays, NaN/inf become their repr, tuples lists,
    anything else its ``repr`` (so a dashboard can show it, nothing is unpickled)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, (list, tuple)):
        return [json_ready(item) for item in value]
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        return {key: json_ready(item) for key, item in value.items()}
    return repr(value)


def changes_dict(changes: Mapping[str, Change]) -> dict[str, dict[str, Any]]:
    """Changes as JSON data: name -> {"a": before, "b": after}, an absent side left out."""
    return {
        name: {
            side: json_ready(value)
            for side, value in (("a", change.before), ("b", change.after))
            if value is not ABSENT
        }
        for name, change in changes.items()
    }


def indent(lines: Iterable[str], prefix: str = "  ") -> list[str]:
    """Each line with ``prefix`` in front (the nesting of a readable report)."""
    return [prefix + line if line else line for line in lines]
