"""The system environment probe against the real machine: packages, git repositories, Python."""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import threading
import time

import pytest

from xptrack.adapters import environment_probes
from xptrack.adapters.environment import SystemEnvironmentProbe
from xptrack.domain.environment import CATEGORIES, CATEGORY_FORMATS
from xptrack.domain.redaction import redact_url_credentials

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="no git executable")


def git(repo, *args):
    command = ["git", "-C", str(repo), "-c", "user.name=T", "-c", "user.email=t@example.com"]
    command += ["-c", "commit.gpgsign=false", *args]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A git repository with one commit on ``main``, alone under its parent (no outer repo)."""
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    (path / "train.py").write_text("learning_rate = 0.1\n")
    git(path, "add", "train.py")
    git(path, "commit", "-q", "-m", "first")
    return path


def git_state(probe):
    return json.loads(probe.capture()["git"])


def requirement_lines(probe):
    return probe.capture()["requirements"].splitlines()


def test_every_category_is_captured_and_json_ones_parse(tmp_path):
    snapshot = SystemEnvironmentProbe(tmp_path).capture()

    assert tuple(snapshot) == CATEGORIES
    for category, text in snapshot.categories.items():
        assert text.strip(), category
        if CATEGORY_FORMATS[category] == "json":
            assert isinstance(json.loads(text), dict), category
    python = json.loads(snapshot["python"])
    assert python["executable"] == sys.executable
    assert python["version"] == ".".join(map(str, sys.version_info[:3]))
    device = json.loads(snapshot["device"])
    assert device["cpu_count_logical"] >= 1
    assert device["memory_total_bytes"] > 0
    assert "brand_raw" in json.loads(snapshot["cpu"])


def test_library_reports_are_what_the_libraries_print(tmp_path):
    import pandas

    snapshot = SystemEnvironmentProbe(tmp_path, warm_up=False).capture()

    assert "INSTALLED VERSIONS" in snapshot["pandas"]
    assert pandas.__version__ in snapshot["pandas"]
    for library in ("numpy", "scipy"):
        assert "failed" not in snapshot[library]
        assert "not installed" not in snapshot[library]
        assert snapshot[library].count("\n") > 5, library
    if shutil.which("conda") is None:
        assert "conda was not found" in snapshot["conda"]


def test_requirements_list_installed_distributions_like_pip_freeze(tmp_path):
    lines = requirement_lines(SystemEnvironmentProbe(tmp_path, warm_up=False))

    assert f"pandas=={importlib.metadata.version('pandas')}" in lines
    assert lines == sorted(lines, key=str.lower)
    assert all("==" in line for line in lines)


def install_fake_distribution(site, version):
    for old in site.glob("fake_pkg-*.dist-info"):
        shutil.rmtree(old)
    info = site / f"fake_pkg-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: fake_pkg\nVersion: {version}\n")


def test_a_package_change_is_seen_by_the_next_capture(tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    install_fake_distribution(site, "1.0")
    monkeypatch.syspath_prepend(str(site))
    probe = SystemEnvironmentProbe(tmp_path, warm_up=False)
    before = probe.capture()
    assert "fake_pkg==1.0" in before["requirements"].splitlines()

    install_fake_distribution(site, "2.0")
    after = probe.capture()

    lines = after["requirements"].splitlines()
    assert "fake_pkg==2.0" in lines
    assert "fake_pkg==1.0" not in lines
    assert "+fake_pkg==2.0" in after.changes_since(before)["requirements"]


def test_a_package_change_within_one_timestamp_tick_is_seen(tmp_path, monkeypatch):
    # Coarse file systems (FAT: 2 s) give a folder the same mtime before and after a change.
    site = tmp_path / "site"
    site.mkdir()
    install_fake_distribution(site, "1.0")
    tick = time.time_ns()
    os.utime(site, ns=(tick, tick))
    monkeypatch.syspath_prepend(str(site))
    probe = SystemEnvironmentProbe(tmp_path, warm_up=False)
    assert "fake_pkg==1.0" in requirement_lines(probe)

    install_fake_distribution(site, "2.0")
    os.utime(site, ns=(tick, tick))

    assert "fake_pkg==2.0" in requirement_lines(probe)


def test_a_distribution_shadowed_further_down_sys_path_is_not_listed(tmp_path, monkeypatch):
    first, second = tmp_path / "first", tmp_path / "second"
    for site, version in ((first, "1.0"), (second, "9.0")):
        site.mkdir()
        install_fake_distribution(site, version)
    monkeypatch.syspath_prepend(str(second))
    monkeypatch.syspath_prepend(str(first))

    lines = requirement_lines(SystemEnvironmentProbe(tmp_path, warm_up=False))

    assert [line for line in lines if line.startswith("fake_pkg==")] == ["fake_pkg==1.0"]


@needs_git
def test_git_state_of_a_clean_repository(repo):
    state = git_state(SystemEnvironmentProbe(repo, warm_up=False))

    assert state["repository"] == str(repo.resolve())
    assert state["commit"] == git(repo, "rev-parse", "HEAD")
    assert state["branch"] == "main"
    assert state["dirty"] is False
    assert state["diff"] == ""
    assert state["untracked"] == []


@needs_git
def test_an_edited_file_makes_the_state_dirty_with_its_diff(repo):
    probe = SystemEnvironmentProbe(repo, warm_up=False, git_max_age=0)
    assert git_state(probe)["dirty"] is False

    (repo / "train.py").write_text("learning_rate = 0.5\n")
    state = git_state(probe)

    assert state["dirty"] is True
    assert "-learning_rate = 0.1" in state["diff"]
    assert "+learning_rate = 0.5" in state["diff"]


@needs_git
def test_untracked_files_are_listed_without_making_the_state_dirty(repo):
    (repo / "notes.txt").write_text("todo\n")

    state = git_state(SystemEnvironmentProbe(repo, warm_up=False))

    assert state["untracked"] == ["notes.txt"]
    assert state["dirty"] is False


@needs_git
def test_a_new_commit_is_seen_by_the_next_capture(repo):
    probe = SystemEnvironmentProbe(repo, warm_up=False)  # default: working tree may lag 1 s
    first = git_state(probe)["commit"]

    (repo / "train.py").write_text("learning_rate = 0.2\n")
    git(repo, "commit", "-q", "-am", "second")
    state = git_state(probe)

    assert state["commit"] == git(repo, "rev-parse", "HEAD") != first
    assert state["dirty"] is False


@needs_git
def test_a_repository_git_cannot_read_is_recorded_with_the_command_that_failed(repo):
    (repo / ".git" / "index").write_bytes(b"not an index")  # rev-parse still finds the repository

    state = git_state(SystemEnvironmentProbe(repo, warm_up=False))

    assert set(state) == {"error"}
    assert state["error"].startswith("RuntimeError: `git status --porcelain=v2")
    assert f"failed in {repo}" in state["error"]


@needs_git
def test_a_folder_inside_the_repository_describes_the_repository(repo):
    (repo / "src").mkdir()

    state = git_state(SystemEnvironmentProbe(repo / "src", warm_up=False))

    assert state["repository"] == str(repo.resolve())


@needs_git
def test_a_folder_without_repository_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))

    state = git_state(SystemEnvironmentProbe(tmp_path, warm_up=False))

    assert state["repository"] is None
    assert "no git repository" in state["reason"]


def test_a_missing_folder_or_git_executable_is_recorded_not_raised(tmp_path, monkeypatch):
    assert git_state(SystemEnvironmentProbe(tmp_path / "gone", warm_up=False))["repository"] is None

    monkeypatch.setenv("PATH", str(tmp_path))
    state = git_state(SystemEnvironmentProbe(tmp_path, warm_up=False))

    assert state == {"repository": None, "reason": "no git executable found on PATH"}


@needs_git
def test_remote_passwords_never_reach_the_snapshot(repo):
    git(repo, "remote", "add", "origin", "https://user:secret@example.com/r.git")
    git(repo, "remote", "add", "mirror", "git@example.com:team/r.git")

    snapshot = SystemEnvironmentProbe(repo, warm_up=False).capture()

    remotes = json.loads(snapshot["git"])["remotes"]
    assert remotes == {
        "origin": "https://user:***@example.com/r.git",
        "mirror": "git@example.com:team/r.git",
    }
    assert not [name for name, text in snapshot.categories.items() if "secret" in text]


@pytest.mark.parametrize(
    ("url", "stored"),
    [
        ("https://user:pw@host/r.git", "https://user:***@host/r.git"),
        ("https://ghp_token@github.com/o/r.git", "https://***@github.com/o/r.git"),
        ("https://user:p@ss@host/r.git", "https://user:***@host/r.git"),
        ("ssh://git@host/r.git", "ssh://git@host/r.git"),
        ("https://host/path@v1", "https://host/path@v1"),
        ("see https://a:b@h/x and http://h/y", "see https://a:***@h/x and http://h/y"),
    ],
)
def test_url_credentials_are_redacted(url, stored):
    assert redact_url_credentials(url) == stored


@needs_git
def test_capturing_again_with_nothing_changed_gives_an_equal_snapshot(repo):
    probe = SystemEnvironmentProbe(repo)

    assert probe.capture() == probe.capture()


def test_what_other_threads_print_during_a_report_is_not_swallowed(capsys):
    def report():
        print("report line")
        other = threading.Thread(target=print, args=("user line",))
        other.start()
        other.join()

    captured = environment_probes.printed_by(report)

    assert captured == "report line\n"
    assert capsys.readouterr().out == "user line\n"
