"""The user-object codec: pickles, signed with the key its source gives at each use."""

from __future__ import annotations

import pickle
import threading

import numpy as np
import pytest

from xptrack.adapters.pickles import pickle_payload
from xptrack.adapters.user_object_codec import PickleCodec
from xptrack.application.bootstrap import SIGNING_KEY_ENV, signing_key, user_object_codec
from xptrack.domain.user_objects import PickledValue
from xptrack.errors import CorruptRecord, SignatureError, UnstorableValue


class Key:
    """A key source whose key the test changes (as a user sets the environment variable)."""

    def __init__(self, key: bytes | None = None) -> None:
        self.key = key

    def __call__(self) -> bytes | None:
        return self.key


class Opaque:
    def __init__(self, x):
        self.x = x

    def __eq__(self, other):
        return isinstance(other, Opaque) and other.x == self.x


def test_without_a_key_pickles_are_plain_and_round_trip():
    codec = PickleCodec()
    data = codec.dump({"w": (1, 2)})
    assert pickle.loads(data) == {"w": (1, 2)}
    assert codec.load(data) == {"w": (1, 2)}


def test_with_a_key_pickles_are_signed_and_only_intact_signed_ones_load():
    key = Key()
    codec = PickleCodec(key, key_name="MY_KEY")
    unsigned = codec.dump([1])
    key.key = b"k1"
    signed = codec.dump([1])
    assert signed != unsigned and pickle_payload(signed) == unsigned
    assert codec.load(signed) == [1]
    with pytest.raises(SignatureError, match="not signed and MY_KEY is set"):
        codec.load(unsigned)
    tampered = signed[:-2] + bytes([signed[-2] ^ 1]) + signed[-1:]
    with pytest.raises(SignatureError, match="does not match MY_KEY"):
        codec.load(tampered)
    key.key = b"another key"
    with pytest.raises(SignatureError, match="does not match"):
        codec.load(signed)
    key.key = None  # no key: nothing is checked, a signed pickle loads too
    assert codec.load(signed) == [1] and codec.load(unsigned) == [1]


def test_an_empty_key_signs_nothing():
    assert PickleCodec(Key(b"")).dump(3) == PickleCodec().dump(3)


def test_what_cannot_be_pickled_or_unpickled_is_refused_with_our_errors():
    codec = PickleCodec()
    with pytest.raises(UnstorableValue, match="pickling it failed"):
        codec.dump(threading.Lock())
    with pytest.raises(CorruptRecord, match="cannot be unpickled"):
        codec.load(b"not a pickle")


def test_type_names_are_read_from_signed_and_unsigned_pickles_without_loading():
    signed = PickleCodec(Key(b"k"))
    for codec in (PickleCodec(), signed):
        assert codec.type_name(codec.dump(Opaque(1))) == f"{Opaque.__module__}.Opaque"
        assert codec.type_name(codec.dump({1, 2})) == "set"
    data = signed.dump(Opaque(1))
    assert signed.placeholder(data) == PickledValue(f"{Opaque.__module__}.Opaque", data)


def test_seal_turns_only_values_with_no_json_form_into_placeholders():
    codec = PickleCodec()
    plain = {"a": [1, 2.5, None, "x", True], "b": (np.float64(1.5), b"raw"), 3: {"n": 1}}
    assert codec.seal(plain) == plain
    sealed = codec.seal({"model": Opaque(1), "items": [np.arange(2)]})
    model, array = sealed["model"], sealed["items"][0]
    assert isinstance(model, PickledValue) and model.type_name.endswith(".Opaque")
    assert isinstance(array, PickledValue) and array.type_name.startswith("numpy")
    assert codec.seal(sealed) == sealed  # a placeholder stays as it is
    assert codec.load_pickled(sealed)["model"] == Opaque(1)
    with pytest.raises(UnstorableValue):
        codec.seal([threading.Lock()])


def test_load_pickled_loads_placeholders_at_any_depth():
    codec = PickleCodec()
    placeholder = codec.placeholder(codec.dump(Opaque(2)))
    value = {"a": [placeholder, (placeholder, 1)], "b": "plain"}
    assert codec.load_pickled(value) == {"a": [Opaque(2), (Opaque(2), 1)], "b": "plain"}


def test_the_roots_codec_reads_the_environment_at_each_use(monkeypatch):
    codec = user_object_codec()
    unsigned = codec.dump(1)
    assert signing_key() is None
    monkeypatch.setenv(SIGNING_KEY_ENV, "secret")
    assert signing_key() == b"secret"
    with pytest.raises(SignatureError, match=f"not signed and {SIGNING_KEY_ENV} is set"):
        codec.load(unsigned)


def test_a_pickled_codec_asks_the_same_key_source_in_its_new_process(monkeypatch):
    # A worker gets the codec pickled: the key source goes by reference, read where it runs.
    copy = pickle.loads(pickle.dumps(user_object_codec()))
    monkeypatch.setenv(SIGNING_KEY_ENV, "secret")
    assert copy.load(user_object_codec().dump(5)) == 5
    with pytest.raises(SignatureError):
        copy.load(PickleCodec().dump(5))
