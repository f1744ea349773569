"""What the local store promises about its files (README "Faults"): readable when it cannot be
written, and durable as API.md says.

- A folder this process cannot write (another user's, a read-only mount, a copy) is opened
  for reading: SQLite read-only (``mode=ro``, or ``immutable=1`` when even the WAL's index
  cannot be created), and any write is refused with an error saying why.
- Process crash: every write that returned is kept (SQLite's WAL; files renamed into place).
- Power loss: what a trial wrote is kept once its final record is saved: every file's data is
  fsynced before its rename, the folders are fsynced and the final record is committed with
  ``synchronous=FULL`` (which syncs the WAL, and with it every earlier commit). Writes of a
  trial still running use ``synchronous=NORMAL``: they may be lost to a power cut, never
  corrupted.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from xptrack.domain.errors import StoreError, StoreUnavailable

_READ_ONLY_SIGNS = ("readonly", "read-only", "unable to open database file", "permission")


def cannot_write(error: BaseException) -> bool:
    """Whether ``error`` (from opening the database for writing) says the folder or the file
    cannot be written, rather than that the database is busy or damaged."""
    if isinstance(error, PermissionError):
        return True
    return isinstance(error, sqlite3.OperationalError) and any(
        sign in str(error).lower() for sign in _READ_ONLY_SIGNS
    )


def open_read_only(path: Path, reason: str, timeout: float) -> sqlite3.Connection:
    """A read-only connection to the database at ``path`` (opened because writing failed
    with ``reason``); StoreUnavailable when there is no database there to read."""
    if not path.is_file():
        raise StoreUnavailable(
            f"cannot create {path}: {reason}; the folder cannot be written and holds no "
            "experiment of that id to read; give a folder you can write to"
        )
    last: sqlite3.Error | None = None
    # mode=ro still needs the WAL index (-shm) to exist or be creatable; immutable=1 does not,
    # and then reads the database as it is (a copy, or a folder nobody writes any more).
    for options in ("mode=ro", "immutable=1"):
        connection = sqlite3.connect(
            f"{path.resolve().as_uri()}?{options}",
            uri=True,
            timeout=timeout,
            isolation_level=None,
            check_same_thread=False,
        )
        try:
            connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return connection
        except sqlite3.Error as error:
            connection.close()
            last = error
    raise StoreUnavailable(f"cannot read {path} (opened read-only: {reason}): {last}")


def read_only_error(path: Path, reason: str, error: BaseException) -> StoreError:
    """The error of a write to a store opened read-only."""
    return StoreError(
        f"the local store {path.parent} is read-only for this process ({reason}), so it can "
        f"be read but not written ({error}); to record trials, use a folder you can write to "
        "(copy it, or pass another pathlib.Path as backend)"
    )


def write_durably(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never
    half, and a power cut after the folder is synced (:func:`sync_folders`) keeps it."""
    fd, temp = _temporary_file(path)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())  # the data is on disk before the name points to it
        os.replace(temp, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        if isinstance(error, OSError):
            raise StoreError(f"cannot write {path}: {error}") from error
        raise


def _temporary_file(path: Path) -> tuple[int, str]:
    try:
        return tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        raise StoreError(f"cannot write {path}: {error}") from error


def sync_folders(folders: Iterable[Path]) -> None:
    """fsync each folder, so that the names renamed or linked into it survive a power cut."""
    for folder in folders:
        with contextlib.suppress(OSError):  # a folder that cannot be opened has nothing new
            fd = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


@contextlib.contextmanager
def synchronous_full(connection: sqlite3.Connection) -> Iterator[None]:
    """Commit what runs inside with ``synchronous=FULL`` (the WAL is synced at its commit),
    then go back to ``NORMAL``."""
    connection.execute("PRAGMA synchronous=FULL")
    try:
        yield
    finally:
        connection.execute("PRAGMA synchronous=NORMAL")
