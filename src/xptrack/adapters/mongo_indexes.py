"""The indexes of an experiment's collection: few, as every index costs every write.

An experiment made by this version gets :data:`INDEXES`: one unique index on every field that
identifies a document (``category``, then ``trial_id``, ``metric_key``, ``seq``, ``version``,
``input_hash``, ``digest``; a field a category does not use is null; the chunks of one output
share a fresh ``version``), which keeps ids unique per category and serves every read by
category and trial; and partial indexes keyed without ``category`` where a read names other
fields, or where a category's documents carry a field that is not part of their identity (a
counter's value, the ``version`` of labels, persisted outputs and cached outputs), which keep
those unique.

A MongoDB-wire server such as SecantusDB reads through an index only when a query's fields,
less those of a partial index's filter, are exactly its leading fields (in any order); a
mongod reads through these as well. tests/integration/test_mongo_queries.py checks each read
and each write's filter with explain().

An experiment made by an earlier version (it has the index ``xptrack_lookup``) keeps its
indexes, :data:`EARLIER_INDEXES`, and gets the partial indexes this version's writes read
through.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pymongo import ASCENDING, IndexModel

#: The fields that identify a document, in the order reads by category and trial name them.
IDENTITY = ("category", "trial_id", "metric_key", "seq", "version", "input_hash", "digest")
#: An index only earlier versions create: a collection with it was made by one of them.
EARLIER_MARK = "xptrack_lookup"
#: The index this version's experiments are recognised by.
MARK = "xptrack_identity"
#: The collection naming each experiment opened since this version (``_id``: its id), so that
#: listing them is one read; not a valid experiment id (those start with a letter or digit).
CATALOG = "_xptrack_experiments"


def _keys(*fields: str) -> list[tuple[str, int]]:
    return [(field, ASCENDING) for field in fields]


def _of(category: str, name: str, *fields: str, unique: bool = False) -> IndexModel:
    """An index of the documents of ``category`` only, on ``fields``."""
    return IndexModel(
        _keys(*fields), unique=unique, partialFilterExpression={"category": category}, name=name
    )


def _unique(category: str, *fields: str) -> IndexModel:
    """The earlier versions' unique index of a category (``category`` leads its keys)."""
    return _of(category, f"xptrack_{category}", "category", *fields, unique=True)


#: What this version's writes read through, in every experiment: the compare-and-set filters
#: of the step hash and the metric counter.
WRITE_FILTERS = (
    _of("step_hash", "xptrack_step_hash_value", "input_hash", "output_hash"),
    _of("metric_seq", "xptrack_metric_seq_value", "metric_seq"),
)

INDEXES = (
    IndexModel(_keys(*IDENTITY), unique=True, name=MARK),  # a counter is one by its _id
    _of("labels", "xptrack_labels_of_trial", "trial_id", unique=True),
    _of("persist", "xptrack_persist_of_trial", "trial_id", "step", unique=True),
    _of("step_cache", "xptrack_cache_entry", "step", "cache_key", unique=True),
    *WRITE_FILTERS,
)

EARLIER_INDEXES = (
    IndexModel(_keys("category", "trial_id", "metric_key", "seq"), name=EARLIER_MARK),
    IndexModel(_keys("category", "input_hash"), name="xptrack_hash_lookup"),
    IndexModel(_keys("category", "step", "trial_id"), name="xptrack_step_lookup"),
    IndexModel(_keys("category", "step", "cache_key"), name="xptrack_cache_lookup"),
    _unique("trial_id"),
    _unique("metric_seq"),
    _unique("trial", "trial_id"),
    _unique("labels", "trial_id"),
    _unique("code", "trial_id"),
    _unique("environment", "trial_id"),
    _unique("output", "trial_id"),
    _unique("persist", "step", "trial_id"),
    _unique("persist_chunk", "step", "trial_id", "version", "seq"),
    _unique("metric", "trial_id", "metric_key", "seq"),
    _unique("step_hash", "input_hash"),
    _unique("step_cache", "step", "cache_key"),
    _unique("step_cache_chunk", "step", "cache_key", "version", "seq"),
    *WRITE_FILTERS,
)


def indexes_for(existing: Mapping[str, Any]) -> tuple[IndexModel, ...]:
    """The indexes a collection whose index information is ``existing`` should have."""
    return EARLIER_INDEXES if EARLIER_MARK in existing else INDEXES


def is_experiment(existing: Mapping[str, Any]) -> bool:
    """Whether a collection with the indexes ``existing`` holds an experiment."""
    return EARLIER_MARK in existing or MARK in existing
