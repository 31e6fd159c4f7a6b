"""The results store: one SQLite file holding every study, its runs and its analysis.

This is the one module that touches the database. The unit of storage is an activation
*group* (all seeds of one activation): :meth:`Store.save_group` writes a group in one
transaction, so after any interruption (Ctrl-C, SIGKILL, power loss) a group is either
wholly present or absent, and a rerun of the same study recomputes only the groups
:meth:`Store.completed_activations` does not list.

Durability settings, and why:

* ``journal_mode=WAL``: readers never block the writer nor see its uncommitted rows, so
  ``relulab runs list`` works while a study is running.
* ``synchronous=FULL``: the WAL is fsynced at every commit, so a committed group survives
  power loss as well as a killed process. (``NORMAL`` is safe against a killed process and
  keeps the file consistent on power loss, but may lose the last commits.) A commit here
  follows seconds to minutes of training, so the fsync costs nothing that matters.
* ``BEGIN IMMEDIATE`` for every write: the write lock is taken up front, so two writers
  queue (``busy_timeout``) instead of failing half-way through a transaction.

Schema (``PRAGMA user_version`` is the schema version; ``PRAGMA application_id`` marks the
file as relulab's):

* ``meta(key, value)``: ``created_by`` / ``migrated_by`` relulab versions.
* ``studies``: one row per (config, data, series name). ``key`` is the public study id, a
  hash of ``config.key()``, the data hash and the series' name (:func:`study_key`), so
  rerunning the same command finds the same row, and two series with the same values
  (two identical columns of a panel) are two studies. Rows stored before the name was
  part of the key keep theirs: :meth:`Store.open_study` finds such a row by its old key
  (:func:`legacy_study_key`) and its stored ``series_name``, so old ids still resolve and
  old studies still resume.
* ``runs``: one row per (study, activation, seed), ``UNIQUE`` on those three; since
  version 3 with ``unit_stats`` (per-unit diagnostics, an .npz like ``epoch_stats``).
* ``analysis``: one row per finished study (summary, comparisons, baselines, timing,
  warnings and, from schema version 2, ``diagnostics``: dead units and flat forecasts).

Version 1 -> 2 adds ``analysis.diagnostics`` and the verdict's parts in each stored
comparison (``accuracy``, ``volatility``, ...). A study analysed under version 1 has
neither; :meth:`Store.load` computes them from its stored runs with the same pure
functions the study uses (``relulab.analysis``), so old and new studies load alike.
The multiplicity, equivalence, probability-of-improvement and seeds-needed fields of a
comparison came later within the same JSON (no schema change): a comparison stored without
them loads with their "not recorded" defaults (NaN, "", {}) and keeps its stored sentence.

Files that cannot be written (read-only, in a read-only folder, a folder where the file
should be) are refused when the store is opened for writing, before a study trains
anything; a database in a folder this process may not write is still read (``create=False``:
opened immutable, which SQLite allows only when no WAL is left beside it). Every write
error SQLite reports later (locked, read-only, disk full) is one :class:`RelulabError`.

Arrays of floats are stored as little-endian float64 bytes (exact, NaN included); other
structures as strict JSON in which non-finite floats are written ``{"$f": "nan"}`` (plain
JSON has no NaN) and arrays ``{"$a": [...], "dtype": ..., "shape": [...]}``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from relulab import __version__
from relulab.config import StudyConfig
from relulab.errors import RelulabError
from relulab.files import destination_problem, missing_folders
from relulab.files import exists as _exists
from relulab.paths import DEFAULT_DB
from relulab.result import Comparison, Diagnostics, RunRecord, StudyResult, study_activations

DEFAULT_PATH = DEFAULT_DB  # defined in relulab.paths, which the CLI reads without this module

# "rlab" in ASCII: marks a SQLite file as a relulab results store.
APPLICATION_ID = 0x726C6162

SCHEMA_VERSION = 3

_SCHEMA_V1 = """
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE studies (
    id              INTEGER PRIMARY KEY,
    key             TEXT NOT NULL UNIQUE,   -- public id: see study_key
    name            TEXT NOT NULL,
    config          TEXT NOT NULL,          -- JSON, StudyConfig.to_dict()
    relulab_version TEXT NOT NULL,          -- the version that created the study
    data_hash       TEXT NOT NULL,
    series_name     TEXT NOT NULL,
    series_values   BLOB NOT NULL,          -- float64 little-endian
    dates           TEXT,                   -- JSON list of ISO dates, or NULL
    train_end       INTEGER NOT NULL,
    test_start      INTEGER NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('running', 'complete')),
    created         TEXT NOT NULL,          -- ISO 8601, UTC
    updated         TEXT NOT NULL
);
CREATE TABLE runs (
    study_id     INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
    activation   TEXT NOT NULL,
    seed         INTEGER NOT NULL,
    diverged     INTEGER NOT NULL CHECK (diverged IN (0, 1)),
    best_epoch   INTEGER NOT NULL,
    metrics      TEXT NOT NULL,             -- JSON {metric: value}
    val_metrics  TEXT NOT NULL,
    forecast     BLOB NOT NULL,             -- float64 little-endian
    val_forecast BLOB NOT NULL,
    loss         BLOB NOT NULL,
    val_loss     BLOB NOT NULL,
    epoch_stats  BLOB,                      -- .npz of {name: array}, NULL when empty
    created      TEXT NOT NULL,
    UNIQUE (study_id, activation, seed)
);
CREATE TABLE analysis (
    study_id    INTEGER PRIMARY KEY REFERENCES studies(id) ON DELETE CASCADE,
    summary     TEXT NOT NULL,              -- JSON, the summary DataFrame
    comparisons TEXT NOT NULL,
    baselines   TEXT NOT NULL,
    timing      TEXT NOT NULL,
    warnings    TEXT NOT NULL,
    created     TEXT NOT NULL
);
"""

# MIGRATIONS[v] takes a database at schema version v to v + 1 inside the caller's
# transaction. Version 0 is an empty file: its "migration" creates the schema.
Migration = Callable[[sqlite3.Connection], None]


def _create_v1(conn: sqlite3.Connection) -> None:
    for statement in _SCHEMA_V1.split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute("INSERT INTO meta VALUES ('created_by', ?)", (__version__,))


def _diagnostics_v2(conn: sqlite3.Connection) -> None:
    # Version 2 stores the run diagnostics (dead units, flat forecasts) with the analysis.
    # Rows analysed before have NULL there; load() computes them from the stored runs.
    conn.execute("ALTER TABLE analysis ADD COLUMN diagnostics TEXT")


def _unit_stats_v3(conn: sqlite3.Connection) -> None:
    # Version 3 stores each run's per-unit diagnostics (death epoch, revival, final dead
    # and dormant state per activation site). Runs stored before have NULL there.
    conn.execute("ALTER TABLE runs ADD COLUMN unit_stats BLOB")


MIGRATIONS: dict[int, Migration] = {0: _create_v1, 1: _diagnostics_v2, 2: _unit_stats_v3}


def study_key(config: StudyConfig, data_hash: str, series_name: str) -> str:
    """The public id of a study: it names the config (less its label), the data and the
    series' name, so that series with the same values under different names (two identical
    columns of a panel, copies of a file) are different studies."""
    return _digest(f"{config.key()}:{data_hash}:{series_name}")


def legacy_study_key(config: StudyConfig, data_hash: str) -> str:
    """The id a study got before the series' name was part of it (relulab 0.1.0): stored
    studies keep it, and :meth:`Store.open_study` finds them by it and their series' name."""
    return _digest(f"{config.key()}:{data_hash}")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


