"""The slow environment categories, probed once per environment and shared by its processes.

py-cpuinfo (~1.1 s), ``pandas.show_versions()`` (~0.3 s), NumPy's and SciPy's ``show_config()``
and ``conda info`` describe what changes only with the machine, the interpreter, the installed
distributions and a few environment variables. Each reading is kept in a per-user folder
(``$XDG_CACHE_HOME/xptrack/environment``, else ``~/.cache/xptrack/environment``, else a private
folder under the temporary directory, else nowhere), in a file named after a key made of
exactly what would change it (:func:`category_keys`). A process whose keys are all found never
runs a slow probe; a changed key (``pip install -U numpy``, another machine) is a miss, probed
before the trial is recorded. Readings older than :data:`REFRESH_AFTER_SECONDS` are still used,
and re-probed by a detached process (``python -m xptrack.adapters.environment_cache``), which
keeps what the key cannot see from lasting. Only successful readings are kept.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import attrs

from xptrack.adapters.environment_keys import (
    CACHED_CATEGORIES,
    FORMAT,
    category_keys,
)
from xptrack.adapters.environment_probes import probe

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: probes of two processes may overlap
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

REFRESH_AFTER_SECONDS = 24 * 3600.0
FORGET_AFTER_SECONDS = 30 * 24 * 3600.0
#: How long a process waits for another one probing the same folder before probing itself.
LOCK_WAIT_SECONDS = 90.0
_LOCK_POLL_SECONDS = 0.02


@attrs.frozen
class Reading:
    """A category's text as probed at ``probed_at`` (seconds since the epoch)."""

    text: str
    probed_at: float

    def age(self) -> float:
        """Seconds since it was probed."""
        return time.time() - self.probed_at


def default_folder() -> Path | None:
    """The per-user cache folder, created if need be; ``None`` when none is writable."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    if os.path.isabs(xdg):
        base = Path(xdg)
    else:
        try:
            base = Path.home() / ".cache"
        except (RuntimeError, KeyError):  # no home directory known
            base = None
    if base is not None and _usable(base / "xptrack" / "environment", private=False):
        return base / "xptrack" / "environment"
    uid = os.getuid() if hasattr(os, "getuid") else os.getlogin()
    private = Path(tempfile.gettempdir()) / f"xptrack-{uid}"
    if _usable(private, private=True) and _usable(private / "environment", private=True):
        return private / "environment"
    logger.debug("no writable cache folder: the slow environment probes run in every process")
    return None


def _usable(folder: Path, *, private: bool) -> bool:
    """Whether ``folder`` exists (made if missing) and is writable; with ``private`` also that
    it is a real folder of ours nobody else may write (a shared temporary directory)."""
    try:
        folder.mkdir(parents=not private, exist_ok=True, mode=0o700)
        status = folder.lstat()
    except OSError:
        return False
    if private and hasattr(os, "getuid"):
        if not folder.is_dir() or folder.is_symlink() or status.st_uid != os.getuid():
            return False
        if status.st_mode & 0o022:
            return False
    return os.access(folder, os.W_OK | os.X_OK)


# --- readings on disk --------------------------------------------------------------------------


def _path(folder: Path, category: str, key: str) -> Path:
    return folder / f"{category}-{key[:40]}.json"


def load(folder: Path, category: str, key: str) -> Reading | None:
    """The reading kept for ``category`` under ``key``; ``None`` if none (or unreadable)."""
    try:
        document = json.loads(_path(folder, category, key).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        return None
    text, probed_at = document.get("text"), document.get("probed_at")
    if document.get("key") != key or not isinstance(text, str) or not text:
        return None
    if not isinstance(probed_at, (int, float)):
        return None
    return Reading(text, float(probed_at))


def store(folder: Path, category: str, key: str, text: str) -> None:
    """Keep ``text`` as ``category``'s reading under ``key`` (atomically; failures logged)."""
    document = {
        "format": FORMAT,
        "category": category,
        "key": key,
        "probed_at": time.time(),
        "text": text,
    }
    target = _path(folder, category, key)
    try:
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".json")
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            json.dump(document, file)
        os.replace(temporary, target)
    except OSError:
        logger.debug("could not keep the %s reading in %s", category, folder, exc_info=True)
        with contextlib.suppress(OSError, UnboundLocalError):
            os.unlink(temporary)
        return
    _forget_old(folder, category, keep=target)


