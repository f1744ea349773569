"""The user-object codec: pickles, HMAC-SHA256-signed when the composition root gives a key.

With a key, every pickle is written signed and one that is unsigned or altered is refused
before it is unpickled. The key is asked for at each dump and load, so a key set (or
changed) after the codec was made applies from then on, in every process it reaches.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any

from xptrack.adapters.pickles import (
    SIGNED_MAGIC,
    pickle_object,
    pickled_type_name,
    split_signed,
    unpickle,
)
from xptrack.adapters.serialization import seal_user_objects
from xptrack.domain.errors import SignatureError
from xptrack.ports.user_objects import UserObjectCodec

#: Where a codec gets its signing key: None (or empty) means unsigned pickles.
KeySource = Callable[[], bytes | None]


def no_key() -> bytes | None:
    """The key source of a codec that neither signs nor checks signatures."""
    return None


class PickleCodec(UserObjectCodec):
    """Pickles signed with the key ``signing_key()`` gives (pickled by reference to a worker,
    which asks its own process: a module-level function, never a lambda).

    >>> codec = PickleCodec()
    >>> codec.load(codec.dump({"w": 1}))
    {'w': 1}
    """

    def __init__(self, signing_key: KeySource = no_key, *, key_name: str = "the signing key"):
        self._signing_key = signing_key
        #: How errors name the key (the setting the user knows it by).
        self._key_name = key_name

    def dump(self, value: Any) -> bytes:
        payload = pickle_object(value)
        key = self._signing_key()
        if not key:
            return payload
        return SIGNED_MAGIC + hmac.digest(key, payload, "sha256") + payload

    def load(self, data: bytes) -> Any:
        key = self._signing_key()
        digest, payload = split_signed(data)
        if key and digest is None:
            raise SignatureError(
                f"stored object is not signed and {self._key_name} is set: refused to load it"
            )
        if key and not hmac.compare_digest(digest or b"", hmac.digest(key, payload, "sha256")):
            raise SignatureError(
                f"stored object's signature does not match {self._key_name}: refused to load it"
            )
        return unpickle(payload)

    def type_name(self, data: bytes) -> str:
        return pickled_type_name(data)

    def seal(self, value: Any) -> Any:
        return seal_user_objects(value, self.dump)
