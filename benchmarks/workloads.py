"""The workloads W1-W4, each measured on one backend next to its bare baseline (W6 and W7,
which grow an experiment, are in ``growth.py``).

Every function returns :class:`measure.Row` objects: the figure xptrack reaches, the
baseline's, the issue's target and whether it is met, plus raw figures for the JSON file.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import baselines
import counting
from measure import Backend, Row, Target, median, summary, timed, two_step_experiment

import xptrack
from xptrack.adapters.mongo_indexes import INDEXES as MONGO_INDEXES
from xptrack.domain.trial import StepRecord, TrialRecord, utcnow

CHILD = Path(__file__).resolve().parent / "child.py"


# --- W1 per-trial overhead -----------------------------------------------------------------------

W1_TARGET = {"local": 0.5, "redis": 1.0, "mongo": 1.0}
#: Issue 15: MongoDB's per-trial overhead at most this many times its floor (W1b).
W1B_FLOOR_RATIO = {"mongo": 1.3}


def w1_overhead(backend: Backend, trials: int, warmup: int) -> list[Row]:
    """Tracker trial vs plain dask.compute vs the bare driver's writes, interleaved."""
    rows = []
    for capture in (True, False):
        label = "env on" if capture else "env off"
        _ex, call = two_step_experiment(backend, "w1", capture_environment=capture)
        bare = baselines.bare_writes(
            backend.kind, backend.uri or backend.scratch("bare-w1"), environment=capture
        )
        # MongoDB: the same writes also into a collection with only the indexes they read
        # through (what the store's unique indexes cost the server, shown beside the floor).
        lean = (
            baselines.BareMongoWrites(backend.uri, capture, store_indexes=False)
            if backend.kind == "mongo" and backend.uri
            else None
        )
        try:
            for _ in range(warmup):
                call.compute(), baselines.plain_trial(), bare.trial()
                if lean is not None:
                    lean.trial()
            tracker, plain, writes, lean_writes = [], [], [], []
            tracker_cpu: list[float] = []
            plain_cpu: list[float] = []
            for _ in range(trials):  # interleaved, so that machine noise hits all three alike
                tracker.append(timed(call.compute, tracker_cpu))
                plain.append(timed(baselines.plain_trial, plain_cpu))
                writes.append(timed(bare.trial))
                if lean is not None:
                    lean_writes.append(timed(lean.trial))
        finally:
            bare.close()
            if lean is not None:
                lean.close()
        counts = (
            counting.per_call(call.compute, 20, backend.kind) if backend.kind != "local" else {}
        )
        overhead = (median(tracker) - median(plain)) * 1e3
        cpu_overhead = (median(tracker_cpu) - median(plain_cpu)) * 1e3
        data = {
            "tracker": summary(tracker),
            "plain_dask": summary(plain),
            "bare_writes": summary(writes),
            "overhead_ms": overhead,
            "cpu_overhead_ms": cpu_overhead,
            "tracker_cpu": summary(tracker_cpu),
            "plain_dask_cpu": summary(plain_cpu),
            "paired_overhead_ms": median([t - p for t, p in zip(tracker, plain, strict=False)])
            * 1e3,
            "per_trial_counts": counts,
        }
        what = {"redis": "round trips", "mongo": "commands"}.get(backend.kind)
        counted = f"; {what}: {counting.described(counts)}" if what else ""
        rows.append(
            Row(
                f"W1 per-trial overhead, {label}",
                backend.kind,
                overhead,
                f"{overhead:+.2f} ms ({median(tracker) * 1e3:.2f} ms/trial)",
                f"{median(plain) * 1e3:.2f} ms/trial plain dask",
                Target("<=", W1_TARGET[backend.kind], "ms"),
                note=f"median of {trials} interleaved trials after {warmup} warm-up; "
                f"CPU-time overhead {cpu_overhead:+.2f} ms{counted}",
                data=data,
            )
        )
        driver = {"local": "sqlite3+os.link", "redis": "redis-py", "mongo": "pymongo"}
        floor = median(writes) * 1e3
        ratio = overhead / floor
        floor_note = "the bare writes are the floor of the overhead on this store"
        floor_data = {"bare_writes_ms": floor, "overhead_ms": overhead, "floor_ratio": ratio}
        if lean_writes:
            lean_floor = median(lean_writes) * 1e3
            floor_note += (
                f" (on the store's {len(MONGO_INDEXES)} indexes); into a collection with only the"
                f" 2 indexes the writes read through: {lean_floor:.2f} ms,"
                f" {overhead / lean_floor:.2f}x"
            )
            floor_data |= {"lean_bare_writes_ms": lean_floor, "lean_ratio": overhead / lean_floor}
        rows.append(
            Row(
                f"W1b trial writes vs bare driver, {label}",
                backend.kind,
                ratio,
                f"{overhead:+.2f} ms overhead, {ratio:.2f}x the floor",
                f"{floor:.2f} ms same writes, bare {driver[backend.kind]}",
                Target("<=", W1B_FLOOR_RATIO[backend.kind], "x")
                if backend.kind in W1B_FLOOR_RATIO
                else None,
                note=floor_note,
                data=floor_data,
            )
        )
    return rows