def _forget_old(folder: Path, category: str, keep: Path) -> None:
    """Remove the readings of ``category`` nobody refreshed for :data:`FORGET_AFTER_SECONDS`."""
    limit = time.time() - FORGET_AFTER_SECONDS
    with contextlib.suppress(OSError):
        for path in folder.glob(f"{category}-*.json"):
            with contextlib.suppress(OSError):
                if path != keep and path.stat().st_mtime < limit:
                    path.unlink()


@contextlib.contextmanager
def probing(folder: Path) -> Iterator[None]:
    """Held while probing into ``folder``, so that processes starting together probe once: the
    others wait (at most :data:`LOCK_WAIT_SECONDS`), then find the readings."""
    try:
        handle = os.open(folder / "probe.lock", os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        yield
        return
    try:
        if fcntl is not None:
            deadline = time.monotonic() + LOCK_WAIT_SECONDS
            while True:
                try:
                    fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        logger.debug("%s stayed locked; probing anyway", folder)
                        break
                    time.sleep(_LOCK_POLL_SECONDS)
        yield
    finally:
        os.close(handle)  # releases the lock


# --- readings for a process, and their refresh --------------------------------------------------


def readings(folder: Path | None, requirements: str) -> dict[str, str]:
    """The text of every cached category in this environment: kept readings where found, the
    others probed now (and kept). Starts a refresh when a reading used is old."""
    if folder is None:
        return {category: probe(category)[0] for category in CACHED_CATEGORIES}
    keys = category_keys(requirements)
    found = {category: load(folder, category, keys[category]) for category in CACHED_CATEGORIES}
    texts = {category: kept.text for category, kept in found.items() if kept is not None}
    missing = [category for category in CACHED_CATEGORIES if category not in texts]
    if missing:
        with probing(folder):
            for category in missing:
                texts[category] = _probe_and_keep(folder, category, keys[category])
    stale = [c for c, kept in found.items() if kept and kept.age() > REFRESH_AFTER_SECONDS]
    if stale:
        start_refresh(folder, {category: keys[category] for category in stale})
    return {category: texts[category] for category in CACHED_CATEGORIES}


def _probe_and_keep(folder: Path, category: str, key: str) -> str:
    kept = load(folder, category, key)  # another process may have probed it meanwhile
    if kept is not None:
        return kept.text
    text, succeeded = probe(category)
    if succeeded:
        store(folder, category, key, text)
    return text


def _marker(folder: Path, category: str, key: str) -> Path:
    return folder / f"{category}-{key[:40]}.refreshing"


def start_refresh(folder: Path, keys: Mapping[str, str]) -> subprocess.Popen[bytes] | None:
    """Re-probe the readings of ``keys`` (category -> key) in a detached process, unless one
    was started for them within :data:`REFRESH_AFTER_SECONDS`. Returns the process started."""
    due = {}
    for category, key in keys.items():
        marker = _marker(folder, category, key)
        with contextlib.suppress(OSError):
            if time.time() - marker.stat().st_mtime < REFRESH_AFTER_SECONDS:
                continue
        with contextlib.suppress(OSError):
            marker.write_text(str(os.getpid()))
            due[category] = key
    if not due:
        return None
    path = os.pathsep.join(entry for entry in sys.path if entry)
    command = [sys.executable, "-m", __name__, str(folder), json.dumps(due)]
    try:
        return subprocess.Popen(
            command,
            cwd=folder,
            env={**os.environ, "PYTHONPATH": path},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError:
        logger.debug("could not start the environment refresh", exc_info=True)
        return None


def refresh(folder: Path, keys: Mapping[str, str], requirements: str) -> list[str]:
    """Re-probe and keep the categories of ``keys`` whose key in this process is the same (the
    same environment) and whose reading is still old; returns the categories kept."""
    own = category_keys(requirements)
    kept = []
    with probing(folder):
        for category, key in keys.items():
            if own.get(category) != key:
                continue  # this process sees another environment: leave that reading alone
            reading = load(folder, category, key)
            if reading is None or reading.age() > REFRESH_AFTER_SECONDS:
                text, succeeded = probe(category)
                if not succeeded:
                    continue
                store(folder, category, key, text)
            kept.append(category)
            with contextlib.suppress(OSError):
                _marker(folder, category, key).unlink()
    return kept


def main(argv: list[str]) -> int:
    """``python -m xptrack.adapters.environment_cache FOLDER '{"category": "key", ...}'``."""
    from xptrack.adapters.environment_probes import installed_distributions

    folder, keys = Path(argv[0]), json.loads(argv[1])
    refresh(folder, keys, installed_distributions())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
