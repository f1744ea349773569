"""Passwords never show, however a URI is spelled and whatever a git remote's password holds;
a Redis URI whose database is not a number is refused, saying what is accepted."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess

import pytest

import xptrack
from tests.integration import _steps
from xptrack.adapters.environment import SystemEnvironmentProbe
from xptrack.errors import InvalidBackend

PASSWORD = "Zq9-secret-Wv4"

MISSPELLED_URIS = [
    f"redis:/:{PASSWORD}@127.0.0.1:6379/0",
    f"redis:{PASSWORD}@127.0.0.1:6379/0",
    f"redis:///:{PASSWORD}@127.0.0.1:6379/0",
    f"rediss:/user:{PASSWORD}@127.0.0.1/0",
    f"unix:/:{PASSWORD}@/run/redis.sock",
    f"mongodb:/ann:{PASSWORD}@127.0.0.1:27017/lab",
    f"mongodb:///ann:{PASSWORD}@127.0.0.1:27017/lab",
    f"mongodb+srv:/ann:{PASSWORD}@cluster.example.com/lab",
    # Unencoded URL delimiters inside the password: parsers cut the password there.
    f"redis://:pa/{PASSWORD}@127.0.0.1:6379/0",
    f"redis://:pa?{PASSWORD}@127.0.0.1:6379/0",
    f"redis://:{PASSWORD}#x@127.0.0.1:6379/0",
    f"mongodb://ann:pa/{PASSWORD}@127.0.0.1:27017/lab",
    f"mongodb://ann:{PASSWORD}?x@127.0.0.1:27017/lab",
]


@pytest.mark.parametrize("uri", MISSPELLED_URIS)
def test_a_misspelled_uri_is_refused_without_showing_its_password(uri, caplog):
    caplog.set_level(logging.DEBUG)

    with pytest.raises(InvalidBackend) as refused:
        xptrack.Experiment("e", backend=uri, capture_environment=False)

    message = str(refused.value)
    assert "accepted" in message or "name one" in message or "Bad database" in message
    for text in (message, repr(refused.value), caplog.text):
        assert PASSWORD not in text
        assert "pa/" not in text and "pa?" not in text


@pytest.mark.parametrize(
    "uri",
    [
        "redis://127.0.0.1:6379/abc",
        "redis://127.0.0.1:6379/0/1",
        "redis://127.0.0.1:6379/-1",
        "redis://127.0.0.1:6379/0?db=two",
        "unix:///run/redis.sock?db=x",
    ],
)
def test_a_redis_database_that_is_not_a_number_is_refused(uri):
    with pytest.raises(InvalidBackend, match="must be a number") as refused:
        xptrack.open_backend(uri, "e")

    assert "redis://[[user]:password@]host[:port][/db]" in str(refused.value)


@pytest.mark.parametrize(
    "uri", ["redis://127.0.0.1:6379", "redis://127.0.0.1:6379/", "redis://127.0.0.1/15"]
)
def test_a_redis_uri_with_a_numbered_or_no_database_is_accepted(uri):
    assert xptrack.open_backend(uri, "e").location.startswith("redis://127.0.0.1")


# --- git remotes ---------------------------------------------------------------------------------

GIT_PASSWORDS = [
    f"p#{PASSWORD}",
    f"p/{PASSWORD}",
    f"p?{PASSWORD}",
    f"p {PASSWORD}",
    f"p@{PASSWORD}",
    f"{PASSWORD}:x",
]


def git(repo, *args):
    command = ["git", "-C", str(repo), "-c", "user.name=T", "-c", "user.email=t@example.com"]
    command += ["-c", "commit.gpgsign=false", *args]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


@pytest.mark.skipif(shutil.which("git") is None, reason="no git executable")
def test_git_remotes_are_stored_without_their_passwords_whatever_they_hold(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "train.py").write_text("x = 1\n")
    git(repo, "add", "train.py")
    git(repo, "commit", "-q", "-m", "first")
    for number, password in enumerate(GIT_PASSWORDS):
        git(repo, "remote", "add", f"r{number}", f"https://ann:{password}@example.com/o/r.git")
    git(repo, "remote", "add", "token", f"https://{PASSWORD}@example.com/o/r.git")
    git(repo, "remote", "add", "oneslash", f"https:/ann:{PASSWORD}@example.com/o/r.git")
    probe = SystemEnvironmentProbe(repo, warm_up=False)

    ex = xptrack.Experiment("remotes", backend=tmp_path / "store", probe=probe)
    ex.run_trials(_steps.build_inverse(ex), [{"x": 1}])

    remotes = ex.get_environment(1, "git")["remotes"]
    assert remotes["r0"] == "https://ann:***@example.com/o/r.git"
    assert remotes["token"] == "https://***@example.com/o/r.git"
    assert remotes["oneslash"] == "https:/ann:***@example.com/o/r.git"
    stored = b"".join(
        path.read_bytes() for path in (tmp_path / "store").rglob("*") if path.is_file()
    )
    assert PASSWORD.encode() not in stored
    assert PASSWORD not in json.dumps(ex.get_environment(1))
