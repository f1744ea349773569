"""Use-case: run a recorded trial again and say whether it reproduces (``ex.rerun(n)``).

The new trial runs with the original's parameters and seed and the steps as they are
defined now. Its result and persisted outputs are compared bit for bit with the
original's (results by type and bits, persisted outputs by their stored bytes); when
anything differs, the report carries the :class:`TrialDiff` that explains it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import attrs

from xptrack.application.diff import diff_trials
from xptrack.application.trial_summary import persisted_steps
from xptrack.domain.diffing import same_value
from xptrack.domain.errors import NotFoundError
from xptrack.domain.trial_diff import TrialDiff
from xptrack.ports.repositories import ExperimentStore

if TYPE_CHECKING:
    from xptrack.application.experiment import Experiment
    from xptrack.application.steps import StepCall

logger = logging.getLogger(__name__)


@attrs.frozen
class RerunReport:
    """The outcome of re-running trial ``original`` as trial ``rerun``.

    ``result_identical`` and ``persisted`` (step -> identical?) say what reproduced bit for
    bit; ``diff`` is ``ex.diff(original, rerun)``, which explains a difference.
    """

    original: int
    rerun: int
    result_identical: bool
    persisted: dict[str, bool]
    diff: TrialDiff

    @property
    def identical(self) -> bool:
        """True when the result and every persisted output are the same bits as before, and
        the trial ended the same way."""
        same_end = self.diff.status is None and self.diff.error is None
        return same_end and self.result_identical and all(self.persisted.values())

    def __str__(self) -> str:
        outputs = f"result and {len(self.persisted)} persisted output(s)"
        if self.identical:
            return f"Trial {self.original} reran as trial {self.rerun}: identical ({outputs})"
        different = [] if self.result_identical else ["result"]
        different += [f"persisted {step}" for step, same in self.persisted.items() if not same]
        if self.diff.status is not None:
            different.append("status")
        return (
            f"Trial {self.original} reran as trial {self.rerun}: NOT identical "
            f"(differs: {', '.join(different)})\n{self.diff}"
        )

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON data."""
        return {
            "original": self.original,
            "rerun": self.rerun,
            "identical": self.identical,
            "result_identical": self.result_identical,
            "persisted": dict(self.persisted),
            "diff": self.diff.to_dict(),
        }


def rerun_trial(
    experiment: Experiment, store: ExperimentStore, trial_id: int, result: StepCall
) -> RerunReport:
    """Run trial ``trial_id`` of ``experiment`` again through ``result``; report the outcome."""
    original = store.get_trial(trial_id)
    recorded = experiment.get_parameters(trial_id)
    declared = experiment.get_parameters()
    ignored = sorted(set(recorded) - set(declared))
    if ignored:
        logger.warning(
            "Trial %s had parameters %s that the experiment no longer declares: rerun without them",
            trial_id,
            ignored,
        )
    overrides = {name: value for name, value in recorded.items() if name in declared}
    before = store.last_trial_id()
    logger.info("Rerunning trial %s with seed %s", trial_id, original.seed)
    # The cache off: a rerun proves the steps reproduce, it must not reuse their outputs.
    experiment.run_trials(result, [overrides], seed=original.seed, errors="return", cache=False)
    new_id = new_trial_id(store, before, original.seed)
    rerun = store.get_trial(new_id)
    return RerunReport(
        trial_id,
        new_id,
        same_value(original.result, rerun.result),
        compare_persisted(store, trial_id, new_id),
        diff_trials(store, experiment.id, trial_id, new_id),
    )


def new_trial_id(store: ExperimentStore, before: int, seed: int | None) -> int:
    """The id of the trial this process just started with ``seed``: the first id after
    ``before`` with that seed (other processes may have started trials meanwhile)."""
    last = store.last_trial_id()
    for candidate in range(before + 1, last + 1):
        try:
            if store.get_trial(candidate).seed == seed:
                return candidate
        except NotFoundError:  # an id handed out whose trial never started
            continue
    return last


def compare_persisted(store: ExperimentStore, a: int, b: int) -> dict[str, bool]:
    """Step -> whether its stored output is the same bytes in trials ``a`` and ``b``, for
    every step either trial persisted."""
    steps = dict.fromkeys([*persisted_steps(store, a), *persisted_steps(store, b)])
    return {step: _persisted(store, step, a) == _persisted(store, step, b) for step in steps}


def _persisted(store: ExperimentStore, step: str, trial_id: int) -> bytes | None:
    try:
        return store.load_persisted(step, trial_id)
    except NotFoundError:
        return None
