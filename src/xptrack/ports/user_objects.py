"""The port of a user's own objects (persisted outputs, values with no JSON form).

The application stores and loads them through a :class:`UserObjectCodec` it is given by
the composition root (which holds the signing key); it never pickles by itself.
"""

from __future__ import annotations

import abc
from typing import Any

from xptrack.domain.user_objects import PickledValue


class UserObjectCodec(abc.ABC):
    """How a user's objects become stored bytes and back (pickles, signed when a key is set)."""

    @abc.abstractmethod
    def dump(self, value: Any) -> bytes:
        """``value`` as stored bytes; UnstorableValue when it cannot be stored."""

    @abc.abstractmethod
    def load(self, data: bytes) -> Any:
        """The object :meth:`dump` stored; SignatureError when a key is set and ``data`` is
        unsigned or altered, CorruptRecord when it is not an object at all."""

    @abc.abstractmethod
    def type_name(self, data: bytes) -> str:
        """The type of the object in ``data``, read without loading it."""

    @abc.abstractmethod
    def seal(self, value: Any) -> Any:
        """``value`` (a parameter value or a result) with every object in it that has no JSON
        form dumped now, as its :class:`PickledValue`: what a trial record holds."""

    def placeholder(self, data: bytes) -> PickledValue:
        """The ``<pickled TYPE, N bytes>`` placeholder of stored ``data`` (never loaded)."""
        return PickledValue(self.type_name(data), data)

    def load_pickled(self, value: Any) -> Any:
        """``value`` with every :class:`PickledValue` in it (at any depth of lists, tuples and
        dicts) loaded: what a call that hands one value to the user returns."""
        if isinstance(value, PickledValue):
            return self.load(value.data)
        if type(value) is list:
            return [self.load_pickled(item) for item in value]
        if type(value) is tuple:
            return tuple(self.load_pickled(item) for item in value)
        if type(value) is dict:
            return {self.load_pickled(key): self.load_pickled(item) for key, item in value.items()}
        return value
