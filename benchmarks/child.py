"""Measurements that need a fresh process (W3, W4), run by ``run.py`` as a subprocess.

    python benchmarks/child.py open    '{"backend": <uri or null>, "id": "...", ...}'
    python benchmarks/child.py history '{"backend": <uri or null>, "id": "...", "warm": 5}'
    python benchmarks/child.py trials  '{"backend": <uri or null>, "id": "...", "trials": 50,
                                         "first": 0, "capture": true}'
    python benchmarks/child.py plain   '{"trials": 50, "first": 0}'

``backend`` null means ``Experiment(id)`` with no backend argument: the local store in
``./xptrack_cache/<id>`` of the working directory the parent chose. Prints one JSON line.
"""

import time

STARTED = time.perf_counter()  # before anything else: W4 counts every import

import json  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402


def _quiet_logging() -> None:
    # INFO lines are formatted (their cost is part of the figure) but not shown.
    import os

    handler = logging.StreamHandler(open(os.devnull, "w"))  # noqa: SIM115 - lives as the process
    logging.getLogger("xptrack").addHandler(handler)
    logging.getLogger("xptrack").setLevel(logging.INFO)


def open_experiment(spec: dict) -> dict:
    """W4: ``import xptrack`` then ``Experiment(id)`` (environment capture on, the default)."""
    _quiet_logging()
    before_import = time.perf_counter()
    import xptrack

    imported = time.perf_counter()
    if spec["backend"] is None:
        ex = xptrack.Experiment(spec["id"])
    else:
        ex = xptrack.Experiment(spec["id"], backend=spec["backend"])
    opened = time.perf_counter()
    return {
        "startup_s": before_import - STARTED,
        "import_s": imported - before_import,
        "open_s": opened - imported,
        "import_and_open_s": opened - before_import,
        "trial_id": ex.trial_id,
        "modules": len(sys.modules),
    }


def history(spec: dict) -> dict:
    """W3: the first ``get_history()`` of a fresh process, then a few warm ones."""
    _quiet_logging()
    import xptrack

    backend = spec["backend"]
    ex = xptrack.Experiment(spec["id"], backend=backend, capture_environment=False)
    # pandas is what the history is made of; if xptrack imports it lazily, that one-time
    # import (0.15-0.5 s) is reported apart, not counted in the call (W4 counts imports).
    started = time.perf_counter()
    import pandas  # noqa: F401

    pandas_import = time.perf_counter() - started
    started = time.perf_counter()
    frame = ex.get_history()
    first = time.perf_counter() - started
    warm, floor = [], []
    for _ in range(spec.get("warm", 3)):  # interleaved with the floor, when there is one
        started = time.perf_counter()
        ex.get_history()
        warm.append(time.perf_counter() - started)
        if spec.get("floor_db"):
            started = time.perf_counter()
            floor_rows = len(_json_to_dataframe(spec["floor_db"]))
            floor.append(time.perf_counter() - started)
            assert floor_rows == len(frame), (floor_rows, len(frame))
    return {
        "first_s": first,
        "warm_s": warm,
        "floor_s": floor,
        "rows": len(frame),
        "pandas_import_s": pandas_import,
    }


def _json_to_dataframe(db_path: str) -> object:
    """The floor of a local history: the same stored rows read with one query, parsed from JSON
    with one call, made a DataFrame with one call (no validation, no decoding, no columns)."""
    import sqlite3

    import pandas

    connection = sqlite3.connect(db_path)
    try:
        (text,) = connection.execute(
            "SELECT CAST(group_concat(record, ',') AS BLOB) FROM trials WHERE record IS NOT NULL"
        ).fetchone()
    finally:
        connection.close()
    return pandas.DataFrame(json.loads(b"[" + (text or b"") + b"]"))


def trials(spec: dict) -> dict:
    """W8/W9: a short process running ``trials`` trials of W1's two-step experiment, the way
    a script does: import, open, run, exit (environment capture on or off)."""
    _quiet_logging()
    import xptrack

    options = {} if spec["capture"] else {"capture_environment": False}
    ex = xptrack.Experiment(spec["id"], backend=spec["backend"], **options)
    opened = time.perf_counter()
    a = ex.parameter("a", default=0)
    b = ex.parameter("b", default=2)

    @ex
    def prepare(a: int, b: int) -> int:
        return a + b

    @ex.result
    def score(s: int) -> int:
        return s * 2

    call = score(prepare(a, b))
    for index in range(spec["trials"]):
        ex.set_parameters(a=spec["first"] + index, b=2)
        call.compute()
    return {"open_s": opened - STARTED, "total_s": time.perf_counter() - STARTED}


def plain(spec: dict) -> dict:
    """W9's baseline: the same computations with plain dask in a process of their own."""
    import dask

    def prepare(a: int, b: int) -> int:
        return a + b

    def score(s: int) -> int:
        return s * 2

    for index in range(spec["trials"]):
        dask.compute(dask.delayed(score)(dask.delayed(prepare)(spec["first"] + index, 2)))
    return {"total_s": time.perf_counter() - STARTED}


if __name__ == "__main__":
    command, argument = sys.argv[1], json.loads(sys.argv[2])
    commands = {"open": open_experiment, "history": history, "trials": trials, "plain": plain}
    result = commands[command](argument)
    print(json.dumps(result), flush=True)
