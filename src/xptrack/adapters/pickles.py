"""The stored form of a user's own object: a pickle, optionally behind an HMAC-SHA256 signature.

Pickle can run code when loaded, so xptrack pickles only what the user handed it, never
its own records. A signed pickle is ``XPTS1`` + the SHA-256 HMAC of the pickle + the
pickle; :class:`~xptrack.adapters.user_object_codec.PickleCodec` signs and checks them.
Nothing here unpickles except :func:`unpickle`.
"""

from __future__ import annotations

import hashlib
import pickle
import pickletools
from typing import Any

from xptrack.domain.errors import CorruptRecord, UnstorableValue

SIGNED_MAGIC = b"XPTS1"
DIGEST_SIZE = hashlib.sha256().digest_size


def pickle_object(value: Any) -> bytes:
    """``value`` pickled (unsigned); UnstorableValue when it cannot be."""
    try:
        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as error:
        raise UnstorableValue(
            f"cannot store {type(value).__name__} {value!r:.80}: it has no JSON form and "
            f"pickling it failed ({error}); store plain data, or make the object picklable"
        ) from error


def unpickle(payload: bytes) -> Any:
    """The object pickled in ``payload`` (this runs its code); CorruptRecord when it is not one."""
    try:
        return pickle.loads(payload)
    except Exception as error:
        raise CorruptRecord(f"stored object cannot be unpickled: {error}") from error


def split_signed(data: bytes) -> tuple[bytes | None, bytes]:
    """``(signature, pickle)`` of stored ``data``; the signature is None when it has none."""
    if not data.startswith(SIGNED_MAGIC):
        return None, data
    start = len(SIGNED_MAGIC)
    return data[start : start + DIGEST_SIZE], data[start + DIGEST_SIZE :]


def pickle_payload(data: bytes) -> bytes:
    """The pickle inside stored ``data`` (its signature, if any, cut off and not checked): for
    reading its opcodes, never for loading."""
    return split_signed(data)[1]


def pickled_type_name(data: bytes) -> str:
    """The first class a stored pickle names, read from its opcodes (nothing in it is run):
    the TYPE of ``<pickled TYPE, N bytes>``."""
    payload = pickle_payload(data)
    strings: list[str] = []
    builtin: str | None = None
    try:
        for opcode, argument, _ in pickletools.genops(payload):
            if opcode.name == "GLOBAL" and isinstance(argument, str):
                return _short_name(*argument.split(" ", 1))
            if opcode.name == "STACK_GLOBAL" and len(strings) >= 2:
                return _short_name(*strings[-2:])
            if isinstance(argument, str):
                strings.append(argument)
            builtin = builtin or _BUILTIN_OPCODES.get(opcode.name)
    except Exception:  # a damaged pickle: its placeholder says so, its load() will refuse it
        return "unreadable pickle"
    return builtin or "object"


#: Builtin containers a pickle builds without naming a class.
_BUILTIN_OPCODES = {
    "EMPTY_SET": "set",
    "FROZENSET": "frozenset",
    "EMPTY_DICT": "dict",
    "EMPTY_LIST": "list",
    "BYTEARRAY8": "bytearray",
}


def _short_name(module: str, name: str = "") -> str:
    return name if module == "builtins" else f"{module}.{name}"
