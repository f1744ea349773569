"""Persisted step outputs and cached step outputs in the MongoDB store: a user's own bytes, cut
into pieces so that no document comes near MongoDB's 16 MB limit.

A head document (``persist`` or ``step_cache``) holds the first piece and the number of pieces;
the others are ``<category>_chunk`` documents sharing the head's ``version``. Pieces go in
first, and the head publishes them: a reader sees a whole output or the one before it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any

from bson import Binary
from pymongo import ReturnDocument
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError

from xptrack.adapters.mongo_connection import insert_once
from xptrack.adapters.mongo_documents import Document, bytes_field, int_field, set_remembering
from xptrack.domain.errors import ConflictError, CorruptRecord
from xptrack.domain.step_cache import CachedOutput
from xptrack.ports.not_found import no_persisted

#: Persisted outputs are cut into pieces of this size, well under the 16 MB limit.
PERSIST_CHUNK_BYTES = 8 * 1024 * 1024
_READ_ATTEMPTS = 5
_WRITE_ATTEMPTS = 20


def _pieces(data: bytes) -> list[Binary]:
    """``data`` cut into pieces of at most :data:`PERSIST_CHUNK_BYTES` (one piece at least)."""
    size = PERSIST_CHUNK_BYTES
    return [Binary(data[i : i + size]) for i in range(0, len(data), size)] or [Binary(b"")]


class MongoOutputs:
    """The persisted and cached outputs of one experiment's collection."""

    def __init__(self, collection: Collection[Document], experiment_id: str) -> None:
        self._collection = collection
        self._experiment_id = experiment_id

    def _document(self, key: Mapping[str, Any], **fields: Any) -> Document:
        return {"experiment_id": self._experiment_id, **key, **fields}

    def _chunks(
        self, collection: Collection[Document], key: Mapping[str, Any], pieces: list[Binary]
    ) -> None:
        """Insert the pieces after the first, each a document at ``key`` with its ``seq``."""
        if len(pieces) > 1:
            documents = [self._document(key, seq=i, data=p) for i, p in enumerate(pieces[1:], 1)]
            insert_once(collection, documents)

    def save_persisted(
        self, collection: Collection[Document], step: str, trial_id: int, data: bytes
    ) -> None:
        """Store ``data`` for (step, trial), replacing the earlier output whole."""
        # Pieces after the first go in first, under a fresh version; replacing the head
        # document then publishes them all at once, and the replaced version is removed.
        pieces, version = _pieces(data), uuid.uuid4().hex
        key = {"category": "persist", "step": step, "trial_id": trial_id}
        self._chunks(collection, {**key, "category": "persist_chunk", "version": version}, pieces)
        head = self._document(key, version=version, chunks=len(pieces), data=pieces[0])
        update = set_remembering(head, replaced_version="version", replaced_chunks="chunks")
        projection = {"replaced_version": True, "replaced_chunks": True}
        after = _change_or_insert(
            collection,
            lambda c: c.find_one_and_update(
                key, update, projection, return_document=ReturnDocument.AFTER
            ),
            head,
        )
        if after is not None and int_field(after, "replaced_chunks") > 1:
            replaced = {**key, "category": "persist_chunk", "version": after["replaced_version"]}
            self._collection.delete_many(replaced)

    def load_persisted(self, step: str, trial_id: int) -> bytes:
        """The bytes saved for (step, trial); NotFoundError when none."""
        key = {"category": "persist", "step": step, "trial_id": trial_id}
        for _ in range(_READ_ATTEMPTS):
            head = self._collection.find_one(key)
            if head is None:
                raise no_persisted(step, trial_id)
            data = self._joined(head, ("step", "trial_id", "version"), "persisted output")
            if data is not None:
                return data
        raise CorruptRecord(f"persisted output of step {step!r} in trial {trial_id} is incomplete")

    def _joined(self, head: Document, identity: tuple[str, ...], what: str) -> bytes | None:
        """The bytes ``head`` and its pieces (``<category>_chunk`` documents sharing the head's
        ``identity`` fields) hold; None when a concurrent save replaced the pieces."""
        what, chunks = f"{what} of step {head.get('step')!r}", int_field(head, "chunks")
        pieces = [bytes_field(head, what)]
        if chunks > 1:
            category = f"{head.get('category')}_chunk"
            query = {"category": category, **{f: head.get(f) for f in identity}}
            rest = list(self._collection.find(query, {"seq": True, "data": True}).sort("seq"))
            if [document.get("seq") for document in rest] != list(range(1, chunks)):
                return None
            pieces.extend(bytes_field(document, what) for document in rest)
        return b"".join(pieces)

    def add_cached_output(
        self, collection: Collection[Document], step: str, key: str, output: CachedOutput
    ) -> bool:
        """Store ``output`` under (step, key) unless an entry is there; True when stored."""
        # Pieces first, under a version of this writer's own; the head document publishes
        # them, and the unique index lets one head in. Heads are never replaced.
        pieces, version = _pieces(output.data), uuid.uuid4().hex
        head_key = {"category": "step_cache", "step": step, "cache_key": key}
        chunk_key = {
            **head_key,
            "category": "step_cache_chunk",
            "version": version,
            "trial_id": output.trial_id,
        }
        self._chunks(collection, chunk_key, pieces)
        head = self._document(
            head_key, trial_id=output.trial_id, version=version, chunks=len(pieces), data=pieces[0]
        )
        try:
            collection.insert_one(head)
        except DuplicateKeyError:
            kept = self._collection.find_one(head_key, {"version": True})
            if kept is not None and kept.get("version") == version:
                return True  # our own insert, sent again after a timeout: it was stored
            if len(pieces) > 1:
                self._collection.delete_many(chunk_key)
            return False
        return True

    def load_cached_output(self, step: str, key: str) -> CachedOutput | None:
        """The whole entry stored under (step, key), or None when there is none."""
        head = self._collection.find_one({"category": "step_cache", "step": step, "cache_key": key})
        if head is None:
            return None
        data = self._joined(head, ("step", "cache_key", "version"), "cached output")
        if data is None:
            raise CorruptRecord(f"cached output of step {step!r} is missing some of its pieces")
        return CachedOutput(int_field(head, "trial_id"), data)


def _change_or_insert(
    collection: Collection[Document],
    change: Callable[[Collection[Document]], Document | None],
    insert: Document,
) -> Document | None:
    """Apply ``change`` (an atomic find-and-modify returning the document after it), or
    insert ``insert`` when there is nothing to change; None when it was inserted.

    Not an upsert: racing upserts on a missing document may all insert, and some
    servers then answer a loser with nothing. Here the unique index lets exactly
    one insert win, and every loser goes back to changing the winner's document.
    Changes return the document *after*: what a change replaced is captured by the
    change itself (see ``set_remembering``), as some servers' pre-images are stale.
    """
    for _ in range(_WRITE_ATTEMPTS):
        after = change(collection)
        if after is not None:
            return after
        try:
            collection.insert_one(dict(insert))
        except DuplicateKeyError:
            continue
        return None
    raise ConflictError(f"{insert['category']} record kept changing under concurrent writers")
