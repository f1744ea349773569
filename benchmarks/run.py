"""xptrack's benchmarks: each workload on each backend, next to its bare baseline.

    .venv/bin/python benchmarks/run.py                         # every backend, full run
    .venv/bin/python benchmarks/run.py --quick                 # scaled down, under ~1-2 min
    .venv/bin/python benchmarks/run.py --backends local --workloads W1,W2
    .venv/bin/python benchmarks/run.py --json /tmp/run.json    # results also to that file

Starts its own redis-server and secantusd-py (MongoDB wire) on free loopback ports, or uses
XPTRACK_BENCH_REDIS_URL / XPTRACK_BENCH_MONGO_URI. Prints a table and writes the results as
JSON to benchmarks/results/<timestamp>.json. Not a test: it never fails on a missed target
(exit status 0), only on a broken run. See benchmarks/README.md for what each workload measures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import counting
import growth
import processes
import workloads
from measure import Backend, Row

import servers

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
WORKLOADS = ("W1", "W2", "W3", "W4", "W6", "W8", "W9")  # W7 is measured during W6's run

#: Sizes of a full and a quick run; per-backend where the MongoDB test server needs it smaller.
PLANS: dict[str, dict[str, Any]] = {
    "full": {
        "w1_trials": {"local": 200, "redis": 200, "mongo": 100},
        "w1_warmup": 20,
        "w2_points": 100_000,
        "w2_repeats": 3,
        "w2_bare_points": {"local": 100_000, "redis": 100_000, "mongo": 10_000},
        "w3_sizes": (1_000, 10_000),
        "w3_local_sizes": (1_000, 10_000, 100_000),
        "w3_repeats": 3,
        "w4_repeats": 5,
        "w6_trials": {"local": 10_000, "redis": 10_000, "mongo": 1_100},
        "w8_rounds": 9,
        "w9_rounds": 3,
    },
    "quick": {
        "w1_trials": {"local": 60, "redis": 60, "mongo": 20},
        "w1_warmup": 10,
        "w2_points": 100_000,
        "w2_repeats": 1,
        "w2_bare_points": {"local": 100_000, "redis": 100_000, "mongo": 5_000},
        "w3_sizes": (1_000, 10_000),
        "w3_local_sizes": (1_000, 10_000, 100_000),
        "w3_repeats": 1,
        "w4_repeats": 2,
        "w6_trials": {"local": 2_000, "redis": 1_100, "mongo": 120},
        "w8_rounds": 3,
        "w9_rounds": 1,
    },
}


class LogCounter(logging.Handler):
    """Formats xptrack's log records as a user's stderr handler would (so their cost counts)
    without printing them; keeps counts and the first warnings for the report."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(logging.Formatter("%(asctime)s [%(levelname)s] %(message)s"))
        self.counts: dict[str, int] = {}
        self.warnings: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = self.format(record)
        self.counts[record.levelname] = self.counts.get(record.levelname, 0) + 1
        if record.levelno >= logging.WARNING and len(self.warnings) < 5:
            self.warnings.append(text[:300])


def run_backend(backend: Backend, plan: dict[str, Any], chosen: set[str]) -> list[Row]:
    kind = backend.kind
    rows: list[Row] = []

    def stage(name: str, work: Any) -> None:
        started = time.perf_counter()
        print(f"  {kind:5} {name} ...", end="", flush=True, file=sys.stderr)
        try:
            rows.extend(work())
        except Exception:  # a broken workload is reported, the others still run
            print(" FAILED", file=sys.stderr)
            traceback.print_exc()
            rows.append(Row(name, kind, None, "failed (see stderr)", "—"))
            return
        print(f" {time.perf_counter() - started:.1f} s", file=sys.stderr)

    if "W1" in chosen:
        stage(
            "W1", lambda: workloads.w1_overhead(backend, plan["w1_trials"][kind], plan["w1_warmup"])
        )
    if "W2" in chosen:
        stage(
            "W2",
            lambda: workloads.w2_metrics(
                backend, plan["w2_points"], plan["w2_repeats"], plan["w2_bare_points"][kind]
            ),
        )
    if chosen & {"W3", "W4"}:
        filled: dict[int, str] = {}
        sizes = plan["w3_local_sizes"] if kind == "local" and "W3" in chosen else plan["w3_sizes"]
        stage(
            "fill",
            lambda: [filled.update({n: workloads.fill(backend, n)}) for n in sizes] and [],
        )
        if "W3" in chosen and filled:
            stage("W3", lambda: workloads.w3_history(backend, filled, plan["w3_repeats"]))
        if "W4" in chosen and 1_000 in filled:
            stage("W4", lambda: workloads.w4_open(backend, filled[1_000], plan["w4_repeats"]))
    if "W6" in chosen:
        stage("W6+W7", lambda: growth.w6_w7_growth(backend, plan["w6_trials"][kind]))
    if "W8" in chosen:
        stage("W8", lambda: processes.w8_one_trial(backend, plan["w8_rounds"]))
    if "W9" in chosen and kind in ("local", "redis"):  # the peers compare these two
        stage("W9", lambda: processes.w9_processes(backend, plan["w9_rounds"]))
    return rows


