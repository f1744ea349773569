"""Texts to UTF-8 and back: the errors every store gives for texts it cannot keep or read."""

from __future__ import annotations

import pytest

from xptrack.adapters.utf8 import decoded, encoded
from xptrack.domain.errors import CorruptRecord, UnstorableValue


def test_a_text_round_trips() -> None:
    assert decoded(encoded("naïve ✓"), "code") == "naïve ✓"


def test_a_lone_surrogate_is_unstorable_and_the_message_shows_it() -> None:
    with pytest.raises(UnstorableValue, match=r"'\\ud800'.*accepted: text that encodes as UTF-8"):
        encoded("x = '\ud800'")


def test_bytes_that_are_not_utf8_are_a_corrupt_record_naming_what() -> None:
    with pytest.raises(CorruptRecord, match="the stored code of trial 3 is not UTF-8 text"):
        decoded(b"\xff\xfe", "code of trial 3")
