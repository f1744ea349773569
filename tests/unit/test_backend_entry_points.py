"""A third-party backend installed as a distribution with an ``xptrack.backends`` entry point
is found by its URI scheme, with no register_backend() call; an unknown scheme is still
refused while such a distribution is installed."""

from __future__ import annotations

import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import xptrack
from tests.sessions import build_session
from xptrack.application import bootstrap

PLUGIN_MODULE = "xptrack_plugin_demo"
PLUGIN_SCHEME = "plugindemo"


@pytest.fixture
def installed_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A distribution ``xptrack-plugin-demo`` in a folder on sys.path, as pip would lay it
    out: its module and a dist-info with METADATA and entry_points.txt."""
    (tmp_path / f"{PLUGIN_MODULE}.py").write_text(
        textwrap.dedent(
            f"""
            from xptrack.adapters.memory import MemoryBackend


            class PluginBackend(MemoryBackend):
                @property
                def location(self):
                    return "{PLUGIN_SCHEME}://" + self.name
            """
        ),
        encoding="utf-8",
    )
    info = tmp_path / "xptrack_plugin_demo-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: xptrack-plugin-demo\nVersion: 1.0\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        f"[xptrack.backends]\n{PLUGIN_SCHEME} = {PLUGIN_MODULE}:PluginBackend\n", encoding="utf-8"
    )
    assert PLUGIN_SCHEME not in bootstrap.SCHEMES, "the scheme must come from the entry point"
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop(PLUGIN_MODULE, None)


def test_an_installed_entry_point_names_the_backend_of_its_scheme(installed_plugin: Path) -> None:
    uri = f"{PLUGIN_SCHEME}://lab-{uuid.uuid4().hex}"  # a namespace no other test shares
    ex = xptrack.Experiment("plugged", backend=uri, capture_environment=False)

    backend = ex.backend
    assert type(backend).__name__ == "PluginBackend"
    assert Path(sys.modules[type(backend).__module__].__file__ or "").parent == installed_plugin
    assert backend.location == uri
    s = build_session(ex, epochs=3)
    ex.set_parameters(a=1)
    assert s.compute(seed=1) == pytest.approx(10 / 3)
    assert ex.get_history().index.tolist() == [1]
    assert xptrack.list_experiments(uri) == ["plugged"]


def test_an_unknown_scheme_is_refused_beside_an_installed_entry_point(
    installed_plugin: Path,
) -> None:
    with pytest.raises(xptrack.InvalidBackend, match=r"unknown backend URI scheme 'nosuch'"):
        xptrack.Experiment("plugged", backend="nosuch://lab", capture_environment=False)