def table(rows: list[Row]) -> str:
    head = ("workload", "backend", "xptrack", "baseline", "target", "met?")
    cells = [head] + [
        (
            r.workload,
            r.backend,
            r.shown,
            r.baseline,
            str(r.target) if r.target else "—",
            {True: "yes", False: "NO", None: "—"}[r.met],
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(head))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + " |"
        for row in cells
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    notes = [f"- {r.workload} / {r.backend}: {r.note}" for r in rows if r.note]
    return "\n".join([*lines, "", "Notes:", *notes])


def metadata(args: argparse.Namespace, found: dict[str, Any]) -> dict[str, Any]:
    def git(*command: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(HERE.parent), *command], capture_output=True, text=True
        )
        return done.stdout.strip()

    import dask

    import xptrack

    return {
        "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "argv": sys.argv[1:],
        "plan": "quick" if args.quick else "full",
        "commit": git("rev-parse", "HEAD"),
        "dirty_files": len(git("status", "--porcelain").splitlines()),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_before": os.getloadavg(),
        "xptrack": xptrack.__version__,
        "dask": dask.__version__,
        "servers": {
            k: (v.description if isinstance(v, servers.Server) else f"unavailable: {v}")
            for k, v in found.items()
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="local,redis,mongo")
    parser.add_argument(
        "--workloads",
        default=",".join(WORKLOADS),
        help="some of W1,W2,W3,W4,W6,W8,W9 (W7 comes with W6)",
    )
    parser.add_argument("--quick", action="store_true", help="scaled down, for a quick look")
    parser.add_argument(
        "--mongo-w6-trials",
        type=int,
        metavar="N",
        help="grow Mongo's W6 experiment to N trials (2000: trials 1-100 vs 1,901-2,000); "
        "default 1,100 (quick: 120)",
    )
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument(
        "--no-save", action="store_true", help="do not write benchmarks/results/<timestamp>.json"
    )
    args = parser.parse_args(argv)
    kinds = [k.strip() for k in args.backends.split(",") if k.strip()]
    chosen = {w.strip().upper() for w in args.workloads.split(",")} | set()
    plan = PLANS["quick" if args.quick else "full"]
    if args.mongo_w6_trials is not None:
        plan = {**plan, "w6_trials": {**plan["w6_trials"], "mongo": args.mongo_w6_trials}}

    counting.install()  # before any client exists: W1 counts commands and round trips
    log = LogCounter()
    logging.getLogger("xptrack").addHandler(log)  # also keeps ensure_visible_logging away
    logging.getLogger("xptrack").setLevel(logging.INFO)

    started = time.perf_counter()
    rows: list[Row] = []
    with (
        servers.servers(kinds) as found,
        tempfile.TemporaryDirectory(prefix="xptrack-bench-") as temp,
    ):
        meta = metadata(args, found)
        for kind in kinds:
            server = found.get(kind)
            if isinstance(server, str):
                print(f"  {kind}: skipped: {server}", file=sys.stderr)
                rows.append(Row("(all)", kind, None, f"skipped: {server}", "—"))
                continue
            root = Path(temp) / kind
            root.mkdir()
            backend = Backend(kind, root, server)
            try:
                rows.extend(run_backend(backend, plan, chosen))
            finally:
                backend.cleanup()
    meta.update(
        duration_s=round(time.perf_counter() - started, 1),
        load_after=os.getloadavg(),
        log_counts=log.counts,
        log_warnings=log.warnings,
    )
    order = {kind: i for i, kind in enumerate(kinds)}
    rows.sort(key=lambda r: (r.workload[:2], r.workload, order.get(r.backend, 9)))
    print(table(rows))
    print(
        f"\n{meta['plan']} run, {meta['duration_s']} s, load {meta['load_before'][0]:.1f}"
        f" → {meta['load_after'][0]:.1f}; servers: {meta['servers']}"
    )
    document = {"meta": meta, "rows": [r.as_json() for r in rows]}
    targets = [path for path in (args.json,) if path is not None]
    if not args.no_save:
        RESULTS.mkdir(exist_ok=True)
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        targets.append(RESULTS / f"{stamp}{'-quick' if args.quick else ''}.json")
    for path in targets:
        path.write_text(json.dumps(document, indent=2, default=str) + "\n")
        print(f"results written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
