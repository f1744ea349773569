"""Every read the MongoDB store makes goes through an index (checked with explain() on the test
server, which does not read through a partial index where a query names fields beyond it), so
that a trial costs the same at trial 10,000 as at trial 10."""

from __future__ import annotations

import uuid
from typing import Any

import pymongo
import pytest

from xptrack.adapters.mongo import MongoBackend
from xptrack.domain.environment import EnvironmentSnapshot
from xptrack.domain.trial import TrialRecord, utcnow

pytestmark = pytest.mark.mongo

#: (filter, sort) of each read of the store, with the documents a small experiment has.
READS: list[tuple[dict[str, Any], list[tuple[str, int]] | None]] = [
    ({"category": "trial_id"}, None),
    ({"category": "trial", "trial_id": 2}, None),
    ({"category": "trial"}, [("trial_id", 1)]),
    ({"category": "labels", "trial_id": 2}, None),
    ({"category": "code", "trial_id": 2}, None),
    ({"category": "environment", "trial_id": 2}, None),
    ({"category": "output", "trial_id": 2}, None),
    ({"_id": {"$in": ["text-" + "0" * 64]}}, None),
    ({"category": "step_hash", "input_hash": "prep-abc"}, None),
    ({"category": "metric", "trial_id": 2, "metric_key": "loss"}, [("seq", 1)]),
    ({"category": "persist", "step": "prep", "trial_id": 2}, None),
    ({"category": "step_cache", "step": "prep", "cache_key": "k"}, None),
]
#: The filters of the store's updates and deletes (explained as finds: the test server plans
#: them alike, and explains a write command without its filter).
WRITES: list[dict[str, Any]] = [
    {"category": "trial_id", "trial_id": 3},
    {"category": "trial", "trial_id": 2},
    {"category": "step_hash", "input_hash": "prep-h1", "output_hash": "out"},
]


def plan_stages(plan: dict[str, Any]) -> list[dict[str, Any]]:
    stages = [plan]
    for child in ("inputStage", "inputStages"):
        found = plan.get(child)
        for stage in found if isinstance(found, list) else [found] if found else []:
            stages.extend(plan_stages(stage))
    return stages


@pytest.fixture
def collection(mongo_url):
    experiment_id = f"queries{uuid.uuid4().hex[:8]}"
    store = MongoBackend(mongo_url).open(experiment_id)
    for _ in range(3):
        trial_id = store.next_trial_id()
        store.save_trial(TrialRecord(trial_id, {"a": trial_id}, utcnow()))
        store.save_code(trial_id, "code\n")
        store.save_environment(trial_id, EnvironmentSnapshot({"python": "3.11"}))
        store.swap_step_hash("prep", f"h{trial_id}", "out")
    client: Any = pymongo.MongoClient(mongo_url)
    yield client.get_default_database()[experiment_id]
    store.delete_experiment()
    client.close()


@pytest.mark.parametrize(
    ("query", "sort"),
    [*READS, *((query, None) for query in WRITES)],
    ids=[str(q) for q, _ in READS] + [f"write {q}" for q in WRITES],
)
def test_each_read_goes_through_an_index(collection, query, sort):
    cursor = collection.find(query)
    if sort:
        cursor = cursor.sort(sort)

    stages = plan_stages(cursor.explain()["queryPlanner"]["winningPlan"])

    assert "COLLSCAN" not in [stage.get("stage") for stage in stages], stages
    assert any(stage.get("stage") == "IXSCAN" for stage in stages), stages
