"""The MongoDB store's writes are the fewest commands their guarantees allow, counted with
pymongo's command monitoring on a client of the test's own (benchmarks/ time them)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pymongo
import pytest
from pymongo import monitoring

from xptrack.adapters.mongo import MongoBackend, MongoExperimentStore
from xptrack.adapters.mongo_indexes import EARLIER_INDEXES, WRITE_FILTERS
from xptrack.domain.environment import EnvironmentSnapshot
from xptrack.domain.errors import NotFoundError
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


def test_a_starting_trial_with_its_code_and_environment_is_one_insert(
    counted: MongoExperimentStore, commands: Commands
) -> None:
    environment = EnvironmentSnapshot({"device": "{}", "requirements": "attrs==25.1\n"})
    first = TrialRecord(counted.next_trial_id(), {"a": 1}, utcnow())
    second = TrialRecord(counted.next_trial_id(), {"a": 2}, utcnow())

    # The first stores the texts once; the next refers to them: one command.
    assert commands.during(lambda: counted.save_trial_start(first, "code\n", environment)) == [
        "insert",
        "insert",
    ]
    assert commands.during(lambda: counted.save_trial_start(second, "code\n", environment)) == [
        "insert"
    ]
    assert commands.during(lambda: counted.save_trial(second.succeeded(2, utcnow(), 0.1))) == [
        "update"
    ]
    assert counted.get_trial(second.trial_id).result == 2
    assert counted.load_code(second.trial_id) == "code\n"
    assert counted.load_environment(second.trial_id) == environment


def test_a_start_sent_again_replaces_the_trial_and_keeps_one_of_each(
    counted: MongoExperimentStore, mongo_backend: MongoBackend, mongo_experiment_id: str
) -> None:
    environment = EnvironmentSnapshot({"requirements": "attrs==25.1\n"})
    record = TrialRecord(counted.next_trial_id(), {"a": 1}, utcnow())
    counted.save_trial_start(record, "code\n", environment)

    again = mongo_backend.open(mongo_experiment_id)  # knows nothing of what is stored
    again.save_trial_start(record.succeeded(5, utcnow(), 0.1), "changed\n", environment)

    assert [trial.result for trial in counted.list_trials()] == [5]
    assert counted.load_code(record.trial_id) == "changed\n"
    assert counted.load_environment(record.trial_id) == environment


def test_deleting_a_trial_is_one_command_and_keeps_the_texts_others_share(
    counted: MongoExperimentStore, commands: Commands
) -> None:
    for trial_id in (1, 2):
        counted.save_trial(TrialRecord(trial_id, {"a": trial_id}, utcnow()))
        counted.save_code(trial_id, "shared code\n")
        counted.swap_step_hash("prep", f"in{trial_id}", "out")

    assert commands.during(lambda: counted.delete_trial(1)) == ["delete"]
    with pytest.raises(NotFoundError):
        counted.load_code(1)
    assert counted.load_code(2) == "shared code\n"
    assert [record.trial_id for record in counted.list_trials()] == [2]


def test_listing_experiments_is_two_reads_for_those_this_version_opened(
    mongo_url: str, commands: Commands
) -> None:
    client: pymongo.MongoClient[Any] = pymongo.MongoClient(mongo_url, event_listeners=[commands])
    with client:
        database = client[f"listing{uuid.uuid4().hex[:8]}"]  # holding only this test's
        backend = MongoBackend.from_database(database)
        for experiment_id in ("one", "two", "three"):
            backend.open(experiment_id)
        database["earlier"].create_indexes(  # made by an earlier version: its indexes say so
            [index for index in EARLIER_INDEXES if index not in WRITE_FILTERS]
        )
        database["foreign"].insert_one({"not": "xptrack"})
        backend.open("three").delete_experiment()

        listed = commands.during(backend.list_experiments)
        found = backend.list_experiments()
        client.drop_database(database.name)

    assert found == ["earlier", "one", "two"]
    # The collections and the catalog; the indexes of those not in it (earlier, foreign).
    assert listed == ["listCollections", "find", "listIndexes", "listIndexes"]
