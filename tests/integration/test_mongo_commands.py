"""The MongoDB store's writes are the fewest commands their guarantees allow, counted with
pymongo's command monitoring on a client of the test's own (benchmarks/ time them)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pymongo
import pytest
from pymongo import monitoring

from xptrack.adapters.mongo import MongoBackend, MongoExperimentStore
from xptrack.domain.trial import TrialRecord, utcnow

pytestmark = pytest.mark.mongo


class Commands(monitoring.CommandListener):
    """The names of the commands sent, in order."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.sent.append(event.command_name)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def during(self, work: Any) -> list[str]:
        """The commands ``work()`` sends."""
        self.sent.clear()
        work()
        return list(self.sent)


@pytest.fixture
def commands() -> Commands:
    return Commands()


@pytest.fixture
def counted(
    mongo_url: str, mongo_experiment_id: str, commands: Commands
) -> Iterator[MongoExperimentStore]:
    """A store whose client reports every command to ``commands``."""
    client: pymongo.MongoClient[Any] = pymongo.MongoClient(mongo_url, event_listeners=[commands])
    with client:
        yield MongoBackend.from_database(client.get_default_database()).open(mongo_experiment_id)


def test_the_id_counter_is_one_update_while_no_one_else_moves_it(
    counted: MongoExperimentStore, commands: Commands
) -> None:
    counted.next_trial_id()

    assert commands.during(counted.next_trial_id) == ["update"]
    assert counted.last_trial_id() == 2


def test_a_counter_moved_by_another_store_gives_the_next_id(
    counted: MongoExperimentStore, mongo_backend: MongoBackend, mongo_experiment_id: str
) -> None:
    other = mongo_backend.open(mongo_experiment_id)
    assert counted.next_trial_id() == 1
    assert [other.next_trial_id(), other.next_trial_id()] == [2, 3]

    assert counted.next_trial_id() == 4  # its remembered 1 is stale: it reads the counter
    assert other.next_trial_id() == 5


def test_a_step_hash_new_or_unchanged_is_one_upsert(
    counted: MongoExperimentStore, commands: Commands
) -> None:
    new = commands.during(lambda: counted.swap_step_hash("prep", "in", "out"))
    same = commands.during(lambda: counted.swap_step_hash("prep", "in", "out"))

    assert new == same == ["update"]
    assert counted.swap_step_hash("prep", "in", "changed") == "out"  # the slower path
    assert counted.swap_step_hash("prep", "in", "changed") == "changed"


def test_a_trial_saved_again_is_one_replace(
    counted: MongoExperimentStore, commands: Commands
) -> None:
    trial_id = counted.next_trial_id()
    record = TrialRecord(trial_id, {"a": 1}, utcnow())

    assert commands.during(lambda: counted.save_trial(record)) == ["insert"]
    assert commands.during(lambda: counted.save_trial(record.succeeded(1, utcnow(), 0.5))) == [
        "update"
    ]
    assert counted.get_trial(trial_id).result == 1
