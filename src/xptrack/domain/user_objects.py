"""A user's own objects (persisted outputs, values with no JSON form): pickles, signed on demand.

Pickle can run code when loaded, so xptrack pickles only what the user handed it,
never its own records. With ``XPTRACK_SIGNING_KEY`` set, every pickle is written
with an HMAC-SHA256 signature and one that is unsigned or altered is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import pickle
import pickletools
from typing import Any

import attrs

from xptrack.domain.errors import CorruptRecord, SignatureError, UnstorableValue

SIGNING_KEY_ENV = "XPTRACK_SIGNING_KEY"
_SIGNED_MAGIC = b"XPTS1"
_DIGEST_SIZE = hashlib.sha256().digest_size


def _signing_key() -> bytes | None:
    key = os.environ.get(SIGNING_KEY_ENV)
    return key.encode() if key else None


def dump_user_object(value: Any) -> bytes:
    """``value`` pickled, and HMAC-signed when ``XPTRACK_SIGNING_KEY`` is set."""
    try:
        payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as error:
        raise UnstorableValue(
            f"cannot store {type(value).__name__} {value!r:.80}: it has no JSON form and "
            f"pickling it failed ({error}); store plain data, or make the object picklable"
        ) from error
    key = _signing_key()
    if key is None:
        return payload
    return _SIGNED_MAGIC + hmac.digest(key, payload, "sha256") + payload


def load_user_object(data: bytes) -> Any:
    """The object :func:`dump_user_object` stored; SignatureError when a key is set and the
    data is unsigned or altered."""
    key = _signing_key()
    signed = data.startswith(_SIGNED_MAGIC)
    if signed:
        start = len(_SIGNED_MAGIC)
        digest, payload = data[start : start + _DIGEST_SIZE], data[start + _DIGEST_SIZE :]
        if key is not None and not hmac.compare_digest(digest, hmac.digest(key, payload, "sha256")):
            raise SignatureError(
                f"stored object's signature does not match {SIGNING_KEY_ENV}: refused to load it"
            )
    elif key is not None:
        raise SignatureError(
            f"stored object is not signed and {SIGNING_KEY_ENV} is set: refused to load it"
        )
    else:
        payload = data
    try:
        return pickle.loads(payload)
    except Exception as error:
        raise CorruptRecord(f"stored object cannot be unpickled: {error}") from error


def pickle_payload(data: bytes) -> bytes:
    """The pickle inside ``data`` as :func:`dump_user_object` stored it (its signature, if
    any, cut off and not checked): for reading its opcodes, never for loading."""
    if data.startswith(_SIGNED_MAGIC):
        return data[len(_SIGNED_MAGIC) + _DIGEST_SIZE :]
    return data


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


@attrs.frozen
class PickledValue:
    """A user's object as stored, not unpickled (unpickling may run code).

    What the history, metrics, diff, export, the CLI and the dashboard show, as
    ``<pickled TYPE, N bytes>``; :meth:`load` unpickles it (checking its signature when
    ``XPTRACK_SIGNING_KEY`` is set), as only the calls handing this one value to the user do
    (``get_parameters(n)``, ``get_trial(n).parameters`` and ``.result``, ``get_persisted``).

    >>> PickledValue("mymodule.Model", b"\\x80\\x05.")
    <pickled mymodule.Model, 3 bytes>
    """

    type_name: str
    data: bytes

    def __repr__(self) -> str:
        return f"<pickled {self.type_name}, {len(self.data)} bytes>"

    __str__ = __repr__

    def load(self) -> Any:
        """The object itself (unpickled: only for a value the user asked for by name)."""
        return load_user_object(self.data)


def load_pickled(value: Any) -> Any:
    """``value`` with every :class:`PickledValue` in it (at any depth of lists, tuples and
    dicts) loaded: what a call that hands one value to the user returns."""
    if isinstance(value, PickledValue):
        return value.load()
    if type(value) is list:
        return [load_pickled(item) for item in value]
    if type(value) is tuple:
        return tuple(load_pickled(item) for item in value)
    if type(value) is dict:
        return {load_pickled(key): load_pickled(item) for key, item in value.items()}
    return value
