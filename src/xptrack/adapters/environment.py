"""The environment probe for the machine this process runs on: platform, CPU, Python, NumPy,
SciPy and pandas builds, conda, git and installed packages.

A trial captures its environment before it starts, so capturing must cost next to nothing.
The slow categories (CPU, the library builds, conda) are probed once per environment and kept
for every later process (see :mod:`xptrack.adapters.environment_cache`); a process reads them
once, in a background thread started with the probe. What can change while a process runs is
re-read only when files say it may have: installed packages when a ``sys.path`` directory
changed, git when ``.git`` changed or the last reading grew old (see :class:`GitProbe`).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
import weakref
from pathlib import Path

from xptrack.adapters import environment_cache, environment_keys, environment_probes
from xptrack.adapters.environment_probes import failure, installed_distributions
from xptrack.adapters.git_probe import ChangeCheck, GitProbe, stamp_files
from xptrack.domain.environment import CATEGORIES, EnvironmentSnapshot
from xptrack.ports.environment import EnvironmentProbe

logger = logging.getLogger(__name__)

#: Categories probed once per process, not kept across processes (they cost microseconds).
_ONCE_PER_PROCESS = ("device", "python")

#: ``cache`` argument: the per-user folder (:func:`environment_cache.default_folder`).
USER_CACHE = True


class SystemEnvironmentProbe(EnvironmentProbe):
    """Captures this machine's environment, every category of :data:`CATEGORY_FORMATS`.

    ``directory`` is where git looks for the repository to describe (default: the folder of the
    running script, else the current directory). With ``warm_up`` (the default) a background
    thread captures once right away, so the first trial does not wait. ``git_max_age`` bounds
    how stale the working-tree part of the git state may be (see :class:`GitProbe`).
    ``cache`` is where the slow categories' readings are shared between processes: ``True``
    (the default) for the per-user cache folder, a folder, or ``False`` for nowhere (every
    process then probes them, ~1.5 s).

    >>> probe = SystemEnvironmentProbe()
    >>> json.loads(probe.capture()["python"])["implementation"]
    'CPython'
    """

    def __init__(
        self,
        directory: str | os.PathLike[str] | None = None,
        *,
        warm_up: bool = True,
        git_max_age: float | None = None,
        cache: bool | str | os.PathLike[str] = USER_CACHE,
    ) -> None:
        self._git = GitProbe(
            Path(directory).resolve() if directory is not None else _script_directory(),
            max_age=git_max_age,
        )
        self._cache = cache
        self._lock = threading.Lock()
        self._last = EnvironmentSnapshot()
        _PROBES.add(self)
        if warm_up:
            threading.Thread(target=self.capture, name="xptrack-environment", daemon=True).start()

    def capture(self) -> EnvironmentSnapshot:
        """The environment now; the previous snapshot object itself when nothing changed."""
        with self._lock:
            try:
                folder = _cache_folder(self._cache)
                requirements = _PACKAGES.requirements(folder)
                found = {
                    **_process_facts(),
                    **_slow_facts(folder, requirements),
                    "git": self._git.describe(),
                    "requirements": requirements,
                }
                categories = {name: found[name] for name in CATEGORIES}
            except Exception as error:  # only a bug lands here; still, never fail a trial
                logger.debug("environment capture failed", exc_info=True)
                categories = {name: failure(name, "capture", error) for name in CATEGORIES}
            if categories != self._last.categories:
                self._last = EnvironmentSnapshot(categories)
            return self._last


def _script_directory() -> Path:
    script = getattr(sys.modules.get("__main__"), "__file__", None)
    return Path(script).resolve().parent if script else Path.cwd()


# --- once per process -------------------------------------------------------------------------

_facts_lock = threading.Lock()
_facts: dict[str, str] | None = None
#: Cache folder (``None``: none) -> the slow categories' texts this process records.
_slow: dict[Path | None, dict[str, str]] = {}


def _process_facts() -> dict[str, str]:
    """The quick categories that cannot change while this process runs, probed once."""
    global _facts
    with _facts_lock:
        if _facts is None:
            _facts = {name: environment_probes.probe(name)[0] for name in _ONCE_PER_PROCESS}
        return _facts


def _slow_facts(folder: Path | None, requirements: str) -> dict[str, str]:
    """The slow categories, once per process (and cache folder): from the folder's readings
    for this environment, or probed (and kept there) when it has none."""
    with _facts_lock:
        if folder not in _slow:
            _slow[folder] = environment_cache.readings(folder, requirements)
        return _slow[folder]


_folders: dict[str, Path | None] = {}


def _cache_folder(cache: bool | str | os.PathLike[str]) -> Path | None:
    if cache is False:
        return None
    if cache is True:  # once per process and XDG_CACHE_HOME (it makes the folder)
        xdg = os.environ.get("XDG_CACHE_HOME", "")
        if xdg not in _folders:
            _folders[xdg] = environment_cache.default_folder()
        return _folders[xdg]
    folder = Path(cache)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        logger.debug("environment cache folder %s cannot be made", folder, exc_info=True)
        return None
    return folder


# --- installed packages -----------------------------------------------------------------------


class _InstalledPackages:
    """``pip freeze``-like lines, re-listed only when a ``sys.path`` entry changed (installing,
    upgrading or removing a package adds or renames a ``*.dist-info`` folder, which changes its
    directory's modification time). A listing whose directories are not too recently changed
    (see :class:`ChangeCheck`) is kept in the cache folder for the next processes."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._check = ChangeCheck()
        self._text = ""

    def requirements(self, folder: Path | None) -> str:
        with self.lock:
            stamps = stamp_files(list(sys.path))
            if self._text and self._check.still_valid(stamps):
                return self._text
            started_ns = time.time_ns()
            key = environment_keys.requirements_key(stamps)
            kept = environment_cache.load(folder, "requirements", key) if folder else None
            if kept is not None:
                self._text = kept.text
            else:
                try:
                    self._text = installed_distributions()
                except Exception as error:
                    logger.debug("listing the installed distributions failed", exc_info=True)
                    self._text = failure("requirements", "probe", error)
            self._check.record(stamps, started_ns)
            if kept is None and folder is not None and self._check.still_valid(stamps):
                environment_cache.store(folder, "requirements", key, self._text)
            return self._text


_PACKAGES = _InstalledPackages()


# --- fork safety ------------------------------------------------------------------------------

_PROBES: weakref.WeakSet[SystemEnvironmentProbe] = weakref.WeakSet()


def _fresh_locks_in_child() -> None:
    """A lock held by the warm-up thread when the process forked stays held forever in the
    child (the thread is not copied); give the child unheld ones."""
    global _facts_lock
    _facts_lock = threading.Lock()
    _PACKAGES.lock = threading.Lock()
    environment_probes.fresh_stdout_lock_in_child()
    for probe in list(_PROBES):
        probe._lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_fresh_locks_in_child)
