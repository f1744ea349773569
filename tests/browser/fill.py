"""Stores filled fast for the dashboard's tests and benchmarks: records written through the
store port directly, as many trials as asked, in seconds."""

from __future__ import annotations

import datetime as dt
import random

from xptrack.domain.metric import MetricSeries
from xptrack.domain.trial import TrialRecord
from xptrack.ports.repositories import ExperimentStore

START = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def fill_store(store: ExperimentStore, count: int, points: int = 5, seed: int = 0) -> None:
    """``count`` finished trials (every 97th failed) over parameters ``lr``, ``layers`` and
    ``optimizer``, each with a ``loss`` series of ``points`` points and an ``accuracy``."""
    draw = random.Random(seed)
    batch: list[tuple[int, str, MetricSeries]] = []
    for _ in range(count):
        trial_id = store.next_trial_id()
        lr = round(10 ** draw.uniform(-4, -1), 6)
        layers = draw.randint(1, 8)
        started = START + dt.timedelta(seconds=trial_id)
        record = TrialRecord(
            trial_id,
            {"lr": lr, "layers": layers, "optimizer": draw.choice(["adam", "sgd"])},
            started,
            seed=trial_id,
        )
        finished = started + dt.timedelta(seconds=0.5)
        if trial_id % 97 == 0:
            record = record.failed(ValueError(f"diverged at lr={lr}"), finished, 0.5)
        else:
            record = record.succeeded(round(1 - lr * layers, 6), finished, 0.5)
        store.save_trial(record)
        loss = MetricSeries(list(range(points)), [1 / (e + 1 + lr * 100) for e in range(points)])
        batch.append((trial_id, "loss", loss))
        batch.append((trial_id, "accuracy", MetricSeries([points - 1], [1 - loss.values[-1]])))
        if len(batch) >= 2000:
            store.append_metrics(batch)
            batch = []
    if batch:
        store.append_metrics(batch)
