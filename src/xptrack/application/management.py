"""Use-cases that manage what a store holds: its experiments, and the trials and labels of one.

The facade (``Experiment.delete_trial``, ``.tag``, ``.untag``, ``.note``), the public
``xptrack.list_experiments`` / ``xptrack.delete_experiment``, the command line and the
dashboard all call these, with the store or backend passed in.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from xptrack.application.bootstrap import store_backend
from xptrack.domain.errors import InvalidArgument, NotFoundError
from xptrack.domain.labels import validate_note, validate_tag
from xptrack.domain.names import validate_name
from xptrack.ports.repositories import ExperimentStore

logger = logging.getLogger(__name__)


def list_experiments(backend: Any = None) -> list[str]:
    """The ids of the experiments in a store, sorted.

    ``backend`` is what ``Experiment`` accepts, naming a whole store: None is the local
    default (``xptrack_cache/``, one folder per experiment), a ``pathlib.Path`` the local
    folder given, a URI or driver object a server.

    >>> xptrack.list_experiments("redis://localhost:6379/0")   # doctest: +SKIP
    ['quickstart', 'sweep-1']
    """
    return store_backend(backend).list_experiments()


def delete_experiment(experiment_id: str, backend: Any = None) -> None:
    """Delete every record of ``experiment_id`` in the store ``backend`` names, and nothing
    else; NotFoundError when the store has no such experiment."""
    validate_name(experiment_id, "experiment id")
    target = store_backend(backend)
    known = target.list_experiments()
    if experiment_id not in known:
        raise NotFoundError(
            f"no experiment {experiment_id!r} in {target!r}; its experiments: {known or 'none'}"
        )
    target.delete_experiment(experiment_id)
    logger.info("Deleted experiment %s from %r", experiment_id, target)


def delete_trial(store: ExperimentStore, trial_id: int) -> None:
    """Delete trial ``trial_id`` and everything recorded for it; its id is not reused."""
    store.get_trial(trial_id)  # NotFoundError, saying so, when there is no such trial
    store.delete_trial(trial_id)
    logger.info("Deleted trial %s", trial_id)


def change_labels(
    store: ExperimentStore,
    trial_id: int,
    add_tags: Sequence[Any] = (),
    remove_tags: Sequence[Any] = (),
    note: Any = None,
) -> None:
    """Add and remove tags of trial ``trial_id`` and set its note (None: keep it), atomically."""
    add = [validate_tag(tag) for tag in add_tags]
    remove = [validate_tag(tag) for tag in remove_tags]
    if note is not None:
        validate_note(note)
    store.update_labels(trial_id, add, remove, note)


def set_note(store: ExperimentStore, trial_id: int, text: Any) -> None:
    """Replace the note of trial ``trial_id`` with ``text`` (``''`` clears it)."""
    store.update_labels(trial_id, note=validate_note(text))


def require_tags(tags: Sequence[Any], call: str) -> Sequence[Any]:
    """``tags``, unless there are none (a call that changes nothing is a mistake)."""
    if not tags:
        raise InvalidArgument(f"{call} needs at least one tag, e.g. {call}(1, 'best')")
    return tags
