"""One probe per environment category: what each category's text is, read from the machine.

Each probe returns the category's text or raises; :func:`probe` turns a failure into text
saying what failed (a probe never fails a trial) and tells the caller whether it succeeded, so
that only good readings are kept for other processes (see :mod:`environment_cache`).
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
from collections.abc import Callable, Mapping
from typing import Any, TextIO, cast

from xptrack.domain.environment import CATEGORY_FORMATS
from xptrack.domain.redaction import redact_url_credentials

logger = logging.getLogger(__name__)

CONDA_TIMEOUT_SECONDS = 60.0

#: py-cpuinfo fields that measure the moment, not the machine: the current clock speed differs
#: on every run and would make every new process look like a changed environment.
_VOLATILE_CPU_FIELDS = frozenset({"hz_actual", "hz_actual_friendly"})


class ProbeFailed(Exception):
    """A probe could not read its category; the message says why (it becomes the text)."""


def probe(category: str) -> tuple[str, bool]:
    """(text, succeeded) of the probe of ``category``; a failure's text says what failed."""
    try:
        return PROBES[category](), True
    except ProbeFailed as error:
        return str(error), False
    except Exception as error:
        logger.debug("environment probe %r failed", category, exc_info=True)
        return failure(category, "probe", error), False


def failure(category: str, what: str, error: BaseException) -> str:
    """The text recorded for ``category`` when its ``what`` (probe, capture) raised ``error``."""
    reason = f"{type(error).__name__}: {error}"
    if CATEGORY_FORMATS[category] == "json":
        return as_json({"error": f"{category} {what} failed: {reason}"})
    return f"{category} information could not be captured: {reason}\n"


def as_json(value: Mapping[str, Any]) -> str:
    """JSON text as every ``json`` category is stored: indented, keys sorted."""
    return json.dumps(value, indent=2, sort_keys=True, default=str)


def _device() -> str:
    import psutil

    uname = platform.uname()
    return as_json(
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
    import cpuinfo

    info = cpuinfo.get_cpu_info()
    if not info:  # py-cpuinfo returns {} when its helper process fails
        raise RuntimeError("py-cpuinfo returned no information")
    return as_json({key: value for key, value in info.items() if key not in _VOLATILE_CPU_FIELDS})


def _python() -> str:
    return as_json(
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

    def report() -> str:
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed\n"
        try:
            return printed_by(getattr(importlib.import_module(module), function))
        except Exception as error:
            logger.debug("%s.%s() failed", module, function, exc_info=True)
            raise ProbeFailed(
                f"{module}.{function}() failed: {type(error).__name__}: {error}\n"
            ) from error

    return report


def conda_executable() -> str | None:
    """The conda the ``conda`` probe runs, or ``None`` when there is none."""
    return shutil.which("conda") or os.environ.get("CONDA_EXE") or None


def _conda() -> str:
    conda = conda_executable()
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
        raise ProbeFailed(
            f"`conda info` failed (exit {result.returncode}): {result.stderr.strip()}\n"
        )
    return redact_url_credentials(result.stdout)  # channel URLs may carry tokens


#: Category -> its probe, for the categories probed here (git and requirements have their own).
PROBES: dict[str, Callable[[], str]] = {
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


class ThreadStdout:
    """Stands in for ``sys.stdout`` while a probe prints: the probing thread's output goes to a
    buffer, every other thread's to the real stream. ``contextlib.redirect_stdout`` would
    swallow whatever the user's threads (a dask scheduler's workers) print meanwhile."""

    def __init__(self, real: TextIO | None, buffer: io.StringIO) -> None:
        self.real = real
        self._buffer: io.StringIO | None = buffer
        self._owner = threading.get_ident()

    def write(self, text: str) -> int:
        """Into the probe's buffer from the probing thread, else to the real stream."""
        if self._buffer is not None and threading.get_ident() == self._owner:
            return self._buffer.write(text)
        return self.real.write(text) if self.real is not None else len(text)

    def flush(self) -> None:
        """Flush the real stream."""
        if self.real is not None:
            self.real.flush()

    def release(self) -> None:
        """From now on pass everything through (someone may still hold this stand-in)."""
        self._buffer = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def printed_by(report: Callable[[], object]) -> str:
    """What ``report()`` prints to ``sys.stdout`` from this thread (other threads still print)."""
    buffer = io.StringIO()
    with _stdout_lock:
        real = sys.stdout
        stand_in = ThreadStdout(real, buffer)
        sys.stdout = replaced = cast(TextIO, stand_in)
        try:
            report()
        finally:
            stand_in.release()
            if sys.stdout is replaced:  # else someone replaced it meanwhile: keep theirs
                sys.stdout = real
    return buffer.getvalue()


def fresh_stdout_lock_in_child() -> None:
    """After a fork: an unheld lock, and the real stdout back if the fork came mid-report."""
    global _stdout_lock
    _stdout_lock = threading.Lock()
    if isinstance(sys.stdout, ThreadStdout):
        sys.stdout.release()
        sys.stdout = sys.stdout.real


# --- installed distributions ------------------------------------------------------------------

_NAME_SEPARATORS = re.compile(r"[-_.]+")


def installed_distributions() -> str:
    """``pip freeze``-like ``name==version`` lines of the distributions ``sys.path`` imports."""
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