_WAL_FILES = ("-wal", "-shm")  # what SQLite keeps beside a WAL database


def _writable_folder(folder: Path) -> bool:
    return os.access(folder, os.W_OK | os.X_OK)


def check_writable(path: str | Path, *, folders_made: bool = False) -> None:
    """Raise the one line that says why this process could not store results in ``path``
    (read-only, in a folder it may not write, a folder where the file should be, a file
    where a folder should be), else nothing; only looks. A missing folder is refused too,
    unless the caller makes it (``folders_made``)."""
    path = Path(path)
    fix = "pass another --db PATH, or --no-db to keep nothing on disk"
    problem = destination_problem(path)
    if problem is None and _exists(path) and not os.access(path, os.R_OK):
        problem = f"{path} may not be read"
        fix = f"make it readable, {fix}"
    elif problem is None and not _exists(path) and missing_folders(path) and not folders_made:
        problem = f"the folder {missing_folders(path)[0]} does not exist"
        fix = f"create it, {fix}"
    elif problem is None and _exists(path) and not _writable_folder(path.parent):
        problem = (f"its folder {path.parent} is not writable (SQLite writes "
                   f"{path.name}-wal and {path.name}-shm beside the database)")
        fix = f"make the folder writable, {fix}"
    elif problem is not None and problem.endswith(("read-only", "not writable")):
        fix = f"make it writable, {fix}"
    if problem is not None:
        raise RelulabError(f"cannot store results in {path}: {problem}; {fix}")