# --- W2 save_metric throughput -------------------------------------------------------------------

W2_TARGET = {"local": 1_000_000, "redis": 500_000, "mongo": 200_000}


def w2_metrics(backend: Backend, points: int, repeats: int, bare_points: int) -> list[Row]:
    """Points/s of ``save_metric`` in one step: (trial with N points - trial with none) / N."""
    experiment_id = backend.new_id("w2")
    ex = xptrack.Experiment(
        experiment_id, backend=backend.argument(experiment_id), capture_environment=False
    )
    values = [1.0 / (epoch + 1) for epoch in range(points)]
    loops: list[float] = []
    n = ex.parameter("n", default=0)

    @ex.result
    def log_points(n: int) -> int:
        save = ex.save_metric
        started = time.perf_counter()
        for epoch in range(n):
            save("loss", epoch, values[epoch])
        loops.append(time.perf_counter() - started)
        return n

    call = log_points(n)
    ex.set_parameters(n=1_000)
    call.compute()  # warm-up
    full, empty = [], []
    full_cpu: list[float] = []
    empty_cpu: list[float] = []
    for _ in range(repeats):
        ex.set_parameters(n=points)
        full.append(timed(call.compute, full_cpu))
        full_trial = ex.trial_id
        ex.set_parameters(n=0)
        empty.append(timed(call.compute, empty_cpu))
    stored = len(ex.load_metric("loss", full_trial))
    assert stored == points, f"{stored} points stored, {points} saved"
    rate = points / (median(full) - median(empty))
    cpu_rate = points / (median(full_cpu) - median(empty_cpu))
    loop_rate = points / median(loops[1::2])  # the loops of the full trials
    base_values = values[:bare_points]
    bare_seconds = [_bare_points(backend, base_values) for _ in range(repeats)]
    bare_rate = bare_points / median(bare_seconds)
    what = {
        "local": "sqlite3 executemany",
        "redis": "redis-py pipeline RPUSH",
        "mongo": "pymongo insert_many",
    }[backend.kind]
    note = (
        f"{points:,} points, median of {repeats}; in-step loop alone {loop_rate:,.0f}/s;"
        f" by CPU time {cpu_rate:,.0f}/s"
    )
    if bare_points != points:
        note += f"; bare baseline on {bare_points:,} points (rate)"
    return [
        Row(
            "W2 save_metric points/s",
            backend.kind,
            rate,
            f"{rate:,.0f}/s",
            f"{bare_rate:,.0f}/s {what}",
            Target(">=", W2_TARGET[backend.kind], "points/s"),
            note=note,
            data={
                "trial_full": summary(full),
                "trial_empty": summary(empty),
                "loop_rate": loop_rate,
                "cpu_rate": cpu_rate,
                "bare_seconds": bare_seconds,
                "bare_points": bare_points,
            },
        )
    ]


def _bare_points(backend: Backend, values: list[float]) -> float:
    if backend.kind == "local":
        return baselines.bare_sqlite_points(backend.scratch("bare-w2"), values)
    assert backend.uri is not None
    if backend.kind == "redis":
        return baselines.bare_redis_points(backend.uri, values)
    return baselines.bare_mongo_points(backend.uri, values)


# --- W3 history and W4 open, in fresh processes --------------------------------------------------


def _record(trial_id: int) -> TrialRecord:
    """A finished trial as the runner records it: parameters, seed, heartbeat, two steps."""
    started = utcnow()
    record = TrialRecord(
        trial_id,
        {"a": trial_id % 10, "b": 0.1 * trial_id, "model": "ridge"},
        started,
        seed=trial_id,
        heartbeat=started,
    )
    steps = (StepRecord("prepare", started, started), StepRecord("score", started, started))
    return record.succeeded(1.0 / trial_id, utcnow(), 0.0123, steps=steps)


def fill(backend: Backend, trials: int) -> str:
    """An experiment of ``trials`` finished trials, written fast (see the README)."""
    experiment_id = backend.new_id(f"w3-{trials}")
    store = xptrack.open_backend(backend.argument(experiment_id), experiment_id).open(experiment_id)
    if backend.kind == "mongo":
        _fill_mongo(backend, experiment_id, trials)
    elif trials > 10_000:  # 100,000 through the port would take minutes: the same rows at once
        _fill_local(store, trials)
    else:  # through the store's port, one trial at a time
        for _ in range(trials):
            store.save_trial(_record(store.next_trial_id()))
    assert store.last_trial_id() == trials, (store.last_trial_id(), trials)
    store.close()
    return experiment_id


