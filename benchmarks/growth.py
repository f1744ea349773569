"""W6 (trial cost as an experiment grows) and W7 (what 1,000 trials occupy in the store)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from measure import MB, Backend, Row, Target, median, summary, timed, two_step_experiment

# --- W6 trial cost as history grows, W7 store size ----------------------------------------------


def quiet_repository(root: Path) -> Path:
    """A git repository nobody changes, for W6/W7's environment probe (/work/main changes all
    the time while others work, and each change is a new environment)."""
    folder = root / "quiet-repo"
    folder.mkdir()
    (folder / "script.py").write_text("print('hello')\n")
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost", "-C", str(folder)]
    for args in (["init", "-q"], ["add", "script.py"], ["commit", "-q", "-m", "init"]):
        subprocess.run([*git, *args], check=True, capture_output=True)
    return folder


def w6_w7_growth(backend: Backend, trials: int, size_at: int = 1_000) -> list[Row]:
    """W6: an experiment grown to ``trials - 100`` trials runs its last 100 trials interleaved
    with trials 1-100 of a fresh experiment (same process, same probe), so that machine noise
    drifting over the minutes of growth does not masquerade as a trend. W7 is the grown
    experiment's size after ``size_at`` trials."""
    from xptrack.adapters.environment import SystemEnvironmentProbe

    probe = SystemEnvironmentProbe(directory=quiet_repository(backend.scratch("w6")))
    grown, grown_call = two_step_experiment(backend, "w6-grown", probe=probe)
    window = min(100, trials // 2)
    grow_to = trials - window
    measured_at = min(size_at, grow_to)
    growth: list[float] = []
    size: dict[str, Any] = {}
    for index in range(1, grow_to + 1):
        growth.append(timed(grown_call.compute))
        if index == measured_at:
            size = store_size(backend, grown.id)
    fresh, fresh_call = two_step_experiment(backend, "w6-fresh", probe=probe)
    first, last = [], []
    for _ in range(window):
        first.append(timed(fresh_call.compute))
        last.append(timed(grown_call.compute))
    assert grown.trial_id == trials and fresh.trial_id == window
    ratio = median(last) / median(first)
    rows = [
        Row(
            f"W6 trial cost, trials 1-{window} vs {grow_to + 1:,}-{trials:,}",
            backend.kind,
            ratio,
            f"{ratio:.2f}x ({median(first) * 1e3:.2f} → {median(last) * 1e3:.2f} ms)",
            "—",
            Target("<=", 1.2, "x"),
            note="code and environment captured each trial (environment unchanged); the two "
            "windows run interleaved"
            + ("" if trials >= 10_000 else f"; scaled down from 10,000 to {trials:,} trials"),
            data={
                "first": summary(first),
                "last": summary(last),
                "growth_median_ms_per_1000": [
                    median(growth[i : i + 1000]) * 1e3 for i in range(0, len(growth), 1000)
                ],
            },
        )
    ]
    scale = size_at / measured_at
    value = size["bytes"] * scale / MB
    projected = "" if scale == 1 else f", projected ×{scale:.1f} from {measured_at} trials"
    rows.append(
        Row(
            f"W7 store size, {size_at:,} trials",
            backend.kind,
            value,
            f"{value:.2f} MB{projected}",
            size["baseline"],
            Target("<=", 5.0, "MB"),
            note=size["note"],
            data=size,
        )
    )
    return rows


def store_size(backend: Backend, experiment_id: str) -> dict[str, Any]:
    if backend.kind == "local":
        return _local_size(backend.root / "xptrack_cache" / experiment_id)
    if backend.kind == "redis":
        return _redis_size(backend, experiment_id)
    return _mongo_size(backend, experiment_id)


def _local_size(folder: Path) -> dict[str, Any]:
    files, inodes, apparent, blocks, biggest = 0, set(), 0, 0, {}
    for directory, _, names in os.walk(folder):
        for name in names:
            stat = os.lstat(os.path.join(directory, name))
            files += 1
            if stat.st_ino in inodes:
                continue  # a hard link to a blob already counted
            inodes.add(stat.st_ino)
            apparent += stat.st_size
            blocks += stat.st_blocks * 512
            part = os.path.relpath(directory, folder).split(os.sep)[0]
            part = name.rsplit(".", 1)[-1] if part == "." else part
            biggest[part] = biggest.get(part, 0) + stat.st_blocks * 512
    return {
        "bytes": blocks,
        "apparent_bytes": apparent,
        "files": files,
        "distinct_files": len(inodes),
        "by_part": biggest,
        "baseline": f"{files:,} files ({len(inodes):,} distinct), {apparent / MB:.2f} MB apparent",
        "note": "disk usage (st_blocks) of the experiment folder, hard links counted once",
    }


def _redis_size(backend: Backend, experiment_id: str) -> dict[str, Any]:
    import redis

    client = redis.Redis.from_url(backend.uri)
    try:
        keys = list(client.scan_iter(match=f"{experiment_id}:*", count=1_000))
        with client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.memory_usage(key, samples=0)
            usage = pipe.execute()
        total = sum(u or 0 for u in usage)
        by_kind: dict[str, int] = {}
        for key, used in zip(keys, usage, strict=False):
            kind = key.decode().split(":")[1]
            by_kind[kind] = by_kind.get(kind, 0) + (used or 0)
        data = {
            "bytes": total,
            "keys": len(keys),
            "by_part": by_kind,
            "baseline": f"{len(keys):,} keys",
            "note": "sum of MEMORY USAGE of the experiment's keys",
        }
        if backend.server is not None and backend.server.owned:
            data["dbsize"] = client.dbsize()
            data["used_memory"] = client.info("memory")["used_memory"]
        return data
    finally:
        client.close()


def _mongo_size(backend: Backend, experiment_id: str) -> dict[str, Any]:
    import bson
    import pymongo

    with pymongo.MongoClient(backend.uri) as client:
        database: Any = client.get_default_database()
        documents = list(database[experiment_id].find({}))
        by_category: dict[str, int] = {}
        for document in documents:
            category = document.get("category", "?")
            by_category[category] = by_category.get(category, 0) + len(bson.encode(document))
        bson_bytes = sum(by_category.values())
        try:
            stats = database.command("collStats", experiment_id)
            size, index = int(stats["size"]), int(stats.get("totalIndexSize", 0))
            return {
                "bytes": size + index,
                "collstats_size": size,
                "index_bytes": index,
                "bson_bytes": bson_bytes,
                "documents": len(documents),
                "by_part": by_category,
                "baseline": f"{len(documents):,} documents, indexes {index / MB:.2f} MB",
                "note": "collStats size + totalIndexSize of the experiment's collection",
            }
        except pymongo.errors.OperationFailure as error:
            return {
                "bytes": bson_bytes,
                "documents": len(documents),
                "by_part": by_category,
                "baseline": f"{len(documents):,} documents",
                "note": f"collStats unsupported ({error}); BSON size of the documents",
            }
