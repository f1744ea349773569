"""Use-case: copy an experiment between any two stores, losslessly (``xptrack.copy_experiment``).

Everything a trial keeps is copied under the same trial id: the record (status, parameters,
result, seed, times, error and traceback, steps), tags and note, metric series, persisted
outputs (their bytes as stored, signed or not), code, environment and captured output; the
destination's id counter is moved past the source's so that ids are never handed out twice.
The purity check's step hashes and the step cache are not copied: they are what one store has
seen, and a copy starts them afresh.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from xptrack.application.bootstrap import store_backend
from xptrack.application.trial_summary import Progress
from xptrack.domain.errors import ConflictError, NotFoundError
from xptrack.domain.names import validate_name
from xptrack.domain.trial import TrialRecord
from xptrack.ports.repositories import ExperimentStore

logger = logging.getLogger(__name__)
_T = TypeVar("_T")


def copy_experiment(
    experiment_id: str,
    source: Any = None,
    destination: Any = None,
    new_id: str | None = None,
    progress: Progress | None = None,
) -> int:
    """Copy experiment ``experiment_id`` from the store ``source`` names to ``destination``
    (as ``new_id`` when given); returns the number of trials copied.

    ``source`` and ``destination`` are what ``xptrack.list_experiments`` accepts: None (the
    local ``xptrack_cache/``), a ``pathlib.Path``, a ``redis://`` or ``mongodb://`` URI, ...
    The destination must not hold an experiment of that id already (ConflictError), and
    ``progress(done, total)`` is called after each trial.

    >>> xptrack.copy_experiment("quickstart", None, "redis://localhost:6379/0")  # doctest: +SKIP
    2
    """
    validate_name(experiment_id, "experiment id")
    target_id = validate_name(new_id if new_id is not None else experiment_id, "new experiment id")
    origin, target = store_backend(source), store_backend(destination)
    known = origin.list_experiments()
    if experiment_id not in known:
        raise NotFoundError(
            f"no experiment {experiment_id!r} in {origin!r}; its experiments: {known or 'none'}"
        )
    if target_id in target.list_experiments():
        raise ConflictError(
            f"{target!r} already holds an experiment {target_id!r}: copy it under another id "
            "(new_id=..., or --as NEW_ID), or delete that one first"
        )
    source_store, destination_store = origin.open(experiment_id), target.open(target_id)
    try:
        copied = copy_store(source_store, destination_store, progress)
    finally:
        source_store.close()
        destination_store.close()
    logger.info(
        "Copied experiment %s (%d trials) from %r to %r as %s",
        experiment_id,
        copied,
        origin,
        target,
        target_id,
    )
    return copied


def copy_store(
    source: ExperimentStore, destination: ExperimentStore, progress: Progress | None = None
) -> int:
    """Copy every trial of ``source`` into ``destination`` under its own id; the count."""
    records = source.list_trials()
    destination.reserve_trial_ids(source.last_trial_id())
    for done, record in enumerate(records, start=1):
        copy_trial(source, destination, record)
        if progress is not None:
            progress(done, len(records))
    return len(records)


def copy_trial(source: ExperimentStore, destination: ExperimentStore, record: TrialRecord) -> None:
    """Copy one trial: its record and labels, then everything kept beside the record."""
    trial_id = record.trial_id
    destination.save_trial(record)
    if record.tags or record.note:
        destination.update_labels(trial_id, add_tags=record.tags, note=record.note)
    keys = source.metric_keys(trial_id)
    series = [(trial_id, key, source.load_metric(trial_id, key)) for key in keys]
    if series:
        destination.append_metrics(series)
    for step in source.list_persisted(trial_id):
        destination.save_persisted(step, trial_id, source.load_persisted(step, trial_id))
    _copy_if_kept(source.load_code, destination.save_code, trial_id)
    _copy_if_kept(source.load_environment, destination.save_environment, trial_id)
    _copy_if_kept(source.load_output, destination.save_output, trial_id)


def _copy_if_kept(
    load: Callable[[int], _T], save: Callable[[int, _T], None], trial_id: int
) -> None:
    try:
        value = load(trial_id)
    except NotFoundError:
        return
    save(trial_id, value)
