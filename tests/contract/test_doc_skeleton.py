"""The skeleton adapter of docs/writing-a-backend.md, taken from the doc as written, passes the
contract, and registering it makes ``backend='dict://…'`` work as the doc says."""

from __future__ import annotations

import pathlib
import re
import sys
import types
import uuid

import pytest

import xptrack
from tests.sessions import build_session
from xptrack.application import bootstrap
from xptrack.ports.repositories import Backend
from xptrack.testing import StoreContract
from xptrack.testing.machine import StoreFactory

DOC = pathlib.Path(__file__).parents[2] / "docs" / "writing-a-backend.md"
_SKELETON = re.compile(r"<!-- the skeleton[^\n]*-->\n```python\n(.*?)```", re.S)


def load_skeleton() -> types.ModuleType:
    """The doc's skeleton as the module ``my_backend`` (importable, so that it pickles)."""
    found = _SKELETON.search(DOC.read_text(encoding="utf-8"))
    assert found, f"{DOC} has no skeleton code block after its '<!-- the skeleton' marker"
    module = types.ModuleType("my_backend")
    sys.modules["my_backend"] = module
    exec(compile(found.group(1), str(DOC), "exec"), module.__dict__)
    return module


my_backend = load_skeleton()


class TestDocSkeleton(StoreContract):
    supports_processes = False  # it keeps experiments in one process's dicts
    max_examples = 25  # dicts are fast, but the suite runs on two shared cores

    @pytest.fixture
    def store_factory(self) -> StoreFactory:
        return lambda: my_backend.DictBackend(f"dict://{uuid.uuid4().hex}").open("x")

    @pytest.fixture
    def store_backend(self) -> Backend:
        return my_backend.DictBackend(f"dict://{uuid.uuid4().hex}")


def test_the_registered_skeleton_runs_the_api_session(monkeypatch):
    monkeypatch.setitem(bootstrap.SCHEMES, "dict", ("", ""))  # undone after the test
    xptrack.register_backend("dict", "my_backend:DictBackend")
    ex = xptrack.Experiment("quickstart", backend="dict://doc", capture_environment=False)
    assert repr(ex.backend) == "DictBackend('dict://doc')"
    s = build_session(ex, epochs=3)
    ex.set_parameters(a=1)
    assert s.compute(seed=1) == pytest.approx(10 / 3)
    ex.tag(1, "best")
    assert ex.get_history(verbose=True).loc[1, "Tags"] == ["best"]
    assert ex.get_persisted("features", 1) == [3, 3, 3]
    assert xptrack.list_experiments("dict://doc") == ["quickstart"]


@pytest.mark.parametrize(
    ("scheme", "target"), [("Bad", "m:C"), ("", "m:C"), ("ok", "no-colon"), ("ok", ":C")]
)
def test_register_backend_refuses_malformed_arguments(scheme, target):
    with pytest.raises(xptrack.InvalidArgument, match=r"scheme|module:Class"):
        xptrack.register_backend(scheme, target)
