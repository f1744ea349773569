"""Shared fixtures. Server fixtures live in tests/servers/ (one plugin per server)."""

from __future__ import annotations

import pytest

pytest_plugins = ["tests.servers.redis_server", "tests.servers.mongo_server"]


@pytest.fixture(autouse=True, scope="session")
def _private_environment_cache(tmp_path_factory):
    """The environment probe's per-user cache lives in this session's folder, never the user's
    (child processes inherit it)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
        yield


@pytest.fixture(autouse=True)
def _isolated_cwd(tmp_path, monkeypatch):
    """Every test runs in its own empty folder, so ./xptrack_cache never leaks between tests."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("XPTRACK_SIGNING_KEY", raising=False)
    return tmp_path
