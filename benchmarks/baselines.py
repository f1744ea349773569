"""Bare baselines: what the same work costs without xptrack.

* :func:`plain_trial` - the two steps of W1 as plain ``dask.delayed`` functions, computed.
* ``Bare*Writes`` - the writes xptrack makes for one trial, made with the bare driver
  (sqlite3 + files / redis-py / pymongo): no ports, no cattrs, no dask. Their time is the
  floor of xptrack's per-trial overhead on that store (round trips and disk, nothing else).
* ``bare_*_points`` - W2's 100,000 metric points written the obvious bare way: SQLite
  ``executemany``, a redis-py pipeline of RPUSH, pymongo ``insert_many``.

Every baseline works in its own temporary folder, key prefix or collection, and removes it.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import dask

# --- W1: the computation alone ----------------------------------------------------------------


def plain_prepare(a: int, b: int) -> int:
    return a + b


def plain_score(s: int) -> int:
    return s * 2


def plain_trial() -> int:
    """The W1 computation with plain dask: the same two functions, a fresh graph each time."""
    (result,) = dask.compute(dask.delayed(plain_score)(dask.delayed(plain_prepare)(1, 2)))
    return int(result)


# --- W1: one trial's writes with the bare driver ------------------------------------------------

#: A representative trial record and code text, encoded once (bare code does no conversion).
_RUNNING = {
    "parameters": {"a": 1, "b": 2},
    "started": "2026-01-01T00:00:00+00:00",
    "seed": 1,
    "status": "running",
    "finished": None,
    "process_time": None,
    "result": None,
    "result_type": None,
    "description": None,
}
_FINISHED = {
    **_RUNNING,
    "status": "succeeded",
    "finished": "2026-01-01T00:00:01+00:00",
    "process_time": 0.001,
    "result": 6,
    "result_type": "int",
}
_CODE = "@ex\ndef prepare(a, b):\n    return a + b\n\n@ex.result\ndef score(s):\n    return s * 2\n"
_HASH = "0" * 32


def environment_texts() -> dict[str, str]:
    """Nine category texts of realistic size (about what the real probe captures)."""
    sizes = {
        "device": 300,
        "cpu": 2300,
        "python": 350,
        "numpy": 1600,
        "scipy": 1800,
        "pandas": 1700,
        "conda": 50,
        "git": 400,
        "requirements": 950,
    }
    return {name: (name * size)[:size] for name, size in sizes.items()}


class BareLocalWrites:
    """One trial's writes as the local store makes them: five SQLite transactions (id, running
    record, two step hashes, finished record) and a hard link per code/environment file."""

    def __init__(self, folder: Path, environment: bool) -> None:
        self.folder = folder
        for name in ("code", "environment", ".blobs"):
            (folder / name).mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(folder / "bare.db", isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(
            "CREATE TABLE IF NOT EXISTS trials (trial_id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " record TEXT);"
            "CREATE TABLE IF NOT EXISTS step_hashes (input_hash TEXT PRIMARY KEY,"
            " output_hash TEXT NOT NULL);"
        )
        self.texts = {"code": _CODE, **(environment_texts() if environment else {})}
        self.blobs = {}
        for name, text in self.texts.items():
            data = text.encode()
            blob = folder / ".blobs" / hashlib.sha256(data).hexdigest()
            blob.write_bytes(data)
            self.blobs[name] = blob

    def _transaction(self, immediate: bool, *statements: tuple[str, Sequence[Any]]) -> Any:
        self.db.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
        row = None
        for sql, parameters in statements:
            row = self.db.execute(sql, parameters).fetchone()
        self.db.execute("COMMIT")
        return row

    def trial(self) -> None:
        (trial_id,) = self._transaction(
            True, ("INSERT INTO trials (record) VALUES (NULL) RETURNING trial_id", ())
        )
        upsert = (
            "INSERT INTO trials (trial_id, record) VALUES (?, ?) ON CONFLICT (trial_id) "
            "DO UPDATE SET record = excluded.record"
        )
        self._transaction(False, (upsert, (trial_id, json.dumps(_RUNNING))))
        for name, blob in self.blobs.items():
            folder = "code" if name == "code" else "environment"
            os.link(blob, self.folder / folder / f"{name}_{trial_id}.txt")
        for step in ("prepare", "score"):
            key = f"{step}-{_HASH}"
            self._transaction(
                True,
                ("SELECT output_hash FROM step_hashes WHERE input_hash = ?", (key,)),
                ("INSERT OR REPLACE INTO step_hashes VALUES (?, ?)", (key, _HASH)),
            )
        self._transaction(False, (upsert, (trial_id, json.dumps(_FINISHED))))

    def close(self) -> None:
        self.db.close()


class BareRedisWrites:
    """One trial's writes as the Redis store makes them: INCR, one MULTI for the running
    record with its code and environment (MSET+ZADD, [SET of the environment's index], the
    shared texts' script), two SET ... GET step hashes, a MULTI of MSET+ZADD for the
    finished record (5 round trips, with or without the environment)."""

    def __init__(self, uri: str, environment: bool) -> None:
        import redis

        self.client = redis.Redis.from_url(uri)
        self.prefix = f"bench-bare-{uuid.uuid4().hex[:8]}:"
        self.environment = environment_texts() if environment else None

    def _record(self, pipe: Any, trial_id: int, document: dict[str, Any]) -> None:
        p = self.prefix
        pipe.mset(
            {
                f"{p}parameter:{trial_id}": json.dumps(document["parameters"]),
                f"{p}history:{trial_id}": json.dumps(document),
            }
        )
        pipe.zadd(f"{p}trials", {str(trial_id): trial_id})

    def _texts(self, pipe: Any, texts: dict[str, str]) -> None:
        # The store's own script (the writes are the same, so is the server's work).
        from xptrack.adapters.redis_texts import PUT_TEXTS

        keys, args = [f"{self.prefix}text_refs"], [self.prefix]
        for key, text in texts.items():
            keys.append(key)
            args += [hashlib.sha256(text.encode()).hexdigest()[:32], text]
        pipe.eval(PUT_TEXTS, len(keys), *keys, *args)

    def trial(self) -> None:
        p = self.prefix
        trial_id = int(self.client.incr(f"{p}trial_id"))
        texts = {f"{p}code:{trial_id}": _CODE}
        with self.client.pipeline(transaction=True) as pipe:
            self._record(pipe, trial_id, _RUNNING)
            if self.environment is not None:
                texts |= {f"{p}{c}:{trial_id}": t for c, t in self.environment.items()}
                pipe.set(f"{p}environment:{trial_id}", json.dumps(sorted(self.environment)))
            self._texts(pipe, texts)
            pipe.execute()
        for step in ("prepare", "score"):
            self.client.set(f"{p}step_hash:{step}-{_HASH}", _HASH, get=True)
        with self.client.pipeline(transaction=True) as pipe:
            self._record(pipe, trial_id, _FINISHED)
            pipe.execute()

    def close(self) -> None:
        keys = list(self.client.scan_iter(match=f"{self.prefix}*", count=1000))
        for start in range(0, len(keys), 1000):
            self.client.unlink(*keys[start : start + 1000])
        self.client.close()


class BareMongoWrites:
    """One trial's writes as the MongoDB store makes them, no findAndModify: the id counter
    as one compare-and-set update from the value seen last, one insert of the running trial
    with its code document (the digest of a text stored once) [and environment document
    (digests)], per step an upsert of its hash (a new input hash each trial: the seed is an
    input), and a replace of the finished trial (5 commands).

    Into a collection with the store's indexes (``store_indexes``: the same writes, each
    index kept up by the server as the store's are), or with only the two indexes these
    writes read through, which ask the server less and keep nothing unique."""

    def __init__(self, uri: str, environment: bool, store_indexes: bool = True) -> None:
        import pymongo

        from xptrack.adapters.mongo_indexes import INDEXES

        self.client: Any = pymongo.MongoClient(uri)
        self.collection = self.client.get_default_database()[f"bench-bare-{uuid.uuid4().hex[:8]}"]
        if store_indexes:
            self.collection.create_indexes(list(INDEXES))
        else:
            self.collection.create_index([("category", 1), ("trial_id", 1)])
            self.collection.create_index([("category", 1), ("input_hash", 1), ("output_hash", 1)])
        texts = {"code": _CODE, **(environment_texts() if environment else {})}
        digests = {name: hashlib.sha256(text.encode()).hexdigest() for name, text in texts.items()}
        self.collection.insert_many(  # the texts, stored once (before any trial)
            [
                {"_id": f"text-{d}", "category": "text", "digest": d, "text": texts[n]}
                for n, d in digests.items()
            ]
        )
        self.collection.insert_one({"category": "trial_id", "trial_id": 0})
        self.code_digest = digests.pop("code")
        self.environment = digests if environment else None
        self.last_id = 0
        self.hashes = 0

    def _document(self, category: str, trial_id: int, **fields: Any) -> dict[str, Any]:
        return {"experiment_id": "bare", "category": category, "trial_id": trial_id, **fields}

    def _next_id(self) -> int:
        self.collection.update_one(
            {"category": "trial_id", "trial_id": self.last_id},
            {"$set": {"trial_id": self.last_id + 1}},
        )
        self.last_id += 1
        return self.last_id

    def trial(self) -> None:
        trial_id = self._next_id()
        started = [
            self._document("trial", trial_id, history=_RUNNING),
            self._document("code", trial_id, code_digest=self.code_digest),
        ]
        if self.environment is not None:
            started.append(self._document("environment", trial_id, digests=self.environment))
        self.collection.insert_many(started)  # ordered, as the store sends them
        for step in ("prepare", "score"):
            self.hashes += 1
            key = {"category": "step_hash", "input_hash": f"{step}-{self.hashes:032x}"}
            self.collection.update_one(
                {**key, "output_hash": _HASH},
                {"$setOnInsert": {"experiment_id": "bare", "step": step}},
                upsert=True,
            )
        finished = self._document("trial", trial_id, history=_FINISHED)
        self.collection.replace_one({"category": "trial", "trial_id": trial_id}, finished)

    def close(self) -> None:
        self.collection.drop()
        self.client.close()


def bare_writes(kind: str, where: Path | str, environment: bool) -> Any:
    """The bare per-trial writer for ``kind`` (local: a folder; others: a server URI)."""
    if kind == "local":
        assert isinstance(where, Path)
        return BareLocalWrites(where, environment)
    assert isinstance(where, str)
    return (BareRedisWrites if kind == "redis" else BareMongoWrites)(where, environment)


# --- W2: many metric points with the bare driver -------------------------------------------------


def _timed(work: Callable[[], None]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def bare_sqlite_points(folder: Path, values: Sequence[float]) -> float:
    """Seconds to write the points as one row each, with ``executemany`` in one transaction."""
    db = sqlite3.connect(folder / f"points-{uuid.uuid4().hex[:8]}.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE points (trial_id INTEGER, key TEXT, epoch INTEGER, value REAL)")

    def write() -> None:
        rows = [(1, "loss", epoch, value) for epoch, value in enumerate(values)]
        db.execute("BEGIN")
        db.executemany("INSERT INTO points VALUES (?, ?, ?, ?)", rows)
        db.execute("COMMIT")

    try:
        return _timed(write)
    finally:
        db.close()


def bare_redis_points(uri: str, values: Sequence[float], per_command: int = 1_000) -> float:
    """Seconds to RPUSH the points (``"epoch:value"`` each) through one redis-py pipeline."""
    import redis

    client = redis.Redis.from_url(uri)
    key = f"bench-bare-{uuid.uuid4().hex[:8]}:metric:loss:1"

    def write() -> None:
        points = [f"{epoch}:{value!r}" for epoch, value in enumerate(values)]
        with client.pipeline(transaction=False) as pipe:
            for start in range(0, len(points), per_command):
                pipe.rpush(key, *points[start : start + per_command])
            pipe.execute()

    try:
        return _timed(write)
    finally:
        client.unlink(key)
        client.close()


def bare_mongo_points(uri: str, values: Sequence[float]) -> float:
    """Seconds to ``insert_many`` the points, one document each."""
    import pymongo

    client: Any = pymongo.MongoClient(uri)
    collection = client.get_default_database()[f"bench-bare-{uuid.uuid4().hex[:8]}"]

    def write() -> None:
        documents = [
            {"trial_id": 1, "key": "loss", "epoch": epoch, "value": value}
            for epoch, value in enumerate(values)
        ]
        collection.insert_many(documents)

    try:
        collection.insert_one({"warm": True})  # create the collection outside the timing
        return _timed(write)
    finally:
        collection.drop()
        client.close()
