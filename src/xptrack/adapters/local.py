"""The local store, xptrack's embedded default: SQLite for tracker state, plain files beside it.

Layout under the backend's folder (the seed's, with API.md's departures)::

    <id>.db                                   trials, metrics, step hashes, captured output,
                                              history fields (SQLite, WAL mode; local_history)
    code/<id>_<trial>.py                      code context of each trial
    persist/<id>_<step>_<trial>.pkl           outputs of @ex.persist steps
    step_cache/<id>/<step>-<key>-<n>.pkl      outputs of cache=True steps (indexed in <id>.db)
    environment/<category>_<id>_<trial>.<ext> environment of each trial
    .blobs/<sha256>                           one copy of each distinct code/environment text

Code and environment files are hard links to their blob, so a thousand trials run
in an unchanged environment keep one copy of each text, not a thousand. Every file
is written atomically (a temporary file renamed into place); SQLite gives ids and
records to many processes at once without losing any.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import hashlib
import logging
import os
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Hashable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from xptrack.adapters import local_history
from xptrack.adapters.local_durability import (
    cannot_write,
    open_read_only,
    read_only_error,
    sync_folders,
    synchronous_full,
    write_durably,
)
from xptrack.adapters.process_local import PerProcess
from xptrack.adapters.serialization import (
    decode_metric_chunks,
    labelled,
    labels_from_json,
    labels_to_json,
    load_json,
    metric_rows,
    read_trial_isolated,
    trial_from_document,
    trial_from_json,
    trial_to_json,
)
from xptrack.adapters.trial_columns_codec import (
    columns_or_records,
    trial_columns_from_lists,
)
from xptrack.adapters.utf8 import decoded, encoded, unencodable
from xptrack.domain.environment import CATEGORY_FORMATS, EnvironmentSnapshot
from xptrack.domain.errors import (
    ConflictError,
    CorruptRecord,
    StoreError,
    StoreUnavailable,
    UnstorableValue,
)
from xptrack.domain.labels import LabelChange, TrialLabels
from xptrack.domain.metric import MetricSeries
from xptrack.domain.names import validate_name
from xptrack.domain.step_cache import CachedOutput
from xptrack.domain.step_hash import StepHash
from xptrack.domain.trial import TrialRecord, TrialStatus
from xptrack.domain.trial_columns import TrialColumns
from xptrack.ports.not_found import no_metric, no_persisted, no_text, no_trial
from xptrack.ports.repositories import Backend, ExperimentStore

logger = logging.getLogger(__name__)

#: Distinct code/environment texts whose blob a store remembers (per process).
_REMEMBERED_BLOBS = 256
_BUSY_TIMEOUT_MS = 60_000
_SCHEMA = """
CREATE TABLE IF NOT EXISTS trials (
    trial_id INTEGER PRIMARY KEY AUTOINCREMENT,
    record TEXT
);
CREATE TABLE IF NOT EXISTS metric_chunks (
    chunk_id INTEGER PRIMARY KEY AUTOINCREMENT,
    trial_id INTEGER NOT NULL,
    metric_key TEXT NOT NULL,
    points TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS metric_chunks_by_trial ON metric_chunks (trial_id, metric_key, chunk_id);
CREATE TABLE IF NOT EXISTS trial_outputs (
    trial_id INTEGER PRIMARY KEY,
    output TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS trial_labels (
    trial_id INTEGER PRIMARY KEY,
    labels TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS step_hashes (
    input_hash TEXT PRIMARY KEY,
    output_hash TEXT NOT NULL,
    previous TEXT
);
CREATE TABLE IF NOT EXISTS step_cache (
    entry TEXT PRIMARY KEY,
    trial_id INTEGER NOT NULL,
    file TEXT NOT NULL
);
"""


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half
    (its data synced before the rename: see :mod:`~xptrack.adapters.local_durability`)."""
    write_durably(path, data)


def _use_wal(connection: sqlite3.Connection) -> None:
    """Switch to WAL mode. SQLite answers "database is locked" at once, without waiting for
    the busy timeout, when several processes switch a new database together: retry, bounded."""
    deadline = time.monotonic() + _BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            if connection.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal":
                return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
        time.sleep(0.01)


class LocalExperimentStore(ExperimentStore):
    """One experiment in a folder: ``<id>.db`` plus code, persist and environment files."""

    def __init__(self, root: Path, experiment_id: str) -> None:
        self.root = root
        self.experiment_id = experiment_id
        self.db_path = root / f"{experiment_id}.db"
        self._lock = threading.RLock()
        #: This process's connection (a connection must not cross a fork).
        self._connections: PerProcess[Path, sqlite3.Connection] = PerProcess()
        self._blobs: dict[str, Path] = {}
        #: Folders that gained names since the last trial ended (synced then, and only those).
        self._unsynced: set[Path] = {root}
        #: Why this store is read-only (None while it can be written).
        self.read_only: str | None = None
        try:
            for folder in ("code", "persist", "environment", ".blobs"):
                (root / folder).mkdir(parents=True, exist_ok=True)
                self._unsynced.add(root / folder)
        except OSError as error:  # a folder we cannot write: it may still be read
            self.read_only = f"cannot create folders in {root}: {error}"
        self._connect()

    # --- the database --------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        """This process's connection (a child process opens its own)."""
        return self._connections.get(self.db_path, self._open)

    def _open(self, _: Path) -> sqlite3.Connection:
        try:
            connection = self._open_writable()
        except (sqlite3.OperationalError, PermissionError) as error:
            if not cannot_write(error):
                raise StoreUnavailable(f"cannot open {self.db_path}: {error}") from error
            self.read_only = self.read_only or f"cannot write {self.db_path}: {error}"
            connection = open_read_only(self.db_path, self.read_only, _BUSY_TIMEOUT_MS / 1000)
            logger.info("Opened %s read-only (%s)", self.db_path, self.read_only)
        return connection

    def _open_writable(self) -> sqlite3.Connection:
        """The database in WAL mode with its schema; sqlite3's OperationalError (busy, or
        cannot write) is the caller's."""
        if self.read_only is not None:
            raise PermissionError(self.read_only)
        connection = sqlite3.connect(
            self.db_path,
            timeout=_BUSY_TIMEOUT_MS / 1000,
            isolation_level=None,
            check_same_thread=False,
        )
        try:
            _use_wal(connection)
            connection.execute("PRAGMA synchronous=NORMAL")
            # The WAL is checkpointed at ~1 MB and cut back to 1 MB instead of keeping its
            # high-water mark (~4 MB by default): most of a small experiment's size.
            connection.execute("PRAGMA wal_autocheckpoint=256")
            connection.execute("PRAGMA journal_size_limit=1048576")
            connection.executescript(_SCHEMA)
            local_history.install(connection)
        except sqlite3.OperationalError:
            # "database is locked" and friends: busy, not damaged (OperationalError is a
            # DatabaseError, so it must be caught first); or a folder we cannot write.
            connection.close()
            raise
        except sqlite3.DatabaseError as error:
            connection.close()
            raise CorruptRecord(
                f"{self.db_path} is not an xptrack database ({error}); move it away or use "
                "another folder"
            ) from error
        except sqlite3.Error as error:
            connection.close()
            raise StoreUnavailable(f"cannot open {self.db_path}: {error}") from error
        return connection

    def _error(self, error: sqlite3.Error | UnicodeEncodeError) -> StoreError:
        """xptrack's error for a failed statement (saying why when the store is read-only)."""
        if isinstance(error, UnicodeEncodeError):
            return UnstorableValue(f"cannot store in {self.db_path}: {unencodable(error)}")
        if cannot_write(error):
            reason = self.read_only or f"{self.db_path} or its folder cannot be written"
            return read_only_error(self.db_path, reason, error)
        return StoreError(f"{self.db_path}: {error}")

    @contextlib.contextmanager
    def _transaction(self, immediate: bool = False) -> Iterator[sqlite3.Connection]:
        with self._lock:
            connection = self._connect()
            try:
                connection.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
                yield connection
                connection.execute("COMMIT")
            except BaseException as error:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                if isinstance(error, (sqlite3.Error, UnicodeEncodeError)):
                    raise self._error(error) from error
                raise

    def _query(self, sql: str, parameters: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            try:
                return self._connect().execute(sql, parameters).fetchall()
            except (sqlite3.Error, UnicodeEncodeError) as error:
                raise self._error(error) from error

    # --- trials --------------------------------------------------------------------------

    def next_trial_id(self) -> int:
        # AUTOINCREMENT never hands out an id twice, even after rows are deleted; a single
        # statement is its own transaction.
        rows = self._query("INSERT INTO trials (record) VALUES (NULL) RETURNING trial_id")
        return int(rows[0][0])

    def last_trial_id(self) -> int:
        rows = self._query("SELECT seq FROM sqlite_sequence WHERE name = 'trials'")
        return int(rows[0][0]) if rows else 0

    def save_trial(self, record: TrialRecord) -> None:
        if record.status is TrialStatus.RUNNING:
            self._write_trial(record)
            return
        # A trial's last record: once it is saved, what the trial wrote survives a power cut
        # (the folders' new names synced, then this commit syncs the WAL: local_durability).
        with self._lock:
            folders, self._unsynced = self._unsynced, set()
        sync_folders(sorted(folders))
        with self._lock, synchronous_full(self._connect()):
            self._write_trial(record)

    def _write_trial(self, record: TrialRecord) -> None:
        self._query(
            "INSERT INTO trials (trial_id, record) VALUES (?, ?) "
            "ON CONFLICT (trial_id) DO UPDATE SET record = excluded.record",
            (record.trial_id, trial_to_json(record)),
        )

    def reserve_trial_ids(self, at_least: int) -> None:
        with self._transaction(immediate=True) as connection:
            if self.last_trial_id() < at_least:
                connection.execute("DELETE FROM sqlite_sequence WHERE name = 'trials'")
                connection.execute(
                    "INSERT INTO sqlite_sequence (name, seq) VALUES ('trials', ?)", (at_least,)
                )

    def get_trial(self, trial_id: int) -> TrialRecord:
        rows = self._query(
            "SELECT record, labels FROM trials LEFT JOIN trial_labels USING (trial_id) "
            "WHERE trial_id = ?",
            (trial_id,),
        )
        if not rows or rows[0][0] is None:
            raise no_trial(trial_id)
        record, labels = rows[0]
        return labelled(trial_from_json(record), labels and labels_from_json(labels))

    def list_trials(self) -> list[TrialRecord]:
        # One JSON array for all records: a single parse instead of one per trial.
        # As bytes: a record that is not text (a planted pickle) then fails as JSON, and is
        # refused as a corrupt record instead of breaking the text decoding of the driver.
        rows = self._query(
            "SELECT CAST(group_concat(record, ',') AS BLOB) FROM trials WHERE record IS NOT NULL"
        )
        try:
            documents = load_json(b"[" + (rows[0][0] or b"") + b"]")
            records = [trial_from_document(document) for document in documents]
        except CorruptRecord:  # one bad record: read them one by one, isolating it
            records = self._list_trials_one_by_one()
        labels = dict(self._query("SELECT trial_id, labels FROM trial_labels"))
        records = [
            labelled(record, labels_from_json(labels[record.trial_id]))
            if record.trial_id in labels
            else record
            for record in records
        ]
        return sorted(records, key=lambda record: record.trial_id)

    def _list_trials_one_by_one(self) -> list[TrialRecord]:
        rows = self._query(
            "SELECT trial_id, CAST(record AS BLOB) FROM trials WHERE record IS NOT NULL"
        )
        return [read_trial_isolated(tid, partial(trial_from_json, text)) for tid, text in rows]

    def change_labels(self, trial_id: int, change: LabelChange) -> None:
        with self._transaction(immediate=True) as connection:
            rows = connection.execute(
                "SELECT labels FROM trials LEFT JOIN trial_labels USING (trial_id) "
                "WHERE trial_id = ? AND record IS NOT NULL",
                (trial_id,),
            ).fetchall()
            if not rows:
                raise no_trial(trial_id)
            labels = labels_from_json(rows[0][0]) if rows[0][0] else TrialLabels()
            connection.execute(
                "INSERT OR REPLACE INTO trial_labels (trial_id, labels) VALUES (?, ?)",
                (trial_id, labels_to_json(change.applied_to(labels))),
            )

    def delete_trial(self, trial_id: int) -> None:
        with self._transaction(immediate=True) as connection:
            for table in ("trials", "trial_labels", "trial_outputs", "metric_chunks"):
                connection.execute(f"DELETE FROM {table} WHERE trial_id = ?", (trial_id,))
            cached = connection.execute(
                "DELETE FROM step_cache WHERE trial_id = ? RETURNING file", (trial_id,)
            ).fetchall()
        for (name,) in cached:
            if isinstance(name, str) and Path(name).name == name:
                (self._cache_folder() / name).unlink(missing_ok=True)
        for step in self.list_persisted(trial_id):
            self._persist_path(step, trial_id).unlink(missing_ok=True)
        self._code_path(trial_id).unlink(missing_ok=True)
        for category in CATEGORY_FORMATS:
            self._environment_path(category, trial_id).unlink(missing_ok=True)
        self._drop_unlinked_blobs()

    def trial_columns(self, verbose: bool = False) -> TrialColumns:
        return columns_or_records(functools.partial(self._columns, verbose), self.list_trials)

    def _columns(self, verbose: bool) -> TrialColumns:
        columns, alive = local_history.stored_fields(self._json_row, verbose)
        labels = {
            trial_id: (found.tags, found.note)
            for trial_id, text in self._query("SELECT trial_id, labels FROM trial_labels")
            for found in (labels_from_json(text),)
        }
        return trial_columns_from_lists(columns, alive, labels)

    def _json_row(self, sql: str) -> Any:
        """The one row ``sql`` selects; a record that is not JSON is a corrupt record."""
        with self._lock:
            try:
                return self._connect().execute(sql).fetchone()
            except sqlite3.Error as error:
                if isinstance(error, sqlite3.OperationalError) and "JSON" in str(error):
                    raise CorruptRecord(f"{self.db_path}: a stored trial is not JSON") from error
                raise self._error(error) from error

    # --- metrics -------------------------------------------------------------------------

    def append_metrics(self, batch: Sequence[tuple[int, str, MetricSeries]]) -> None:
        rows = metric_rows(batch)
        if rows:
            with self._transaction() as connection:
                connection.executemany(
                    "INSERT INTO metric_chunks (trial_id, metric_key, points) VALUES (?, ?, ?)",
                    rows,
                )

    def load_metric(self, trial_id: int, key: str) -> MetricSeries:
        rows = self._query(
            "SELECT points FROM metric_chunks WHERE trial_id = ? AND metric_key = ? "
            "ORDER BY chunk_id",
            (trial_id, key),
        )
        if not rows:
            raise no_metric(trial_id, key)
        return decode_metric_chunks(points for (points,) in rows)

    def metric_keys(self, trial_id: int) -> list[str]:
        rows = self._query(
            "SELECT DISTINCT metric_key FROM metric_chunks WHERE trial_id = ? ORDER BY metric_key",
            (trial_id,),
        )
        return [key for (key,) in rows]

    # --- step hashes ---------------------------------------------------------------------

    def swap_step_hash(self, step: str, input_hash: str, output_hash: str) -> str | None:
        # One statement, so one atomic transaction: the UPDATE's right-hand sides read the row
        # as it was, so ``previous`` receives the hash being replaced.
        rows = self._query(
            "INSERT INTO step_hashes (input_hash, output_hash, previous) VALUES (?, ?, NULL) "
            "ON CONFLICT (input_hash) DO UPDATE SET previous = step_hashes.output_hash, "
            "output_hash = excluded.output_hash RETURNING previous",
            (StepHash(step, input_hash, output_hash).key, output_hash),
        )
        previous = rows[0][0]
        return None if previous is None else str(previous)

    # --- captured output -----------------------------------------------------------------

    def save_output(self, trial_id: int, text: str) -> None:
        self._query(
            "INSERT INTO trial_outputs (trial_id, output) VALUES (?, ?) "
            "ON CONFLICT (trial_id) DO UPDATE SET output = excluded.output",
            (trial_id, text),
        )

    def load_output(self, trial_id: int) -> str:
        rows = self._query("SELECT output FROM trial_outputs WHERE trial_id = ?", (trial_id,))
        if not rows:
            raise no_text("output", trial_id)
        return str(rows[0][0])

    # --- the step cache: a file per offered output, a row per kept one ------------------

    def _cache_folder(self) -> Path:
        return self.root / "step_cache" / self.experiment_id

    def add_cached_output(self, step: str, key: str, output: CachedOutput) -> bool:
        # Each writer's bytes go to a file of its own first; the row is what publishes one,
        # and the primary key lets exactly one writer's row in. A loser removes its file.
        folder = self._cache_folder()
        if not folder.is_dir():
            folder.mkdir(parents=True, exist_ok=True)
            with self._lock:
                self._unsynced.update((folder.parent, self.root))
        name = f"{step}-{key}-{uuid.uuid4().hex[:16]}.pkl"
        self._write_file(folder / name, output.data)
        rows = self._query(
            "INSERT INTO step_cache (entry, trial_id, file) VALUES (?, ?, ?) "
            "ON CONFLICT (entry) DO NOTHING RETURNING trial_id",
            (f"{step}-{key}", output.trial_id, name),
        )
        if not rows:
            (folder / name).unlink(missing_ok=True)
        return bool(rows)

    def load_cached_output(self, step: str, key: str) -> CachedOutput | None:
        rows = self._query(
            "SELECT trial_id, file FROM step_cache WHERE entry = ?", (f"{step}-{key}",)
        )
        if not rows:
            return None
        trial_id, name = rows[0]
        if not isinstance(name, str) or Path(name).name != name:
            raise CorruptRecord(f"cached output of step {step!r} names file {name!r}; refused")
        try:
            return CachedOutput(int(trial_id), (self._cache_folder() / name).read_bytes())
        except FileNotFoundError:
            raise CorruptRecord(
                f"cached output of step {step!r} is indexed in {self.db_path.name} but its file "
                f"{name} is missing from {self._cache_folder()}"
            ) from None

    # --- files: persisted outputs, code, environment -------------------------------------

    def _persist_path(self, step: str, trial_id: int) -> Path:
        return self.root / "persist" / f"{self.experiment_id}_{step}_{trial_id}.pkl"

    def save_persisted(self, step: str, trial_id: int, data: bytes) -> None:
        self._write_file(self._persist_path(step, trial_id), data)

    def load_persisted(self, step: str, trial_id: int) -> bytes:
        try:
            return self._persist_path(step, trial_id).read_bytes()
        except FileNotFoundError:
            raise no_persisted(step, trial_id) from None

    def list_persisted(self, trial_id: int) -> list[str]:
        # persist/<id>_<step>_<trial>.pkl; no neighbour's file matches (LocalBackend.open).
        prefix, suffix = f"{self.experiment_id}_", f"_{trial_id}.pkl"
        return sorted(
            path.name[len(prefix) : -len(suffix)]
            for path in (self.root / "persist").glob(f"{glob.escape(prefix)}*{suffix}")
            if len(path.name) > len(prefix) + len(suffix)
        )

    def _code_path(self, trial_id: int) -> Path:
        return self.root / "code" / f"{self.experiment_id}_{trial_id}.py"

    def save_code(self, trial_id: int, text: str) -> None:
        self._link_text(self._code_path(trial_id), text)

    def load_code(self, trial_id: int) -> str:
        try:
            return decoded(self._code_path(trial_id).read_bytes(), f"code of trial {trial_id}")
        except FileNotFoundError:
            raise no_text("code", trial_id) from None

    def _environment_path(self, category: str, trial_id: int) -> Path:
        extension = CATEGORY_FORMATS[category]
        name = f"{category}_{self.experiment_id}_{trial_id}.{extension}"
        return self.root / "environment" / name

    def save_environment(self, trial_id: int, snapshot: EnvironmentSnapshot) -> None:
        for category in CATEGORY_FORMATS:
            path = self._environment_path(category, trial_id)
            if category in snapshot.categories:
                self._link_text(path, snapshot.categories[category])
            else:
                path.unlink(missing_ok=True)

    def load_environment(self, trial_id: int) -> EnvironmentSnapshot:
        categories: dict[str, str] = {}
        for category in CATEGORY_FORMATS:
            with contextlib.suppress(FileNotFoundError):
                path = self._environment_path(category, trial_id)
                text = decoded(path.read_bytes(), f"{category!r} environment of trial {trial_id}")
                categories[category] = text
        if not categories:
            raise no_text("environment", trial_id)
        return EnvironmentSnapshot(categories)

    def _blob_of(self, text: str) -> Path:
        """The blob holding ``text``, written if new (remembered: environments repeat)."""
        blob = self._blobs.get(text)
        if blob is None:
            data = encoded(text)
            blob = self.root / ".blobs" / hashlib.sha256(data).hexdigest()
            if not blob.exists():
                self._write_file(blob, data)
            if len(self._blobs) >= _REMEMBERED_BLOBS:
                self._blobs.clear()
            self._blobs[text] = blob
        return blob

    def _write_file(self, path: Path, data: bytes) -> None:
        """:func:`write_atomically`, and remember that ``path``'s folder gained a name."""
        write_atomically(path, data)
        with self._lock:
            self._unsynced.add(path.parent)

    def _link_text(self, path: Path, text: str) -> None:
        """Make ``path`` hold ``text`` as a hard link to the one blob with that content."""
        blob = self._blob_of(text)
        with self._lock:
            self._unsynced.add(path.parent)
        try:
            os.link(blob, path)
        except FileExistsError:
            temp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            os.link(blob, temp)
            os.replace(temp, path)
        except FileNotFoundError:
            # Another process's delete_experiment removed the blob in between: write it anew.
            self._blobs.pop(text, None)
            self._link_text(path, text)
        except OSError:
            # File systems without hard links get a copy: correct, only larger.
            self._write_file(path, text.encode("utf-8"))

    # --- the whole experiment ------------------------------------------------------------

    def delete_experiment(self) -> None:
        self.close()
        # File names are unambiguous: experiments whose names could collide never share a
        # folder (LocalBackend.open refuses the second one).
        for folder in ("code", "persist", "environment"):
            for path in (self.root / folder).iterdir():
                if _belongs_to(path.name, folder, self.experiment_id):
                    path.unlink(missing_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.db_path}{suffix}").unlink(missing_ok=True)
        shutil.rmtree(self._cache_folder(), ignore_errors=True)
        self._drop_unlinked_blobs()

    def _drop_unlinked_blobs(self) -> None:
        for blob in (self.root / ".blobs").iterdir():
            # A blob no file links to any more (link count 1: only itself) is garbage.
            with contextlib.suppress(OSError):
                if blob.stat().st_nlink == 1:
                    blob.unlink()
        self._blobs.clear()

    def close(self) -> None:
        with self._lock:
            for connection in self._connections.drain():
                connection.close()


def _belongs_to(name: str, folder: str, experiment_id: str) -> bool:
    """True when the file ``name`` in ``folder`` is one this experiment wrote (or a temporary
    file left by a write of it that was killed: ``.<name>.<random>.tmp``)."""
    if name.startswith(".") and name.endswith(".tmp"):
        name = name[1:].rsplit(".", 2)[0]
    stem, _, _extension = name.rpartition(".")
    if folder == "environment":
        category, _, stem = stem.partition("_")
        if category not in CATEGORY_FORMATS:
            return False
    rest, _, trial = stem.rpartition("_")
    if not trial.isdigit():
        return False
    return rest == experiment_id if folder != "persist" else rest.startswith(f"{experiment_id}_")


class LocalBackend(Backend):
    """Experiments in a folder of this machine (default ``xptrack_cache/<experiment id>``)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        # Resolved now, so a copy shipped to a worker with another working directory
        # still finds the same folder.
        self._resolved = self.path.resolve()

    @property
    def location(self) -> str:
        return str(self.path)

    def open(self, experiment_id: str) -> LocalExperimentStore:
        self._refuse_ambiguous_neighbour(experiment_id)
        if not self._resolved.exists():
            logger.info("Creating new cache directory: %s", self._resolved)
        try:
            self._resolved.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StoreUnavailable(f"cannot create cache directory {self.path}: {error}") from error
        return LocalExperimentStore(self._resolved, experiment_id)

    def _refuse_ambiguous_neighbour(self, experiment_id: str) -> None:
        # The seed names persisted files <id>_<step>_<trial>.pkl, and ids and steps may hold
        # '_': experiments "a" (step "b_c") and "a_b" (step "c") would write the same file.
        # Such a pair is refused a shared folder rather than allowed to overwrite each other.
        for database in self._resolved.glob("*.db"):
            other = database.stem
            if other != experiment_id and (
                other.startswith(f"{experiment_id}_") or experiment_id.startswith(f"{other}_")
            ):
                raise ConflictError(
                    f"experiment {experiment_id!r} cannot share folder {self.path} with "
                    f"experiment {other!r}: their persisted files "
                    "(persist/<id>_<step>_<trial>.pkl) could collide; give each experiment its "
                    "own folder (the default, xptrack_cache/<id>) or an id that is not the "
                    "other's followed by '_'"
                )

    def list_experiments(self) -> list[str]:
        return sorted(path.stem for path in self._resolved.glob("*.db") if _is_name(path.stem))

    def configuration(self) -> Hashable:
        return self._resolved


class LocalCacheBackend(Backend):
    """The default local store: a root folder (``xptrack_cache``) with one folder per
    experiment, ``<root>/<id>/<id>.db`` and its files, as ``Experiment(id)`` makes them."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._resolved = self.root.resolve()

    @property
    def location(self) -> str:
        return str(self.root)

    def backend_of(self, experiment_id: str) -> LocalBackend:
        """The folder backend of one experiment (what ``Experiment(id)`` uses)."""
        return LocalBackend(self.root / validate_name(experiment_id, "experiment id"))

    def open(self, experiment_id: str) -> LocalExperimentStore:
        return self.backend_of(experiment_id).open(experiment_id)

    def list_experiments(self) -> list[str]:
        if not self._resolved.is_dir():
            return []
        return sorted(
            folder.name
            for folder in self._resolved.iterdir()
            if _is_name(folder.name) and (folder / f"{folder.name}.db").is_file()
        )

    def delete_experiment(self, experiment_id: str) -> None:
        backend = self.backend_of(experiment_id)
        if not (self._resolved / experiment_id).is_dir():
            return
        backend.delete_experiment(experiment_id)
        # The folder goes too once nothing else lives in it (files a user put there stay).
        folder = self._resolved / experiment_id
        for sub in ("code", "persist", "environment", ".blobs", ""):
            with contextlib.suppress(OSError):
                (folder / sub).rmdir()

    def configuration(self) -> Hashable:
        return self._resolved


def _is_name(text: str) -> bool:
    try:
        validate_name(text)
    except ValueError:
        return False
    return True
