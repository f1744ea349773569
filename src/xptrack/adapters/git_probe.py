"""The git state of the repository a trial's code lives in, and the stat-based change check the
environment probes share.

Running git costs milliseconds (a process per command), far above what a trial may spend on
bookkeeping, so :class:`GitProbe` answers from its last result while that result is still
trustworthy; :class:`ChangeCheck` decides when it is.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from xptrack.domain.redaction import password_of, redact_url, redact_url_credentials, scrub

logger = logging.getLogger(__name__)

#: A file's path and modification time in nanoseconds (``None``: the file does not exist).
Stamp = tuple[str, "int | None"]

#: Files a change check counts as possibly changed in the same clock tick as a computation when
#: modified this close to it (coarse file-system timestamps: ~4 ms on Linux, 2 s on FAT).
RACY_MARGIN_NS = 2_000_000_000

GIT_TIMEOUT_SECONDS = 10.0
#: Remote passwords this long or longer are also scrubbed from every recorded text (diffs, git's
#: messages); a shorter one would blank out ordinary words, and is hidden inside URLs only.
_SCRUBBED_LENGTH = 4


def stamp_files(paths: Iterable[str]) -> tuple[Stamp, ...]:
    """The modification time of each path, ``None`` where it cannot be read (one ``stat`` each)."""
    stamps: list[Stamp] = []
    for path in paths:
        try:
            stamps.append((path, os.stat(path or ".").st_mtime_ns))
        except OSError:
            stamps.append((path, None))
    return tuple(stamps)


class ChangeCheck:
    """Says whether a value computed from some files may be reused.

    It may when the files' stamps are those seen before computing it, the value is younger than
    ``max_age`` seconds (``None``: no age limit) and no file was modified so close to the
    computation that a later change could carry the same timestamp (git's "racy clean" rule;
    until the margin has passed the value is recomputed on every call).
    """

    def __init__(self, max_age: float | None = None) -> None:
        self.max_age = max_age
        self._stamps: tuple[Stamp, ...] | None = None
        self._computed_at = 0.0
        self._trusted = False

    def still_valid(self, stamps: tuple[Stamp, ...]) -> bool:
        """Whether the value recorded by :meth:`record` still describes files now at ``stamps``."""
        if not self._trusted or stamps != self._stamps:
            return False
        return self.max_age is None or time.monotonic() - self._computed_at < self.max_age

    def record(self, stamps: tuple[Stamp, ...], started_ns: int) -> None:
        """A value was computed from files at ``stamps`` (taken before ``time.time_ns()`` was
        ``started_ns``)."""
        self._stamps = stamps
        self._computed_at = time.monotonic()
        limit = started_ns - RACY_MARGIN_NS
        self._trusted = all(mtime is None or mtime < limit for _, mtime in stamps)


class GitProbe:
    """Describes, as JSON text, the git repository containing ``directory``: commit, branch,
    dirty flag, uncommitted diff (``git diff HEAD``), untracked files and remotes (credentials
    redacted). Never raises; without a repository or a git binary, says why.

    Commits, checkouts, staging and remote edits change files under ``.git`` and are seen on the
    next call (a few ``stat`` calls). Editing a tracked file changes nothing under ``.git``; only
    ``git status`` notices, and that costs milliseconds. So the working tree is re-read when the
    last reading is older than ``max_age`` seconds: an edit shows up at most that late. By default
    ``max_age`` is 1 s, or 50 times what the last reading cost if more (a slow, huge repository),
    which keeps git under ~2 % of a loop of quick trials while a person editing between trials
    (seconds apart) is always seen. Pass ``max_age=0`` to re-read on every call.
    """

    def __init__(self, directory: Path, max_age: float | None = None) -> None:
        self._directory = directory
        self._fixed_max_age = max_age
        self._check = ChangeCheck(max_age=1.0 if max_age is None else max_age)
        # Files that change when HEAD moves (checkout, commit, reset), the index changes (add,
        # commit) or the remotes change; empty while no repository is known.
        self._watched: tuple[str, ...] = ()
        self._repository: dict[str, Any] = {}
        self._read_stamps: tuple[Stamp, ...] | None = None
        self._text = ""
        #: Passwords of the remotes, scrubbed from everything recorded (git's own messages too).
        self._secrets: set[str] = set()

    def describe(self) -> str:
        """The repository's state as JSON text (see the class docstring for how fresh)."""
        stamps = self._stamps()
        if self._text and self._check.still_valid(stamps):
            return self._text
        started_ns, started = time.time_ns(), time.perf_counter()
        try:
            state = self._read(full=stamps != self._read_stamps)
        except Exception as error:  # a probe never fails a trial; the text says what went wrong
            logger.debug("git probe failed in %s", self._directory, exc_info=True)
            state = {"error": f"{type(error).__name__}: {error}"}
        self._text = json.dumps(_redacted(state, self._secrets), indent=2, sort_keys=True)
        if self._fixed_max_age is None:
            self._check.max_age = max(1.0, 50 * (time.perf_counter() - started))
        if not stamps:  # the repository was just found: watch it from now on
            stamps = self._stamps()
        self._read_stamps = stamps
        self._check.record(stamps, started_ns)
        return self._text

    def _stamps(self) -> tuple[Stamp, ...]:
        return stamp_files(self._watched) if self._watched else ()

    def _read(self, *, full: bool) -> dict[str, Any]:
        git = shutil.which("git")
        if git is None:
            self._watched = ()
            return {"repository": None, "reason": "no git executable found on PATH"}
        if self._repository and not full:
            return {**self._repository, **self._working_tree(git)}
        self._watched = ()
        self._repository = {}
        if not self._directory.is_dir():
            return {"repository": None, "reason": f"directory {self._directory} does not exist"}
        # The three commands need only the directory: started together, their processes'
        # start-up and waits overlap (a process's first trial waits for this reading).
        started: list[_Git] = []
        try:
            for arguments in (_LOCATE, ("remote", "-v"), _STATUS):
                started.append(_Git(git, self._directory, *arguments))
            located, remotes, status = (command.result() for command in started)
        finally:
            for command in started:
                command.stop()
        reason = self._locate(located)
        if reason is not None:
            return {"repository": None, "reason": reason}
        self._repository["remotes"] = self._remotes(_checked(remotes, self._directory))
        return {**self._repository, **self._working_tree(git, status)}

    def _locate(self, result: subprocess.CompletedProcess[str]) -> str | None:
        """Watches the repository ``git rev-parse`` (``result``) found; returns why there is
        none, or ``None`` when found."""
        if result.returncode != 0:
            message = result.stderr.strip().splitlines()[0] if result.stderr.strip() else ""
            if "not a git repository" in message:
                return f"no git repository at or above {self._directory}"
            return f"git rev-parse failed in {self._directory}: {message or result.returncode}"
        toplevel, git_dir, common_dir = result.stdout.splitlines()[:3]
        common = self._directory / common_dir  # a relative path is relative to -C
        self._watched = (
            os.path.join(git_dir, "HEAD"),
            os.path.join(git_dir, "index"),
            os.path.join(git_dir, "logs", "HEAD"),
            os.path.join(common, "config"),
        )
        self._repository = {"repository": toplevel}
        return None

    def _remotes(self, listed: subprocess.CompletedProcess[str]) -> dict[str, str]:
        """Each remote's fetch URL (from ``git remote -v``), redacted as a whole URL: its
        password may hold any character (``#``, ``/``, ``?``, spaces), which no scan of free
        text could delimit."""
        remotes: dict[str, str] = {}
        for line in listed.stdout.splitlines():
            name, _, rest = line.partition("\t")
            url, _, kind = rest.rpartition(" ")
            password = password_of(url)
            if password and len(password) >= _SCRUBBED_LENGTH:
                self._secrets.add(password)
            if kind == "(fetch)":
                remotes[name] = redact_url(url, hide_token=True)
        return remotes

    def _working_tree(
        self, git: str, status: subprocess.CompletedProcess[str] | None = None
    ) -> dict[str, Any]:
        """The working tree's state, from ``git status`` (``status``, else run now)."""
        if status is None:
            status = _run(git, self._directory, *_STATUS)
        else:
            status = _checked(status, self._directory)
        commit, branch, changed, untracked = _parse_status(status.stdout.split("\0"))
        diff = ""
        if changed and commit is not None:
            diff = _run(
                git, self._directory, "diff", "HEAD", "--no-color", "--no-ext-diff", "--no-textconv"
            ).stdout
        return {
            "commit": commit,
            "branch": branch,
            "dirty": changed,
            "diff": diff,
            "untracked": untracked,
        }


