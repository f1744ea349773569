"""The store contract suite, for xptrack's own stores and third-party ones.

Bind :class:`StoreContract` to a store in a pytest module (see ``contract.py`` and
"Writing your own backend" in the README)::

    from xptrack.testing import StoreContract

    class TestMyStore(StoreContract):
        @pytest.fixture
        def store_factory(self):
            return lambda: MyBackend(...).open(f"contract-{uuid.uuid4().hex}")

The pieces are public too: :class:`ModelStore` (the reference behaviour),
:class:`StoreMachine` and :func:`run_store_machine` (the Hypothesis state machine),
the strategies in :mod:`xptrack.testing.strategies`, and :func:`value_difference`
(the exact, NaN-aware comparison).
"""

from xptrack.testing.checks import agree, assert_same_contents
from xptrack.testing.compare import assert_same_value, value_difference
from xptrack.testing.contract import StoreContract, fresh_experiment_id
from xptrack.testing.machine import (
    EXAMPLES_ENV,
    StoreFactory,
    StoreMachine,
    contract_settings,
    run_reopening_store_machine,
    run_store_machine,
)
from xptrack.testing.model import ModelStore
from xptrack.testing.samples import EVERY_KIND_OF_VALUE, UserObject
from xptrack.testing.step_cache import StepCacheContract
from xptrack.testing.tracking import TrackedBackend

__all__ = [
    "EVERY_KIND_OF_VALUE",
    "EXAMPLES_ENV",
    "ModelStore",
    "StepCacheContract",
    "StoreContract",
    "StoreFactory",
    "StoreMachine",
    "TrackedBackend",
    "UserObject",
    "agree",
    "assert_same_contents",
    "assert_same_value",
    "contract_settings",
    "fresh_experiment_id",
    "run_reopening_store_machine",
    "run_store_machine",
    "value_difference",
]
