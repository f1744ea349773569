"""Every read the MongoDB store makes, and every filter of its writes, goes through an index
(checked with explain() on the test server, which reads through an index only where a query's
fields are exactly its leading ones), so that a trial costs the same at trial 10,000 as at 10;
and an experiment has only the indexes of the version that made it."""

from __future__ import annotations

import uuid
from typing import Any

import pymongo
import pytest

from xptrack.adapters.mongo import MongoBackend
from xptrack.adapters.mongo_documents import TRIAL_CATEGORIES
from xptrack.adapters.mongo_indexes import EARLIER_INDEXES, INDEXES, WRITE_FILTERS
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
    {"category": "metric_seq", "metric_seq": 4},
    *({"category": category, "trial_id": 2} for category in TRIAL_CATEGORIES),  # delete_trial
]


def plan_stages(plan: dict[str, Any]) -> list[dict[str, Any]]:
    stages = [plan]
    for child in ("inputStage", "inputStages"):
        found = plan.get(child)
        for stage in found if isinstance(found, list) else [found] if found else []:
            stages.extend(plan_stages(stage))
    return stages


@pytest.fixture(params=["this version's", "an earlier version's"])
def collection(request, mongo_url):
    """A small experiment, in a collection made by this version or by an earlier one (which had
    the earlier indexes without the partial ones this version's writes read through)."""
    experiment_id = f"queries{uuid.uuid4().hex[:8]}"
    client: Any = pymongo.MongoClient(mongo_url)
    raw = client.get_default_database()[experiment_id]
    if request.param == "an earlier version's":
        raw.create_indexes([i for i in EARLIER_INDEXES if i not in WRITE_FILTERS])
    store = MongoBackend(mongo_url).open(experiment_id)
    for _ in range(3):
        trial_id = store.next_trial_id()
        store.save_trial(TrialRecord(trial_id, {"a": trial_id}, utcnow()))
        store.save_code(trial_id, "code\n")
        store.save_environment(trial_id, EnvironmentSnapshot({"python": "3.11"}))
        store.swap_step_hash("prep", f"h{trial_id}", "out")
    yield raw
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


def names(indexes: Any) -> set[str]:
    return {index.document["name"] for index in indexes}


def test_an_experiment_keeps_the_indexes_of_the_version_that_made_it(request, collection):
    made_here = request.node.callspec.params["collection"] == "this version's"

    found = set(collection.index_information())

    # Few indexes where this version made the experiment: every index costs every write.
    assert found == {"_id_"} | names(INDEXES if made_here else EARLIER_INDEXES)
