"""The environment probe for the machine this process runs on: platform, CPU, Python, NumPy,
SciPy and pandas builds, conda, git and installed packages.

A trial captures its environment before it starts, so capturing must cost next to nothing.
What cannot change while a process runs (platform, CPU, interpreter, library builds, conda) is
probed once per process, in a background thread started with the first probe. What can change
is re-read only when files say it may have: installed packages when a ``sys.path`` directory
changed, git when ``.git`` changed or the last reading grew old (see :class:`GitProbe`).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import io
import json
import logging
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TextIO, cast

import cpuinfo
import psutil

from xptrack.adapters.git_probe import (
    ChangeCheck,
    GitProbe,
    stamp_files,
)
from xptrack.domain.environment import CATEGORIES, CATEGORY_FORMATS, EnvironmentSnapshot
from xptrack.domain.redaction import redact_url_credentials
from xptrack.ports.environment import EnvironmentProbe

logger = logging.getLogger(__name__)

CONDA_TIMEOUT_SECONDS = 60.0

#: py-cpuinfo fields that measure the moment, not the machine: the current clock speed differs
#: on every run and would make every new process look like a changed environment.
_VOLATILE_CPU_FIELDS = frozenset({"hz_actual", "hz_actual_friendly"})


class SystemEnvironmentProbe(EnvironmentProbe):
    """Captures this machine's environment, every category of :data:`CATEGORY_FORMATS`.

    ``directory`` is where git looks for the repository to describe (default: the folder of the
    running script, else the current directory). With ``warm_up`` (the default) a background
    thread captures once right away, so the first trial does not wait for the slow probes
    (py-cpuinfo ~1 s, ``pandas.show_versions()`` ~0.3 s). ``git_max_age`` bounds how stale the
    working-tree part of the git state may be (see :class:`GitProbe`).

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
    ) -> None:
        self._git = GitProbe(
            Path(directory).resolve() if directory is not None else _script_directory(),
            max_age=git_max_age,
        )
        self._lock = threading.Lock()
        self._last = EnvironmentSnapshot()
        _PROBES.add(self)
        if warm_up:
            threading.Thread(target=self.capture, name="xptrack-environment", daemon=True).start()

    def capture(self) -> EnvironmentSnapshot:
        """The environment now; the previous snapshot object itself when nothing changed."""
        with self._lock:
            try:
                categories = {
                    **_process_facts(),
                    "git": self._git.describe(),
                    "requirements": _PACKAGES.requirements(),
                }
            except Exception as error:  # only a bug lands here; still, never fail a trial
                logger.debug("environment capture failed", exc_info=True)
                categories = {name: _failure(name, "capture", error) for name in CATEGORIES}
            if categories != self._last.categories:
                self._last = EnvironmentSnapshot(categories)
            return self._last


def _script_directory() -> Path:
    script = getattr(sys.modules.get("__main__"), "__file__", None)
    return Path(script).resolve().parent if script else Path.cwd()


# --- once per process -------------------------------------------------------------------------

_facts_lock = threading.Lock()
_facts: dict[str, str] | None = None


def _process_facts() -> dict[str, str]:
    """The categories that cannot change while this process runs, probed by the first caller."""
    global _facts
    with _facts_lock:
        if _facts is None:
            _facts = {name: _probed(name, probe) for name, probe in _ONCE_PER_PROCESS.items()}
        return _facts


def _probed(category: str, probe: Callable[[], str]) -> str:
    try:
        return probe()
    except Exception as error:
        logger.debug("environment probe %r failed", category, exc_info=True)
        return _failure(category, "probe", error)


def _failure(category: str, what: str, error: BaseException) -> str:
    reason = f"{type(error).__name__}: {error}"
    if CATEGORY_FORMATS[category] == "json":
        return _json({"error": f"{category} {what} failed: {reason}"})
    return f"{category} information could not be captured: {reason}\n"


def _json(value: Mapping[str, Any]) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)


def _device() -> str:
    uname = platform.uname()
    return _json(
        {
            "system": uname.system,
            "node": uname.node,
            "release": uname.release,
            "version": uname.version,
            "machine": uname.machine,
            "platform": platform.platform(),
            "memory_total_bytes": psutil.virtual_memory().total,
            "cpu_count_logical": psutil.cpu_count(logical=True),
            "cpu_count_physical": psutil.cpu_count(logical=False),
        }
    )


def _cpu() -> str:
    info = cpuinfo.get_cpu_info()
    if not info:  # py-cpuinfo returns {} when its helper process fails
        raise RuntimeError("py-cpuinfo returned no information")
    return _json({key: value for key, value in info.items() if key not in _VOLATILE_CPU_FIELDS})


def _python() -> str:
    return _json(
        {
            "implementation": platform.python_implementation(),
            "version": platform.python_version(),
            "version_full": sys.version,
            "executable": sys.executable,
            "compiler": platform.python_compiler(),
            "build": list(platform.python_build()),
            "prefix": sys.prefix,
            "base_prefix": sys.base_prefix,
        }
    )


def _printed_report(module: str, function: str) -> Callable[[], str]:
    """A probe returning what ``module.function()`` prints, or a sentence saying why it cannot."""

    def probe() -> str:
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed\n"
        try:
            report = getattr(importlib.import_module(module), function)
            return _printed_by(report)
        except Exception as error:
            logger.debug("%s.%s() failed", module, function, exc_info=True)
            return f"{module}.{function}() failed: {type(error).__name__}: {error}\n"

    return probe