def _parse_status(fields: Sequence[str]) -> tuple[str | None, str | None, bool, list[str]]:
    """(commit, branch, tracked changes?, untracked paths) from ``git status --porcelain=v2 -z``."""
    commit: str | None = None
    branch: str | None = None
    changed = False
    untracked: list[str] = []
    for field in fields:
        if field.startswith("# branch.oid "):
            oid = field.removeprefix("# branch.oid ")
            commit = None if oid == "(initial)" else oid
        elif field.startswith("# branch.head "):
            head = field.removeprefix("# branch.head ")
            branch = None if head == "(detached)" else head
        elif field.startswith("? "):
            untracked.append(field[2:])
        elif field[:2] in ("1 ", "2 ", "u "):
            changed = True
    return commit, branch, changed, sorted(untracked)


def _redacted(value: Any, secrets: Iterable[str] = ()) -> Any:
    """``value`` (JSON-like) with URL credentials and the known ``secrets`` hidden in every
    string, before JSON escaping could hide a URL's boundaries from
    :func:`redact_url_credentials`."""
    if isinstance(value, str):
        for secret in secrets:
            value = scrub(value, secret)
        return redact_url_credentials(value)
    if isinstance(value, dict):
        return {key: _redacted(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [_redacted(item, secrets) for item in value]
    return value


_LOCATE = ("rev-parse", "--show-toplevel", "--absolute-git-dir", "--git-common-dir")
_STATUS = ("status", "--porcelain=v2", "--branch", "-z", "--no-renames", "--untracked-files=normal")


class _Git:
    """A git command started in ``directory``; :meth:`result` waits for it as
    ``subprocess.run`` would (killed after :data:`GIT_TIMEOUT_SECONDS`)."""

    def __init__(self, git: str, directory: Path, *args: str) -> None:
        # No optional locks: a status must never block, or be blocked by, the user's own git
        # commands.
        env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0"}
        self._process = subprocess.Popen(
            [git, "-C", str(directory), *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            env=env,
        )

    def result(self) -> subprocess.CompletedProcess[str]:
        try:
            stdout, stderr = self._process.communicate(timeout=GIT_TIMEOUT_SECONDS)
        except BaseException:
            self.stop()
            raise
        return subprocess.CompletedProcess(
            self._process.args, self._process.returncode, stdout, stderr
        )

    def stop(self) -> None:
        """Kill the command if it still runs, and reap it."""
        if self._process.poll() is None:
            self._process.kill()
            self._process.communicate()


def _checked(
    result: subprocess.CompletedProcess[str], directory: Path
) -> subprocess.CompletedProcess[str]:
    if result.returncode != 0:
        command = " ".join(result.args[3:])
        raise RuntimeError(
            f"`git {command}` failed in {directory} (exit {result.returncode}): "
            f"{result.stderr.strip()}"
        )
    return result


def _run(git: str, directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return _checked(_Git(git, directory, *args).result(), directory)
