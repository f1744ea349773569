"""What every workload shares: targets and result rows, timing, the backend under test and
W1's two-step experiment."""

from __future__ import annotations

import operator
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import xptrack
from servers import Server

MB = 1_000_000  # targets in MB are read as 10^6 bytes (the stricter reading)


# --- results -----------------------------------------------------------------------------------


@dataclass
class Target:
    """A target of the issue: ``value op limit`` (op '<=' or '>=') in ``unit``."""

    op: str
    limit: float
    unit: str

    def met(self, value: float | None) -> bool | None:
        if value is None:
            return None
        compare = operator.le if self.op == "<=" else operator.ge
        return bool(compare(value, self.limit))

    def __str__(self) -> str:
        return f"{'≤' if self.op == '<=' else '≥'} {_number(self.limit)} {self.unit}"


@dataclass
class Row:
    workload: str
    backend: str
    value: float | None  # the figure compared with the target, in target.unit
    shown: str  # how the xptrack column reads
    baseline: str  # how the baseline column reads
    target: Target | None = None
    note: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def met(self) -> bool | None:
        return self.target.met(self.value) if self.target is not None else None

    def as_json(self) -> dict[str, Any]:
        return {
            "workload": self.workload,
            "backend": self.backend,
            "value": self.value,
            "unit": self.target.unit if self.target else None,
            "xptrack": self.shown,
            "baseline": self.baseline,
            "target": str(self.target) if self.target else None,
            "met": self.met,
            "note": self.note,
            "data": self.data,
        }


def _number(value: float) -> str:
    if value >= 100_000:
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:.0f}"
    return f"{value:.3g}" if value < 10 else f"{value:.1f}"


def median(values: list[float]) -> float:
    return statistics.median(values)


def timed(work: Callable[[], Any], cpu: list[float] | None = None) -> float:
    """Wall seconds of ``work()``; its process CPU seconds appended to ``cpu`` if given (CPU
    time is far less disturbed than wall time by other jobs on a shared machine)."""
    cpu_started, started = time.process_time(), time.perf_counter()
    work()
    elapsed = time.perf_counter() - started
    if cpu is not None:
        cpu.append(time.process_time() - cpu_started)
    return elapsed


def summary(seconds: list[float]) -> dict[str, float]:
    """Median, p10, p90 and mean of a list of durations, in ms."""
    ordered = sorted(seconds)
    at = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {
        "n": len(seconds),
        "median_ms": median(seconds) * 1e3,
        "p10_ms": at(0.1) * 1e3,
        "p90_ms": at(0.9) * 1e3,
        "mean_ms": statistics.fmean(seconds) * 1e3,
    }


# --- where a backend's experiments live ----------------------------------------------------------


@dataclass
class Backend:
    """One backend under test: local files in a temporary folder, or a server URI."""

    kind: str
    root: Path  # local: holds xptrack_cache/<id>; every backend: scratch space for baselines
    server: Server | None = None
    created: list[str] = field(default_factory=list)

    @property
    def uri(self) -> str | None:
        return self.server.uri if self.server else None

    def new_id(self, label: str) -> str:
        experiment_id = f"bench-{label}-{uuid.uuid4().hex[:8]}"
        self.created.append(experiment_id)
        return experiment_id

    def argument(self, experiment_id: str) -> Any:
        """What ``Experiment(id, backend=...)`` gets: the default layout's folder, or the URI."""
        if self.kind == "local":
            return self.root / "xptrack_cache" / experiment_id
        return self.uri

    def child_argument(self) -> str | None:
        """The backend a child process passes: none for local (it runs in ``root``)."""
        return None if self.kind == "local" else self.uri

    def scratch(self, label: str) -> Path:
        folder = Path(tempfile.mkdtemp(prefix=f"{label}-", dir=self.root))
        return folder

    def cleanup(self) -> None:
        """Delete the experiments made on a server (only ours, by id); local: the folder goes."""
        if self.kind != "local":
            for experiment_id in self.created:
                try:
                    xptrack.open_backend(self.uri, experiment_id).open(
                        experiment_id
                    ).delete_experiment()
                except xptrack.XptrackError as error:
                    print(f"  could not delete {experiment_id}: {error}", file=sys.stderr)
        shutil.rmtree(self.root, ignore_errors=True)


def two_step_experiment(backend: Backend, label: str, **options: Any) -> tuple[Any, Any]:
    """W1's experiment: ``score(prepare(a, b))``, two steps, two parameters."""
    experiment_id = backend.new_id(label)
    ex = xptrack.Experiment(experiment_id, backend=backend.argument(experiment_id), **options)
    a = ex.parameter("a", default=1)
    b = ex.parameter("b", default=2)

    @ex
    def prepare(a: int, b: int) -> int:
        return a + b

    @ex.result
    def score(s: int) -> int:
        return s * 2

    return ex, score(prepare(a, b))
