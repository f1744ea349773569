"""The contract's backend tests can fail: deliberately broken backends, each caught.

Each broken backend is the memory backend with one realistic bug. The contract's backend
tests take the ``store_backend`` fixture through pytest's own ``request``; here that fixture
builds the backend named by the test's ``broken`` parameter, as a store's test module
would build its real one. The memory backend itself passes the same tests.
"""

from __future__ import annotations

import uuid
from collections.abc import Hashable
from typing import Any

import pytest

from xptrack.adapters.memory import MemoryBackend
from xptrack.ports.repositories import Backend
from xptrack.testing import StoreContract


class LeavesOutTheLastExperiment(MemoryBackend):
    """Off by one: the last experiment of the listing is lost (a page cut one short)."""

    def list_experiments(self) -> list[str]:
        return super().list_experiments()[:-1]


class ListsInReverse(MemoryBackend):
    """Lists the ids in descending order (ZREVRANGEBYLEX where ZRANGEBYLEX was meant)."""

    def list_experiments(self) -> list[str]:
        return sorted(super().list_experiments(), reverse=True)


class DeleteLeavesItListed(MemoryBackend):
    """Deletes as the port's default does (open the store, empty it): the data goes, but
    the id stays in the namespace, so the deleted experiment is still listed."""

    def delete_experiment(self, experiment_id: str) -> None:
        Backend.delete_experiment(self, experiment_id)


class DeleteDropsEveryExperiment(MemoryBackend):
    """Deletes the whole namespace instead of one experiment of it."""

    def delete_experiment(self, experiment_id: str) -> None:
        for other in super().list_experiments():
            super().delete_experiment(other)


class IdentityIncludesTheObject(MemoryBackend):
    """Tells two backends of one name apart by ``id(self)``: an unpickled copy is another."""

    def configuration(self) -> Hashable:
        return (self.name, id(self))


class ComparesByIdentity(MemoryBackend):
    """Equality and hash of a plain object (a dataclass with ``eq=False``)."""

    __eq__ = object.__eq__
    __hash__ = object.__hash__


class HashesByIdentity(MemoryBackend):
    """Equal by configuration, as the port says, but hashed by object."""

    __hash__ = object.__hash__


class PicklesToTheDefault(MemoryBackend):
    """Pickles as a call of the class with no arguments: the copy names the default
    namespace, not this one."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), ())


LISTS = "test_backend_lists_and_deletes_experiments"
PICKLES = "test_pickled_backend_is_the_same_backend"


@pytest.fixture
def store_backend(broken: type[MemoryBackend]) -> Backend:
    return broken(f"contract-{uuid.uuid4().hex}")


#: Broken backend -> the contract test that catches it, and what its failure says.
CAUGHT = {
    LeavesOutTheLastExperiment: (LISTS, r"list_experiments\(\) gave"),
    ListsInReverse: (LISTS, r"list_experiments\(\) is not sorted"),
    DeleteLeavesItListed: (LISTS, r"is still listed"),
    DeleteDropsEveryExperiment: (LISTS, r"is no longer listed after deleting another"),
    IdentityIncludesTheObject: (PICKLES, r"is not equal to it"),
    ComparesByIdentity: (PICKLES, r"is not equal to it"),
    HashesByIdentity: (PICKLES, r"hashes otherwise"),
    PicklesToTheDefault: (PICKLES, r"is not equal to it"),
}


@pytest.mark.parametrize(
    ("broken", "test", "message"),
    [pytest.param(broken, *caught, id=broken.__name__) for broken, caught in CAUGHT.items()],
)
def test_backend_contract_test_catches(
    request: pytest.FixtureRequest, broken: type[MemoryBackend], test: str, message: str
) -> None:
    with pytest.raises(AssertionError, match=message):
        getattr(StoreContract(), test)(request)


@pytest.mark.parametrize("broken", [MemoryBackend], ids=["MemoryBackend"])
@pytest.mark.parametrize("test", [LISTS, PICKLES])
def test_the_memory_backend_passes_them(
    request: pytest.FixtureRequest, broken: type[MemoryBackend], test: str
) -> None:
    assert request.getfixturevalue("store_backend").__class__ is MemoryBackend
    getattr(StoreContract(), test)(request)
