"""Stored values as the dashboard's JSON shows them: plain data kept, the rest as text.

The page never unpickles: a user object is described from its bytes (type name and size),
the way every reader of the history describes it.
"""

from __future__ import annotations

import datetime as dt
import math
import pickletools
from collections.abc import Mapping
from typing import Any

from xptrack.domain.trial import TrialRecord

#: Bytes in front of a signed pickle (``domain.user_objects``): magic and HMAC-SHA256 digest.
_SIGNED_MAGIC = b"XPTS1"
_SIGNED_HEADER = len(_SIGNED_MAGIC) + 32
_OPCODE_TYPES = {
    "EMPTY_LIST": "list",
    "LIST": "list",
    "EMPTY_DICT": "dict",
    "DICT": "dict",
    "EMPTY_TUPLE": "tuple",
    "TUPLE": "tuple",
    "TUPLE1": "tuple",
    "TUPLE2": "tuple",
    "TUPLE3": "tuple",
    "EMPTY_SET": "set",
    "FROZENSET": "frozenset",
    "BININT": "int",
    "BININT1": "int",
    "BININT2": "int",
    "LONG1": "int",
    "LONG4": "int",
    "INT": "int",
    "BINFLOAT": "float",
    "FLOAT": "float",
    "SHORT_BINUNICODE": "str",
    "BINUNICODE": "str",
    "BINUNICODE8": "str",
    "SHORT_BINBYTES": "bytes",
    "BINBYTES": "bytes",
    "NONE": "NoneType",
    "NEWTRUE": "bool",
    "NEWFALSE": "bool",
}
_SKIPPED_OPCODES = {"PROTO", "FRAME", "MEMOIZE", "PUT", "BINPUT", "LONG_BINPUT"}


def jsonable(value: Any) -> Any:
    """``value`` as JSON-ready data: numbers, text, lists and dicts kept, the rest as repr.

    Non-finite floats become the text ``nan``/``inf`` (JSON has no number for them).
    """
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item) and getattr(value, "shape", None) == ():
        return jsonable(item())
    return repr(value)


def status_of(record: TrialRecord) -> str:
    """The status a reader shows: the effective one (a stale heartbeat reads interrupted)."""
    return record.effective_status().value


def describe_pickle(data: bytes) -> str:
    """``<pickled TYPE, N bytes>`` for a stored user object, read without unpickling it."""
    payload = data[_SIGNED_HEADER:] if data.startswith(_SIGNED_MAGIC) else data
    return f"<pickled {_pickled_type(payload)}, {len(data)} bytes>"


def _pickled_type(payload: bytes) -> str:
    leading = _leading_opcodes(payload)
    if not leading:
        return "object"
    first, argument = leading[0]
    if first == "GLOBAL":
        return str(argument).replace(" ", ".")
    strings = {"SHORT_BINUNICODE", "BINUNICODE", "UNICODE"}
    if len(leading) >= 3 and leading[2][0] == "STACK_GLOBAL" and leading[1][0] in strings:
        return f"{leading[0][1]}.{leading[1][1]}"
    return _OPCODE_TYPES.get(first, "object")


def _leading_opcodes(payload: bytes, count: int = 3) -> list[tuple[str, Any]]:
    """The first ``count`` meaningful (opcode name, argument) pairs of a pickle."""
    found: list[tuple[str, Any]] = []
    try:
        for opcode, argument, _ in pickletools.genops(payload):
            if opcode.name not in _SKIPPED_OPCODES:
                found.append((opcode.name, argument))
            if len(found) >= count:
                break
    except Exception:  # a truncated or foreign pickle: still described, never loaded
        pass
    return found