class Store:
    """A relulab results database, opened (and created or migrated) on construction.

    ``Store(path)`` creates the file when it does not exist, in a folder that exists, and
    refuses at once a file it could not write (read-only, in a read-only folder, a folder
    where the file should be), so that a study fails before it trains, not after;
    ``Store(path, create=False)`` refuses a missing file instead and only needs to read
    (the read-only commands). Use as a context manager, or call :meth:`close`. Study ids
    given to the methods may be a key, a unique key prefix or the row number shown by
    ``relulab runs list`` (see :meth:`resolve`).
    """

    def __init__(self, path: str | Path = DEFAULT_PATH, *, create: bool = True,
                 timeout: float = 60.0) -> None:
        self.path = Path(path)
        exists = _exists(self.path)
        if not create and not exists:
            raise RelulabError(
                f"no results database at {self.path}; run a study first "
                f"(relulab study ...) or pass --db PATH"
            )
        if create:
            check_writable(self.path)
        # SQLite keeps a WAL database's -wal and -shm files beside it, also to read it; in a
        # folder this process may not write, only an immutable open can read the file, and
        # that is safe when no WAL is left there (nothing committed is outside the file).
        self.read_only = (not create and not _writable_folder(self.path.parent)
                          and not any(_exists(Path(f"{self.path}{s}")) for s in _WAL_FILES))
        try:
            # Autocommit mode: every transaction here is an explicit BEGIN ... COMMIT.
            if self.read_only:
                self._conn = sqlite3.connect(
                    self.path.resolve().as_uri() + "?mode=ro&immutable=1", uri=True,
                    timeout=timeout, isolation_level=None)
            else:
                self._conn = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
        except sqlite3.OperationalError as exc:
            raise RelulabError(
                f"cannot open results database {self.path}: {exc}; check that its folder "
                f"exists and that the file and the folder may be read"
            ) from None
        try:
            self._open(timeout)
            if create:
                self._check_writes(timeout)
        except BaseException:
            self._conn.close()
            raise

    def _open(self, timeout: float) -> None:
        conn = self._conn
        try:
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            if getattr(exc, "sqlite_errorname", "") == "SQLITE_NOTADB":
                raise RelulabError(
                    f"{self.path} is not a relulab results database (not an SQLite file); "
                    f"pass another --db PATH or move the file away"
                ) from None
            if getattr(exc, "sqlite_errorname", "").startswith(("SQLITE_READONLY",
                                                                  "SQLITE_CANTOPEN")):
                raise RelulabError(
                    f"cannot read results database {self.path} ({exc}): SQLite must create "
                    f"{self.path.name}-wal and {self.path.name}-shm beside it, in "
                    f"{self.path.parent}; make that folder writable, or copy the database "
                    f"to a writable folder and pass --db there"
                ) from None
            raise RelulabError(f"cannot read results database {self.path} ({exc}); pass "
                               f"another --db PATH") from None
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if app_id != APPLICATION_ID and (app_id != 0 or tables or version):
            raise RelulabError(
                f"{self.path} is an SQLite database but not a relulab results database; "
                f"pass another --db PATH"
            )
        if version > SCHEMA_VERSION:
            raise RelulabError(
                f"{self.path} was written by a newer relulab ({self._meta('migrated_by')}, "
                f"schema version {version}; this relulab {__version__} reads up to "
                f"{SCHEMA_VERSION}); upgrade relulab or pass another --db PATH"
            )
        conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        conn.execute("PRAGMA foreign_keys = ON")
        if not self.read_only:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
        if version < SCHEMA_VERSION:
            if self.read_only:
                raise RelulabError(
                    f"{self.path} was written by an older relulab (schema version {version}) "
                    f"and is upgraded to version {SCHEMA_VERSION} when opened, which writes "
                    f"to it, but its folder {self.path.parent} is not writable; make the "
                    f"folder writable, or copy the database to a writable folder"
                )
            self._migrate()

    def _check_writes(self, timeout: float) -> None:
        # SQLite opens a file it may not write read-only without a word and says so at the
        # first write: try one that changes nothing. SQLite refuses it as read-only before
        # it waits for the write lock, so with no wait another writer's lock means only
        # that this connection could write too.
        self._conn.execute("PRAGMA busy_timeout = 0")
        try:
            self._conn.execute("UPDATE meta SET value = value WHERE 0")
        except sqlite3.OperationalError as exc:
            if not getattr(exc, "sqlite_errorname", "").startswith(("SQLITE_BUSY",
                                                                      "SQLITE_LOCKED")):
                raise self._write_error(exc) or exc from None
        finally:
            self._conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")

    def _migrate(self) -> None:
        # One transaction for all steps: a crash leaves the old version, never a mix. The
        # version is re-read under the write lock, as another process may have migrated.
        with self._transaction() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version == 0:
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            while version < SCHEMA_VERSION:
                MIGRATIONS[version](conn)
                version += 1
            conn.execute(f"PRAGMA user_version = {version}")
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('migrated_by', ?)",
                         (__version__,))

    def _meta(self, key: str) -> str:
        try:
            row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        except sqlite3.DatabaseError:
            row = None
        return f"relulab {row[0]}" if row else "an unknown version"

    # -- plumbing -----------------------------------------------------------------------

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: all of it commits, or (on any exception) none of it. What
        SQLite refuses (a read-only file, a lock held too long, a full disk) is one
        :class:`RelulabError`."""
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                if self._conn.in_transaction:  # SQLite rolls back by itself on some errors
                    self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            error = self._write_error(exc)
            if error is None:
                raise
            raise error from None

    def _write_error(self, exc: sqlite3.OperationalError) -> RelulabError | None:
        """What a failed write means, for the user, or ``None`` for a bug of relulab's."""
        code = getattr(exc, "sqlite_errorname", "")
        if code.startswith("SQLITE_READONLY"):
            return RelulabError(
                f"cannot write to results database {self.path} ({exc}): SQLite opened it "
                f"read-only; make the file and its folder writable, pass another --db PATH, "
                f"or --no-db to keep nothing on disk")
        if code.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
            return RelulabError(
                f"results database {self.path} stayed locked by another process ({exc}); "
                f"wait for it to finish, or pass another --db PATH")
        if code.startswith("SQLITE_FULL"):
            return RelulabError(
                f"cannot write to results database {self.path} ({exc}); free some disk "
                f"space, or pass another --db PATH")
        if code.startswith(("SQLITE_IOERR", "SQLITE_CANTOPEN")):
            return RelulabError(
                f"cannot write to results database {self.path} ({exc}); check the disk and "
                f"that {self.path.parent} is still a writable folder, or pass another --db "
                f"PATH")
        return None

    @contextmanager
    def _snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: several SELECTs see one consistent state of the file."""
        self._conn.execute("BEGIN")
        try:
            yield self._conn
        finally:
            self._conn.execute("COMMIT")

    # -- studies ------------------------------------------------------------------------

    def open_study(self, config: StudyConfig, *, series_name: str, values: np.ndarray,
                   dates: Sequence[str] | None, data_hash: str, train_end: int,
                   test_start: int) -> str:
        """The id of the study of ``config`` on this data and series, created if new.

        An existing study with the same key is returned unchanged: that is how a rerun
        resumes (ask :meth:`completed_activations` what is left to do). So is a study
        stored before the series' name was part of the key, found by its old key and its
        stored series name (one stored for another series with the same values is not it).
        """
        key = study_key(config, data_hash, series_name)
        with self._transaction() as conn:
            row = conn.execute("SELECT key FROM studies WHERE key = ?", (key,)).fetchone()
            if row is None:
                row = conn.execute(
                    "SELECT key FROM studies WHERE key = ? AND series_name = ?",
                    (legacy_study_key(config, data_hash), series_name)).fetchone()
            if row is not None:
                key = row[0]
            else:
                now = _now()
                conn.execute(
                    "INSERT INTO studies (key, name, config, relulab_version, data_hash,"
                    " series_name, series_values, dates, train_end, test_start, status,"
                    " created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'running', ?, ?)",
                    (key, config.name, _dumps(config.to_dict()), __version__, data_hash,
                     series_name, _pack(values), None if dates is None else _dumps(list(dates)),
                     int(train_end), int(test_start), now, now),
                )
        return key

    def resolve(self, ref: str | int) -> str:
        """The key of the study ``ref`` names.

        ``ref`` is a key or a unique prefix of one, or a row number (the ``#`` column of
        ``relulab runs list``): an int, ``"#12"``, or up to three digits (``"12"``), which
        is too short to be worth reading as a key prefix. Raises :class:`RelulabError`
        when nothing or more than one study matches.
        """
        text = str(ref).strip().lower()
        row_number = text.removeprefix("#")
        if isinstance(ref, int) or text.startswith("#") or (text.isdigit() and len(text) < 4):
            row = None
            if row_number.isdigit():
                row = self._conn.execute("SELECT key FROM studies WHERE id = ?",
                                         (int(row_number),)).fetchone()
            if row is None:
                raise RelulabError(
                    f"no study #{row_number} in {self.path}; "
                    f"see `relulab runs list --db {self.path}`"
                )
            return row[0]
        keys = []
        if text and all(c in "0123456789abcdef" for c in text):
            keys = [k for (k,) in self._conn.execute(
                "SELECT key FROM studies WHERE substr(key, 1, ?) = ?", (len(text), text))]
        if not keys:
            raise RelulabError(
                f"no study {ref!r} in {self.path}; see `relulab runs list --db {self.path}`"
            )
        if len(keys) > 1:
            raise RelulabError(
                f"study id {ref!r} is ambiguous in {self.path} (matches {', '.join(keys[:5])}"
                f"{', ...' if len(keys) > 5 else ''}); give more characters of the id"
            )
        return keys[0]

    def _study(self, ref: str | int) -> sqlite3.Row:
        key = self.resolve(ref)
        cursor = self._conn.cursor()
        cursor.row_factory = sqlite3.Row
        return cursor.execute("SELECT * FROM studies WHERE key = ?", (key,)).fetchone()

    def config(self, study_id: str | int) -> StudyConfig:
        return self._config(self._study(study_id))

    def _config(self, row: sqlite3.Row) -> StudyConfig:
        try:
            return StudyConfig.from_dict(_loads(row["config"]))
        except (RelulabError, TypeError) as exc:
            raise RelulabError(
                f"study {row['key']} in {self.path} has a config this relulab cannot read "
                f"(written by relulab {row['relulab_version']}): {exc}"
            ) from None

    def status(self, study_id: str | int) -> str:
        """``"running"`` until :meth:`save_analysis`, then ``"complete"``."""
        return self._study(study_id)["status"]

    def list_studies(self) -> pd.DataFrame:
        """One row per study, oldest first.

        Columns: ``n`` (row number), ``id`` (key), ``created``, ``name``, ``series``,
        ``activations`` (list), ``seeds``, ``status``, ``runs`` (stored), ``runs_total``.
        """
        with self._snapshot() as conn:
            rows = conn.execute(
                "SELECT s.id, s.key, s.created, s.name, s.series_name, s.config, s.status,"
                " (SELECT count(*) FROM runs r WHERE r.study_id = s.id)"
                " FROM studies s ORDER BY s.id"
            ).fetchall()
        out = []
        for n, key, created, name, series, config, status, n_runs in rows:
            cfg = _loads(config)
            acts = list(cfg.get("activations", []))
            seeds = int(cfg.get("seeds", 0))
            out.append({"n": n, "id": key, "created": created, "name": name, "series": series,
                        "activations": acts, "seeds": seeds, "status": status,
                        "runs": n_runs, "runs_total": len(acts) * seeds})
        return pd.DataFrame(out, columns=["n", "id", "created", "name", "series",
                                          "activations", "seeds", "status", "runs",
                                          "runs_total"])

    # -- runs ---------------------------------------------------------------------------

    def completed_activations(self, study_id: str | int) -> set[str]:
        """The activations whose whole group (every seed of the config) is stored."""
        row = self._study(study_id)
        seeds = self._config(row).seed_list
        done = self._conn.execute(
            "SELECT activation, count(*), min(seed), max(seed) FROM runs WHERE study_id = ?"
            " GROUP BY activation", (row["id"],)
        ).fetchall()
        return {a for a, n, lo, hi in done
                if n == len(seeds) and lo == seeds[0] and hi == seeds[-1]}

    def save_group(self, study_id: str | int, activation: str, runs: Sequence[RunRecord]) -> bool:
        """Store every seed of one activation in one transaction.

        ``runs`` must hold exactly the config's seeds for ``activation``. Returns ``False``
        (writing nothing) when the group is already stored: the first write wins, so an
        analysis saved from it stays consistent with it.
        """
        row = self._study(study_id)
        config = self._config(row)
        if activation not in config.activations:
            raise ValueError(f"activation {activation!r} is not in study {row['key']}'s "
                             f"config ({', '.join(config.activations)})")
        if any(r.activation != activation for r in runs):
            raise ValueError(f"save_group({activation!r}) got runs of another activation")
        seeds = sorted(int(r.seed) for r in runs)
        if seeds != config.seed_list:
            raise ValueError(f"save_group({activation!r}) got seeds {seeds}; a group holds "
                             f"exactly the config's seeds {config.seed_list}")
        with self._transaction() as conn:
            stored = conn.execute(
                "SELECT count(*) FROM runs WHERE study_id = ? AND activation = ?",
                (row["id"], activation),
            ).fetchone()[0]
            if stored:
                return False
            now = _now()
            for run in runs:
                conn.execute(
                    "INSERT INTO runs (study_id, activation, seed, diverged, best_epoch,"
                    " metrics, val_metrics, forecast, val_forecast, loss, val_loss,"
                    " epoch_stats, unit_stats, created)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (row["id"], *_run_row(run), now),
                )
            conn.execute("UPDATE studies SET updated = ? WHERE id = ?", (now, row["id"]))
        return True

    def load_runs(self, study_id: str | int) -> list[RunRecord]:
        """The stored runs, in the config's activation order, then by seed."""
        row = self._study(study_id)
        order = {a: i for i, a in enumerate(self._config(row).activations)}
        rows = self._conn.execute(
            "SELECT activation, seed, diverged, best_epoch, metrics, val_metrics, forecast,"
            " val_forecast, loss, val_loss, epoch_stats, unit_stats FROM runs"
            " WHERE study_id = ?",
            (row["id"],),
        ).fetchall()
        runs = [_run_from_row(r) for r in rows]
        return sorted(runs, key=lambda r: (order.get(r.activation, len(order)), r.seed))

    # -- analysis -----------------------------------------------------------------------

    def save_analysis(self, study_id: str | int, result: StudyResult) -> None:
        """Store the study's summary, comparisons, baselines, timing and warnings, and mark
        it complete. Saving again replaces the previous analysis."""
        row = self._study(study_id)
        now = _now()
        with self._transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO analysis (study_id, summary, comparisons, baselines,"
                " timing, warnings, diagnostics, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (row["id"], _dumps(result.summary),
                 _dumps([dataclasses.asdict(c) for c in result.comparisons]),
                 _dumps(result.baselines), _dumps(result.timing),
                 _dumps(list(result.warnings)),
                 None if result.diagnostics is None
                 else _dumps(result.diagnostics.to_json()), now),
            )
            conn.execute("UPDATE studies SET status = 'complete', updated = ? WHERE id = ?",
                         (now, row["id"]))

    def load(self, study_id: str | int) -> StudyResult:
        """Rebuild the whole :class:`StudyResult` of a complete study."""
        with self._snapshot():
            row = self._study(study_id)
            analysis = self._conn.execute(
                "SELECT summary, comparisons, baselines, timing, warnings, diagnostics"
                " FROM analysis"
                " WHERE study_id = ?", (row["id"],)
            ).fetchone()
            runs = self.load_runs(row["key"])
        config = self._config(row)
        if analysis is None:
            done = len({r.activation for r in runs})
            raise RelulabError(
                f"study {row['key']} in {self.path} is not complete ({done} of "
                f"{len(config.activations)} activations stored); rerun the same study "
                f"command to finish it"
            )
        summary, comparisons, baselines, timing, warnings, diagnostics = analysis
        values = _unpack(row["series_values"])
        compared = [Comparison(**c) for c in _loads(comparisons)]
        if not all(c.accuracy for c in compared):  # analysed before schema version 2
            from relulab.analysis import complete_comparisons

            compared = complete_comparisons(config, runs, values, row["test_start"], compared)
        if diagnostics is None:  # analysed before schema version 2
            from relulab.diagnostics import diagnose

            found = diagnose(runs, study_activations(config.activations, runs))
        else:
            found = Diagnostics.from_json(_loads(diagnostics))
        from relulab.analysis import step_errors

        stored_baselines = _loads(baselines)
        return StudyResult(
            config=config,
            series_name=row["series_name"],
            values=values,
            dates=None if row["dates"] is None else _loads(row["dates"]),
            data_hash=row["data_hash"],
            train_end=row["train_end"],
            test_start=row["test_start"],
            runs=runs,
            summary=_loads(summary),
            comparisons=compared,
            baselines=stored_baselines,
            timing=_loads(timing),
            study_id=row["key"],
            warnings=_loads(warnings),
            relulab_version=row["relulab_version"],
            diagnostics=found,
            by_step=step_errors(config, runs, stored_baselines, values, row["train_end"],
                                row["test_start"]),
        )


