"""The MongoDB store's writes, each the fewest plain commands its guarantee allows.

No write is a ``findAndModify``: MongoDB-wire servers such as SecantusDB run it as a scan of
the collection (its cost grows with every trial), and a plain insert, update or find through
an index does the same work here. Atomic read-modify-writes (the id counters, step hashes) are
compare-and-set: update only where the value is still the one expected; a concurrent writer
makes the update match nothing, and a loop reads the value again. A counter expects the value
this process last saw, and a step hash the value it stores (the same hash again, or a new input
hash): each is one command unless another process got there first.

Code and environment texts are kept once per distinct content (:class:`TextStore`): documents
of category ``text`` whose ``_id`` is ``text-<SHA-256>`` (found through the ``_id`` index),
which per-trial documents refer to by the digest.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Iterable, Mapping
from typing import Any

from pymongo.collection import Collection
from pymongo.errors import BulkWriteError, DuplicateKeyError

from xptrack.adapters.mongo_connection import only_duplicates
from xptrack.adapters.mongo_documents import Document, int_field, text_field
from xptrack.domain.errors import ConflictError, CorruptRecord

_ATTEMPTS = 200
_BACKOFF_SECONDS = 0.004


def _back_off(attempt: int) -> None:
    """A few random milliseconds, so that racing writers stop meeting each other."""
    if attempt:
        time.sleep(random.uniform(0, _BACKOFF_SECONDS * min(attempt, 10)))


def insert_new(
    collection: Collection[Document], key: Mapping[str, Any], document: Document
) -> None:
    """Store ``document`` at ``key`` when it is most likely new (one insert), replacing the
    one there if not."""
    try:
        collection.insert_one(dict(document))
    except DuplicateKeyError:
        put(collection, key, document)


def put(collection: Collection[Document], key: Mapping[str, Any], document: Document) -> None:
    """Store ``document`` at ``key``, replacing the one there: one plain replace, or an insert
    when there is none (a racing insert makes this replace the winner's)."""
    for attempt in range(_ATTEMPTS):
        _back_off(attempt)
        if collection.replace_one(dict(key), document).matched_count:
            return
        try:
            collection.insert_one(dict(document))
        except DuplicateKeyError:
            continue
        return
    raise ConflictError(f"{key.get('category')} record kept changing under concurrent writers")


def increment(
    collection: Collection[Document], counter: Document, field: str, by: int, last: int | None
) -> int:
    """Add ``by`` to ``field`` of the counter document ``counter`` (its identity and experiment
    fields), atomically; the new value. A missing counter starts at 0.

    ``last`` is the value this process last saw (None when it saw none): while no other
    process moved the counter, the compare-and-set from it is the one command.
    """
    key = {"category": counter["category"]}
    value, guessed, losses = last, last is not None, 0
    for _ in range(_ATTEMPTS):
        if value is None:
            _back_off(losses)
            current = collection.find_one(key, {field: True})
            if current is None:
                try:  # its _id makes it the only one (its value may be in the identity)
                    collection.insert_one(
                        {"_id": f"counter-{key['category']}", **counter, field: by}
                    )
                except DuplicateKeyError:
                    losses += 1
                    continue
                return by
            value = int_field(current, field)
        if collection.update_one(
            {**key, field: value}, {"$set": {field: value + by}}
        ).matched_count:
            return value + by
        losses += not guessed  # a value read just now lost: a concurrent writer
        value, guessed = None, False
    raise ConflictError(f"the {field} counter kept changing under concurrent writers")


def swap(
    collection: Collection[Document], key: Mapping[str, Any], value: str, document: Document
) -> str | None:
    """Store ``value`` in the ``output_hash`` of the document at ``key`` (``document`` when
    there is none), atomically; the value stored before (None when new).

    One upsert when the value is new or already there (which writes nothing): it matches the
    document only if it holds ``value``, else inserts ``document``; the unique index refuses
    that insert when the document holds another value, and a compare-and-set loop takes over.
    """
    fresh = {name: v for name, v in document.items() if name not in key and name != "output_hash"}
    try:
        done = collection.update_one(
            {**key, "output_hash": value}, {"$setOnInsert": fresh}, upsert=True
        )
    except DuplicateKeyError:
        return _swap_changed(collection, key, value, document)
    return None if done.upserted_id is not None else value


def _swap_changed(
    collection: Collection[Document], key: Mapping[str, Any], value: str, document: Document
) -> str | None:
    for attempt in range(_ATTEMPTS):
        _back_off(attempt)
        current = collection.find_one(dict(key), {"output_hash": True})
        if current is None:  # deleted since: as if new
            try:
                collection.insert_one(dict(document))
            except DuplicateKeyError:
                continue
            return None
        previous = text_field(current, "output_hash", "step hash")
        if previous == value:
            return previous
        changed = collection.update_one(
            {**key, "output_hash": previous}, {"$set": {"output_hash": value}}
        )
        if changed.matched_count:
            return previous
    raise ConflictError("a step hash kept changing under concurrent writers")


def digest(text: str) -> str:
    """The name a text is kept under: its SHA-256, in hex."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class TextStore:
    """Code and environment texts of one experiment, each distinct content once.

    Remembers which texts it knows to be stored, so that a trial in an unchanged environment
    writes none (only the per-trial document that refers to them).
    """

    def __init__(self, collection: Collection[Document], experiment_id: str) -> None:
        self._collection = collection
        self._experiment_id = experiment_id
        self._known: set[str] = set()

    def forget(self) -> None:
        """The experiment was dropped: nothing is known to be stored any more."""
        self._known.clear()

    def keep(self, texts: Iterable[str]) -> list[str]:
        """Store each of ``texts`` unless stored already; their digests, in order."""
        named = [(digest(text), text) for text in texts]
        new = {name: text for name, text in named if name not in self._known}
        if new:
            documents = [
                {"_id": f"text-{n}", "experiment_id": self._experiment_id, "category": "text"}
                | {"digest": n, "text": t}
                for n, t in new.items()
            ]
            try:
                self._collection.insert_many(documents, ordered=False)
            except BulkWriteError as error:  # those stored already: exactly what is wanted
                if not only_duplicates(error):
                    raise
            self._known.update(new)
        return [name for name, _ in named]

    def texts(self, digests: Iterable[str], what: str) -> dict[str, str]:
        """Digest -> text of each of ``digests``; CorruptRecord naming ``what`` when one is
        missing (a reference to a text nobody stored)."""
        wanted = sorted(set(digests))
        found = {
            document.get("digest"): text_field(document, "text", what)
            for document in self._collection.find(
                {"_id": {"$in": [f"text-{name}" for name in wanted]}},
                {"digest": True, "text": True},
            )
        }
        missing = [name for name in wanted if name not in found]
        if missing:
            raise CorruptRecord(f"{what} refers to texts that are not stored: {missing[:3]}")
        self._known.update(wanted)
        return {name: found[name] for name in wanted}
