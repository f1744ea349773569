"""Short processes, the way scripts run: W8 (one trial, environment capture on vs off) and W9
(4 processes x 50 trials at once, next to daskperiment and plain dask).

Every process is a fresh interpreter (``child.py``); its wall time is taken from launch to exit
and its CPU time (user + system, its children included) from ``getrusage``. The environment
probe's per-user cache lives in the run's temporary folder (``XDG_CACHE_HOME``): the first
process of a run finds it empty (an environment never seen), which is reported apart.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import peers
from measure import Backend, Row, Target, median

CHILD = Path(__file__).resolve().parent / "child.py"


def _cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_processes(commands: list[list[str]], cwd: Path, env: dict[str, str]) -> dict[str, Any]:
    """Start every command at once; wall seconds until the last exits, their CPU seconds."""
    cpu, started = _cpu_of_children(), time.perf_counter()
    running = [
        subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for command in commands
    ]
    outputs = [process.communicate(timeout=900) for process in running]
    wall = time.perf_counter() - started
    for process, (_, err) in zip(running, outputs, strict=True):
        if process.returncode != 0:
            raise RuntimeError(f"{process.args} failed: {err[-2000:]}")
    results = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    return {"wall_s": wall, "cpu_s": _cpu_of_children() - cpu, "children": results}


def _environ(backend: Backend) -> dict[str, str]:
    cache = backend.root / "xdg-cache"
    cache.mkdir(exist_ok=True)
    return {**os.environ, "XDG_CACHE_HOME": str(cache)}


def _xptrack(spec: dict[str, Any]) -> list[str]:
    return [sys.executable, str(CHILD), "trials", json.dumps(spec)]


# --- W8 one-trial process ------------------------------------------------------------------------


def w8_one_trial(backend: Backend, rounds: int) -> list[Row]:
    """A process running one trial with environment capture on vs off, interleaved rounds."""
    env = _environ(backend)
    experiment_id = backend.new_id("w8")
    spec = {"backend": backend.child_argument(), "id": experiment_id, "trials": 1, "first": 0}

    def one(capture: bool) -> dict[str, Any]:
        return run_processes([_xptrack({**spec, "capture": capture})], backend.root, env)

    cold = one(True)  # the first process of an environment: the slow probes run, once
    on: list[dict[str, Any]] = []
    off: list[dict[str, Any]] = []
    for index in range(rounds):  # alternate which goes first, so drifting load hits both
        pair = (True, False) if index % 2 == 0 else (False, True)
        for capture in pair:
            (on if capture else off).append(one(capture))
    wall_on, wall_off = median([r["wall_s"] for r in on]), median([r["wall_s"] for r in off])
    cpu_on, cpu_off = median([r["cpu_s"] for r in on]), median([r["cpu_s"] for r in off])
    difference = wall_on - wall_off
    return [
        Row(
            "W8 one-trial process, env on - off",
            backend.kind,
            difference,
            f"{difference:+.3f} s ({wall_on:.2f} s a process)",
            f"{wall_off:.2f} s a process with capture_environment=False",
            Target("<=", 0.15, "s"),
            note=f"whole process, launch to exit, median of {rounds} interleaved rounds; CPU "
            f"time {cpu_on - cpu_off:+.3f} s ({cpu_on:.2f} vs {cpu_off:.2f} s); the first "
            f"process of a new environment (probes run, then kept): {cold['wall_s']:.2f} s",
            data={"cold": cold, "on": on, "off": off},
        )
    ]


# --- W9 4 processes x 50 trials ------------------------------------------------------------------

W9_PROCESSES, W9_TRIALS = 4, 50


def w9_processes(backend: Backend, rounds: int) -> list[Row]:
    """4 processes x 50 trials started together, on one experiment; then the same with
    daskperiment (its own virtualenv) and with plain dask. Interleaved rounds."""
    env = _environ(backend)
    run_processes([_xptrack(_spec(backend, "w9-warm", 0, 1))], backend.root, env)  # warm cache
    python, peer = peers.daskperiment_python()
    ours: list[dict[str, Any]] = []
    theirs: list[dict[str, Any]] = []
    plain: list[dict[str, Any]] = []
    for _ in range(rounds):
        specs = [_spec(backend, None, n * 1_000, W9_TRIALS) for n in range(W9_PROCESSES)]
        shared = backend.new_id("w9")
        ours.append(
            run_processes([_xptrack({**s, "id": shared}) for s in specs], backend.root, env)
        )
        if python is not None:
            theirs.append(_daskperiment(backend, python, env))
        commands = [
            [sys.executable, str(CHILD), "plain", json.dumps({"trials": W9_TRIALS, "first": 0})]
        ] * W9_PROCESSES
        plain.append(run_processes(commands, backend.root, env))
    wall = median([r["wall_s"] for r in ours])
    plain_wall = median([r["wall_s"] for r in plain])
    data = {"xptrack": ours, "daskperiment": theirs, "plain": plain, "peer": peer}
    label = f"W9 {W9_PROCESSES} processes x {W9_TRIALS} trials"
    cpu = median([r["cpu_s"] for r in ours])
    if python is None:
        ratio = wall / plain_wall
        return [
            Row(
                f"{label} vs plain dask",
                backend.kind,
                None,
                f"{wall:.2f} s ({ratio:.2f}x plain dask)",
                f"{plain_wall:.2f} s plain dask",
                note=f"daskperiment unavailable ({peer}); median of {rounds}",
                data=data,
            )
        ]
    peer_wall = median([r["wall_s"] for r in theirs])
    ratio = wall / peer_wall
    peer_cpu = median([r["cpu_s"] for r in theirs])
    return [
        Row(
            f"{label} vs daskperiment",
            backend.kind,
            ratio,
            f"{ratio:.2f}x ({wall:.2f} s)",
            f"{peer_wall:.2f} s daskperiment {peer}; {plain_wall:.2f} s plain dask",
            Target("<=", 1.0, "x"),
            note=f"wall time until the last process exits, median of {rounds} interleaved "
            f"rounds, environment capture on (both); CPU {cpu:.2f} s vs {peer_cpu:.2f} s; "
            "daskperiment in its own virtualenv (benchmarks/.peers/)",
            data=data,
        )
    ]


def _spec(backend: Backend, label: str | None, first: int, trials: int) -> dict[str, Any]:
    return {
        "backend": backend.child_argument(),
        "id": backend.new_id(label) if label else None,
        "trials": trials,
        "first": first,
        "capture": True,
    }


def _daskperiment(backend: Backend, python: Path, env: dict[str, str]) -> dict[str, Any]:
    folder = backend.scratch("w9-daskperiment")  # its local store goes to ./daskperiment_cache
    spec = {"backend": backend.uri, "id": f"w9dp{os.urandom(4).hex()}", "trials": W9_TRIALS}
    commands = [
        [str(python), str(peers.DASKPERIMENT), f"a={n * 1_000}", "b=2"] for n in range(W9_PROCESSES)
    ]
    result = run_processes(commands, folder, {**env, "XPTRACK_BENCH_SPEC": json.dumps(spec)})
    if backend.kind == "redis":
        _delete_redis_keys(backend, spec["id"])
    return result


def _delete_redis_keys(backend: Backend, experiment_id: str) -> None:
    import redis

    client = redis.Redis.from_url(backend.uri or "")
    try:
        keys = list(client.scan_iter(match=f"{experiment_id}:*", count=1_000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
