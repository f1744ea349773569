"""W9's trials with daskperiment, run by the peer's own interpreter (a throwaway virtualenv).

    <peer venv>/bin/python benchmarks/peer_daskperiment.py a=<first> b=2

The rest of the spec comes as JSON in ``XPTRACK_BENCH_SPEC``: ``{"backend": <uri or null>,
"id": "...", "trials": 50}``; daskperiment reads ``key=value`` arguments as the parameters of
the trial it runs when a script builds its result (its "run as a file" mode), so the first of
the ``trials`` runs there and the others through ``compute()``. Prints one JSON line.
"""

import json
import os
import sys
import time

STARTED = time.perf_counter()

import daskperiment  # noqa: E402


def main() -> None:
    spec = json.loads(os.environ["XPTRACK_BENCH_SPEC"])
    first = int(sys.argv[1].partition("=")[2])
    ex = daskperiment.Experiment(id=spec["id"], backend=spec["backend"] or "local")
    opened = time.perf_counter()
    a = ex.parameter("a")
    b = ex.parameter("b")

    @ex
    def prepare(a, b):
        return a + b

    @ex.result
    def score(s):
        return s * 2

    result = score(prepare(a, b))  # runs trial 1 with the a=, b= of the command line
    for index in range(1, spec["trials"]):
        ex.set_parameters(a=first + index, b=2)
        result.compute()
    print(json.dumps({"open_s": opened - STARTED, "total_s": time.perf_counter() - STARTED}))


if __name__ == "__main__":
    main()