def _conda() -> str:
    conda = shutil.which("conda") or os.environ.get("CONDA_EXE")
    if not conda:
        return "conda was not found (no conda executable on PATH)\n"
    result = subprocess.run(
        [conda, "info"],
        capture_output=True,
        text=True,
        errors="replace",
        timeout=CONDA_TIMEOUT_SECONDS,
        stdin=subprocess.DEVNULL,
    )
    if result.returncode != 0:
        return f"`conda info` failed (exit {result.returncode}): {result.stderr.strip()}\n"
    return redact_url_credentials(result.stdout)  # channel URLs may carry tokens


_ONCE_PER_PROCESS: dict[str, Callable[[], str]] = {
    "device": _device,
    "cpu": _cpu,
    "python": _python,
    "numpy": _printed_report("numpy", "show_config"),
    "scipy": _printed_report("scipy", "show_config"),
    "pandas": _printed_report("pandas", "show_versions"),
    "conda": _conda,
}


# --- capturing what a library prints ----------------------------------------------------------

_stdout_lock = threading.Lock()


class _ThreadStdout:
    """Stands in for ``sys.stdout`` while a probe prints: the probing thread's output goes to a
    buffer, every other thread's to the real stream. ``contextlib.redirect_stdout`` would
    swallow whatever the user's threads (a dask scheduler's workers) print meanwhile."""

    def __init__(self, real: TextIO | None, buffer: io.StringIO) -> None:
        self.real = real
        self._buffer: io.StringIO | None = buffer
        self._owner = threading.get_ident()

    def write(self, text: str) -> int:
        if self._buffer is not None and threading.get_ident() == self._owner:
            return self._buffer.write(text)
        return self.real.write(text) if self.real is not None else len(text)

    def flush(self) -> None:
        if self.real is not None:
            self.real.flush()

    def release(self) -> None:
        """From now on pass everything through (someone may still hold this stand-in)."""
        self._buffer = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def _printed_by(report: Callable[[], object]) -> str:
    buffer = io.StringIO()
    with _stdout_lock:
        real = sys.stdout
        stand_in = _ThreadStdout(real, buffer)
        sys.stdout = replaced = cast(TextIO, stand_in)
        try:
            report()
        finally:
            stand_in.release()
            if sys.stdout is replaced:  # else someone replaced it meanwhile: keep theirs
                sys.stdout = real
    return buffer.getvalue()


# --- installed packages -----------------------------------------------------------------------

_NAME_SEPARATORS = re.compile(r"[-_.]+")


class _InstalledPackages:
    """``pip freeze``-like lines, re-listed only when a ``sys.path`` entry changed (installing,
    upgrading or removing a package adds or renames a ``*.dist-info`` folder, which changes its
    directory's modification time)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._check = ChangeCheck()
        self._text = ""

    def requirements(self) -> str:
        with self.lock:
            stamps = stamp_files(list(sys.path))
            if self._text and self._check.still_valid(stamps):
                return self._text
            started_ns = time.time_ns()
            self._text = _probed("requirements", _list_distributions)
            self._check.record(stamps, started_ns)
            return self._text


def _list_distributions() -> str:
    _forget_listed_directories()
    lines: dict[str, str] = {}
    for distribution in importlib.metadata.distributions():
        requirement = _requirement(distribution)
        if requirement is not None:
            # The first one found is the one imported; copies further down sys.path are shadowed.
            name = requirement.partition("==")[0]
            lines.setdefault(_NAME_SEPARATORS.sub("-", name).lower(), requirement)
    return "".join(f"{line}\n" for line in sorted(lines.values(), key=str.lower))


def _forget_listed_directories() -> None:
    """Make importlib.metadata list directories afresh: it caches listings keyed by their mtime
    in seconds, so a package changed within the same second would be missed."""
    # Every finder on sys.meta_path, including the one the importlib_metadata backport installs.
    importlib.invalidate_caches()
    # Python 3.11's path finder does not reach the standard library's metadata cache (and there
    # it is not yet a classmethod, hence the instance).
    importlib.metadata.MetadataPathFinder().invalidate_caches()


def _requirement(distribution: importlib.metadata.Distribution) -> str | None:
    """``name==version``, or ``None`` for a broken or half-(un)installed distribution."""
    try:
        name = distribution.metadata["Name"]
        version = distribution.version
    except (KeyError, OSError):  # missing key (newer Pythons raise) or vanished metadata file
        return None
    return f"{name}=={version}" if name and version else None


_PACKAGES = _InstalledPackages()


# --- fork safety ------------------------------------------------------------------------------

_PROBES: weakref.WeakSet[SystemEnvironmentProbe] = weakref.WeakSet()


def _fresh_locks_in_child() -> None:
    """A lock held by the warm-up thread when the process forked stays held forever in the
    child (the thread is not copied); give the child unheld ones."""
    global _facts_lock, _stdout_lock
    _facts_lock, _stdout_lock = threading.Lock(), threading.Lock()
    _PACKAGES.lock = threading.Lock()
    if isinstance(sys.stdout, _ThreadStdout):  # forked while a probe was printing
        sys.stdout.release()
        sys.stdout = sys.stdout.real
    for probe in list(_PROBES):
        probe._lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_fresh_locks_in_child)