def _fill_local(store: Any, trials: int) -> None:
    # The rows save_trial writes (the adapter's own trial_to_json), in one transaction.
    import sqlite3

    from xptrack.adapters.serialization import trial_to_json

    store.last_trial_id()  # creates the database and its tables
    with sqlite3.connect(store.db_path) as connection:
        connection.executemany(
            "INSERT INTO trials (trial_id, record) VALUES (?, ?)",
            [(i, trial_to_json(_record(i))) for i in range(1, trials + 1)],
        )


def _fill_mongo(backend: Backend, experiment_id: str, trials: int) -> None:
    # The port costs ~25 ms a trial on the test server (10,000 trials: minutes), so the
    # documents the adapter writes are made by its own trial_fields() and bulk-inserted.
    import pymongo

    from xptrack.adapters.mongo_documents import trial_fields

    with pymongo.MongoClient(backend.uri) as client:
        collection: Any = client.get_default_database()[experiment_id]
        documents = [
            {
                "experiment_id": experiment_id,
                "category": "trial",
                "trial_id": i,
                **trial_fields(_record(i)),
            }
            for i in range(1, trials + 1)
        ]
        for start in range(0, trials, 5_000):
            collection.insert_many(documents[start : start + 5_000])
        collection.update_one(
            {"category": "trial_id"},
            {"$set": {"trial_id": trials, "experiment_id": experiment_id}},
            upsert=True,
        )


def run_child(backend: Backend, command: str, spec: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(CHILD), command, json.dumps(spec)],
        cwd=backend.root,
        capture_output=True,
        text=True,
        timeout=600,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"child {command} failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_wall_s"] = wall
    return result


W3_TARGET = {("local", 1_000): 5.0, ("redis", 1_000): 20.0, ("local", 100_000): 400.0}
#: Local history of 10,000 trials: at most this many times the JSON-to-DataFrame floor.
W3_FLOOR_RATIO = 2.5


def w3_history(backend: Backend, experiments: dict[int, str], repeats: int) -> list[Row]:
    rows = []
    for trials, experiment_id in experiments.items():
        spec: dict[str, Any] = {"backend": backend.child_argument(), "id": experiment_id}
        spec["warm"] = 3
        if backend.kind == "local":
            spec["floor_db"] = str(
                backend.root / "xptrack_cache" / experiment_id / f"{experiment_id}.db"
            )
        runs = [run_child(backend, "history", spec) for _ in range(repeats)]
        assert all(run["rows"] == trials for run in runs), runs
        first = median([run["first_s"] for run in runs]) * 1e3
        warm = median([w for run in runs for w in run["warm_s"]]) * 1e3
        pandas_import = median([run["pandas_import_s"] for run in runs]) * 1e3
        limit = W3_TARGET.get((backend.kind, trials), 100.0 if trials >= 10_000 else None)
        rows.append(
            Row(
                f"W3 get_history, {trials:,} trials",
                backend.kind,
                first,
                f"{first:.1f} ms first call",
                f"{warm:.1f} ms warm call (same process)",
                Target("<=", limit, "ms") if limit is not None else None,
                note=f"first call of a fresh process, median of {repeats} processes; pandas "
                f"imported before the call ({pandas_import:.0f} ms when xptrack had not)"
                + ("" if limit is not None else "; the issue sets no target here"),
                data={"runs": runs},
            )
        )
        floors = [f for run in runs for f in run["floor_s"]]
        if floors:
            floor = median(floors) * 1e3
            ratio = warm / floor
            rows.append(
                Row(
                    f"W3b get_history vs JSON-to-DataFrame, {trials:,} trials",
                    backend.kind,
                    ratio,
                    f"{ratio:.2f}x ({warm:.1f} ms warm call)",
                    f"{floor:.1f} ms: the same rows, one query, json.loads, pd.DataFrame",
                    Target("<=", W3_FLOOR_RATIO, "x") if trials == 10_000 else None,
                    note="warm calls interleaved with the floor in the same process",
                    data={"floor_ms": floor, "warm_ms": warm},
                )
            )
    return rows


def w4_open(backend: Backend, experiment_id: str, repeats: int) -> list[Row]:
    spec = {"backend": backend.child_argument(), "id": experiment_id}
    run_child(backend, "open", spec)  # warm the OS file cache, not timed
    runs = [run_child(backend, "open", spec) for _ in range(repeats)]
    assert all(run["trial_id"] == 1_000 for run in runs), runs
    total = median([run["import_and_open_s"] for run in runs])
    imported = median([run["import_s"] for run in runs])
    opened = median([run["open_s"] for run in runs])
    wall = median([run["process_wall_s"] for run in runs])
    call = "Experiment(id)" if backend.kind == "local" else "Experiment(id, backend=uri)"
    return [
        Row(
            "W4 import xptrack + open (1,000 trials)",
            backend.kind,
            total,
            f"{total:.3f} s (import {imported:.3f} + open {opened:.3f})",
            f"{wall:.3f} s whole process (python start to exit)",
            Target("<=", 0.6, "s"),
            note=f"{call} in a fresh process, median of {repeats}",
            data={"runs": runs},
        )
    ]