# -- encoding -----------------------------------------------------------------------------


class StudyStore(Protocol):
    """What a study needs of a results store: the contract :class:`Store` keeps in a
    SQLite file and :class:`NullStore` keeps nowhere. One writer uses it,
    :class:`relulab.study.recorder.Recorder`; nothing above it asks whether a store
    exists."""

    def open_study(self, config: StudyConfig, *, series_name: str, values: np.ndarray,
                   dates: Sequence[str] | None, data_hash: str, train_end: int,
                   test_start: int) -> str: ...

    def completed_activations(self, study_id: str | int) -> set[str]: ...

    def save_group(self, study_id: str | int, activation: str,
                   runs: Sequence[RunRecord]) -> bool: ...

    def load_runs(self, study_id: str | int) -> list[RunRecord]: ...

    def save_analysis(self, study_id: str | int, result: StudyResult) -> None: ...

    def close(self) -> None: ...


class NullStore:
    """The store of a study that keeps nothing (``--no-db``, or ``Study(...).run()``
    without a store): :class:`StudyStore`'s contract with every write going nowhere.
    A study opened here has no id (``""``: stored nowhere, so no ``relulab report ID``
    finds it); no group is ever stored, so nothing resumes, and a panel's memory stays
    that of the series in flight."""

    def open_study(self, config: StudyConfig, *, series_name: str, values: np.ndarray,
                   dates: Sequence[str] | None, data_hash: str, train_end: int,
                   test_start: int) -> str:
        return ""

    def completed_activations(self, study_id: str | int) -> set[str]:
        return set()

    def save_group(self, study_id: str | int, activation: str,
                   runs: Sequence[RunRecord]) -> bool:
        return True

    def load_runs(self, study_id: str | int) -> list[RunRecord]:
        return []

    def save_analysis(self, study_id: str | int, result: StudyResult) -> None:
        return None

    def close(self) -> None:
        return None

    def __enter__(self) -> NullStore:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def get_store(store: StudyStore | str | os.PathLike[str] | None) -> StudyStore:
    """What a study records into, decided once, at the boundary: a store as given, a
    database path opened as a :class:`Store`, or None as a :class:`NullStore` (keep
    nothing)."""
    if store is None:
        return NullStore()
    if isinstance(store, (str, os.PathLike)):
        return Store(store)
    return store


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _pack(a: Any) -> bytes:
    """A 1-D float array as little-endian float64 bytes: exact, NaN and inf included."""
    return np.ascontiguousarray(a, dtype="<f8").ravel().tobytes()


