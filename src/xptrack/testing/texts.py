"""The shared texts' part of the store contract: the same code or environment in many trials.

Stores may keep each distinct code and environment text once and let trials refer to it.
:class:`TextContract` (mixed into :class:`~xptrack.testing.StoreContract`) checks that such
sharing never shows: each trial's texts read as saved whatever happens to the other trials
holding the same text, in this experiment or another.
"""

from __future__ import annotations

import contextlib

from xptrack.testing.checks import agree, assert_same_contents
from xptrack.testing.machine import StoreFactory
from xptrack.testing.model import ModelStore
from xptrack.testing.samples import FULL_ENVIRONMENT, environment, sample_trials

CODE = "@ex\ndef prepare(a, b):\n    return a + b  # ü\r\n"
OTHER_CODE = "# another version\n"
#: FULL_ENVIRONMENT with one category changed: the other eight texts are shared with it.
CHANGED_ENVIRONMENT = environment({**FULL_ENVIRONMENT.categories, "requirements": "numpy==2.1"})


class TextContract:
    """Shared code and environment texts, on the binding's ``store_factory``."""

    def test_shared_texts_survive_deleting_some_trials(self, store_factory: StoreFactory) -> None:
        model = ModelStore()
        with contextlib.closing(store_factory()) as store:
            trial_ids = [agree(model, store, "next_trial_id") for _ in range(6)]
            records = {r.trial_id: r for r in sample_trials(1) + sample_trials(4)}
            for trial_id in (1, 2, 3):
                for target in (model, store):
                    target.save_trial_start(records[trial_id], CODE, FULL_ENVIRONMENT)
            for target in (model, store):
                target.save_code(4, CODE)
                target.save_environment(4, CHANGED_ENVIRONMENT)
                target.save_trial_start(records[5], OTHER_CODE, CHANGED_ENVIRONMENT)
                target.save_code(6, CODE)
                target.save_code(6, OTHER_CODE)  # the trial's earlier text is no longer its own
            assert_same_contents(model, store)
            for trial_id in (2, 1, 4, 2):
                for target in (model, store):
                    target.delete_trial(trial_id)
                assert_same_contents(model, store)
            for target in (model, store):  # texts no trial kept, saved again
                target.save_code(2, CODE)
                target.save_environment(1, FULL_ENVIRONMENT)
            assert_same_contents(model, store)
            for trial_id in trial_ids:
                for target in (model, store):
                    target.delete_trial(trial_id)
            assert_same_contents(model, store)

    def test_the_same_texts_in_two_experiments_stay_apart(
        self, store_factory: StoreFactory
    ) -> None:
        models = ModelStore(), ModelStore()
        with contextlib.closing(store_factory()) as one, contextlib.closing(store_factory()) as two:
            stores = one, two
            for model, store in zip(models, stores, strict=True):
                for _ in range(2):
                    agree(model, store, "next_trial_id")
                for target in (model, store):
                    target.save_code(1, CODE)
                    target.save_code(2, CODE)
                    target.save_environment(1, FULL_ENVIRONMENT)
            for target in (models[0], one):
                target.delete_trial(1)
                target.delete_trial(2)
            for model, store in zip(models, stores, strict=True):
                assert_same_contents(model, store)
            for target in (models[0], one):
                target.delete_experiment()
            for model, store in zip(models, stores, strict=True):
                assert_same_contents(model, store)
