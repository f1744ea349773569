"""What the contract says when a store answers otherwise than the port guarantees."""

from __future__ import annotations

import pytest

from xptrack.adapters.memory import MemoryBackend
from xptrack.domain.trial import TrialRecord, utcnow
from xptrack.testing.checks import agree, guarantee
from xptrack.testing.model import ModelStore


def test_a_guarantee_is_its_whole_first_paragraph_on_one_line() -> None:
    # save_trial's docstring states it over two lines: both halves are the guarantee.
    assert guarantee("save_trial") == (
        "Store ``record`` under its id (one ``next_trial_id`` gave), replacing any earlier "
        "version (idempotent); never changes the trial's tags and note."
    )


def test_a_differing_answer_names_the_call_and_the_guarantee() -> None:
    model, store = ModelStore(), MemoryBackend().open("messages")
    model.save_trial(TrialRecord(1, {"a": 1}, utcnow()))  # the store never got it

    with pytest.raises(AssertionError) as raised:
        agree(model, store, "get_trial", 1)

    message = str(raised.value)
    assert message.startswith("get_trial(1)")
    assert "the port's guarantee: The record of ``trial_id`` with its tags and note" in message