def _unpack(b: bytes) -> np.ndarray:
    return np.frombuffer(b, dtype="<f8").astype(np.float64)  # a writable native copy


def _pack_stats(stats: dict[str, np.ndarray]) -> bytes | None:
    if not stats:
        return None
    buf = io.BytesIO()
    np.savez(buf, **{k: np.asarray(v) for k, v in stats.items()})
    return buf.getvalue()


def _unpack_stats(b: bytes | None) -> dict[str, np.ndarray]:
    if b is None:
        return {}
    with np.load(io.BytesIO(b), allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def _run_row(run: RunRecord) -> tuple[Any, ...]:
    return (run.activation, int(run.seed), int(bool(run.diverged)), int(run.best_epoch),
            _dumps(run.metrics), _dumps(run.val_metrics), _pack(run.forecast),
            _pack(run.val_forecast), _pack(run.loss), _pack(run.val_loss),
            _pack_stats(run.epoch_stats), _pack_stats(run.unit_stats))


def _run_from_row(row: tuple[Any, ...]) -> RunRecord:
    (activation, seed, diverged, best_epoch, metrics, val_metrics, forecast, val_forecast,
     loss, val_loss, epoch_stats, unit_stats) = row
    return RunRecord(
        activation=activation, seed=seed, diverged=bool(diverged),
        metrics=_loads(metrics), val_metrics=_loads(val_metrics),
        forecast=_unpack(forecast), val_forecast=_unpack(val_forecast),
        loss=_unpack(loss), val_loss=_unpack(val_loss), best_epoch=best_epoch,
        epoch_stats=_unpack_stats(epoch_stats), unit_stats=_unpack_stats(unit_stats),
    )


def _dumps(obj: Any) -> str:
    return json.dumps(_encode(obj), allow_nan=False, separators=(",", ":"))


def _loads(text: str) -> Any:
    return json.loads(text, object_hook=_decode)


def _encode(obj: Any) -> Any:
    # Strict JSON: tag what it cannot hold (non-finite floats, arrays, DataFrames).
    if isinstance(obj, bool | np.bool_):
        return bool(obj)
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        v = float(obj)
        return v if math.isfinite(v) else {"$f": repr(v)}
    if obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, dict):
        return {str(k): _encode(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_encode(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return {"$a": [_encode(v) for v in obj.ravel().tolist()], "dtype": obj.dtype.str,
                "shape": list(obj.shape)}
    if isinstance(obj, pd.DataFrame):
        return {"$df": {str(c): _encode(obj[c].tolist()) for c in obj.columns},
                "dtypes": {str(c): str(t) for c, t in obj.dtypes.items()}}
    raise TypeError(f"cannot store a {type(obj).__name__} in the results database")


def _decode(d: dict[str, Any]) -> Any:
    if d.keys() == {"$f"}:
        return float(d["$f"])
    if d.keys() == {"$a", "dtype", "shape"}:
        return np.array(d["$a"], dtype=d["dtype"]).reshape(d["shape"])
    if d.keys() == {"$df", "dtypes"}:
        return pd.DataFrame(d["$df"], columns=list(d["$df"])).astype(d["dtypes"])
    return d
