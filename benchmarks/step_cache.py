"""The step cache, measured: a sweep with an expensive first step, and what a hit costs.

    .venv/bin/python benchmarks/step_cache.py                  # local, redis, mongo (~1 min)
    .venv/bin/python benchmarks/step_cache.py --backends local --trials 200

1. Sweep: ``run_trials`` of 20 trials over a late parameter, whose first step takes 1 s
   (``time.sleep(1)``, standing for loading data), on the default threaded scheduler:
   with ``cache=False``, with the cache on a fresh experiment (cold: the step runs once,
   the other trials wait for it and reuse it) and again (warm: every trial reuses it).
2. Hit: per-trial wall time of a one-step-plus-result trial whose first step is trivial
   (``x + 1``), reused from the cache vs. run (``cache=False``), interleaved; and the hit
   alone (``StepCache.reuse``: the store lookup and the unpickling) vs. calling the
   trivial function. Medians.

Not part of the tests. Starts its own redis-server and secantusd-py (see servers.py).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import servers  # benchmarks/servers.py: the script's folder is on sys.path
import xptrack
from xptrack.application.bootstrap import user_object_codec
from xptrack.application.step_cache import StepCache
from xptrack.domain.step_cache import CachedOutput, step_cache_key

SWEEP_TRIALS = 20
STEP_SECONDS = 1.0


def open_experiment(backend: Any) -> xptrack.Experiment:
    return xptrack.Experiment(
        f"bench-cache-{uuid.uuid4().hex[:8]}", backend=backend, capture_environment=False
    )


def sweep_experiment(backend: Any) -> tuple[xptrack.Experiment, Any]:
    ex = open_experiment(backend)
    a, lr = ex.parameter("a", default=1), ex.parameter("lr", default=0.1)

    @ex(cache=True)
    def load_data(a):
        time.sleep(STEP_SECONDS)  # the expensive first step
        return list(range(1000 * a))

    @ex.result
    def fit(rows, lr):
        return len(rows) * lr

    return ex, fit(load_data(a), lr)


def timed(work: Callable[[], Any]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def sweep(backend: Any) -> dict[str, float]:
    parameter_sets = [{"lr": i / 100} for i in range(SWEEP_TRIALS)]
    ex, call = sweep_experiment(backend)
    figures = {"no cache": timed(lambda: ex.run_trials(call, parameter_sets, cache=False))}
    ex, call = sweep_experiment(backend)  # a fresh experiment: an empty cache
    figures["cache, cold"] = timed(lambda: ex.run_trials(call, parameter_sets, seed=1))
    figures["cache, warm"] = timed(lambda: ex.run_trials(call, parameter_sets, seed=1))
    cleanup(ex)
    return figures


def hit_cost(backend: Any, trials: int) -> dict[str, float]:
    ex = open_experiment(backend)
    x = ex.parameter("x", default=1)

    @ex(cache=True)
    def trivial(x):
        return x + 1

    @ex.result
    def result(y):
        return y

    call = result(trivial(x))
    call.compute(seed=1)  # fills the cache
    hit, run = [], []
    for _ in range(trials):  # interleaved: the machine's load hits both alike
        hit.append(timed(lambda: call.compute(seed=1)))
        run.append(timed(lambda: call.compute(seed=1, cache=False)))
    store = ex.backend.open(ex.id)
    key = step_cache_key("bench", "inputs", "code", 1)
    store.add_cached_output("bench", key, CachedOutput(1, user_object_codec().dump(2)))
    cache = StepCache(store)
    lookups = [timed(lambda: cache.reuse("bench", key)) for _ in range(trials)]
    calls = [timed(lambda: trivial.func(1)) for _ in range(trials)]
    cleanup(ex)
    return {
        "trial, step reused": statistics.median(hit),
        "trial, step run": statistics.median(run),
        "hit alone (lookup + load)": statistics.median(lookups),
        "trivial call alone": statistics.median(calls),
    }


def cleanup(ex: xptrack.Experiment) -> None:
    ex.backend.open(ex.id).delete_experiment()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="local,redis,mongo")
    parser.add_argument("--trials", type=int, default=100, help="trials per figure of part 2")
    args = parser.parse_args(argv)
    kinds = [k.strip() for k in args.backends.split(",") if k.strip()]
    logging.getLogger("xptrack").addHandler(logging.NullHandler())  # keep the output readable
    logging.getLogger("xptrack").setLevel(logging.WARNING)
    with servers.servers(kinds) as found, tempfile.TemporaryDirectory() as temp:
        for kind in kinds:
            server = found.get(kind)
            if isinstance(server, str):
                print(f"{kind}: skipped: {server}")
                continue
            backend = Path(temp) / kind if kind == "local" else server.uri  # type: ignore[union-attr]
            print(f"{kind}:")
            for name, seconds in sweep(backend).items():
                print(
                    f"  sweep of {SWEEP_TRIALS}, first step {STEP_SECONDS:.0f} s, {name:12}"
                    f" {seconds:7.2f} s wall"
                )
            for name, seconds in hit_cost(backend, args.trials).items():
                print(f"  {name:28} {seconds * 1000:8.3f} ms (median of {args.trials})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
