"""The audit log's rows in an SQLite file: the embedded default, one file per user or per share.

Appends are serialized by SQLite's write lock (``BEGIN IMMEDIATE``, taken before the head is read).
A ``head`` row, updated in the same transaction as every entry, counts the entries, so entries cut
off the end are caught by the chain's verification; triggers refuse UPDATE and DELETE of entries,
so a slip in an SQL console fails loudly (whoever holds the file can drop them: planner.review.audit
says what the chain proves then).
"""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from pathlib import Path

from planner.review.audit import (
    COLUMNS, GENESIS_HASH, SCHEMA_VERSION, AuditEntry, AuditError, AuditHead, StoredChain, entries_query,
)

APPLICATION_ID = 0x504C4155      # PRAGMA application_id, "PLAU": tells our file from another SQLite file
BUSY_TIMEOUT_S = 30.0            # a second writer waits this long for the first one's transaction

_SCHEMA = (
    """CREATE TABLE entries (
        seq INTEGER PRIMARY KEY, at_utc TEXT NOT NULL, who TEXT NOT NULL, action TEXT NOT NULL,
        plan_uid TEXT NOT NULL, details TEXT NOT NULL, previous_hash TEXT NOT NULL, entry_hash TEXT NOT NULL,
        os_user TEXT NOT NULL DEFAULT '')""",
    "CREATE INDEX entries_by_plan ON entries (plan_uid, seq)",
    """CREATE TABLE head (
        id INTEGER PRIMARY KEY CHECK (id = 1), entry_count INTEGER NOT NULL,
        last_seq INTEGER NOT NULL, last_hash TEXT NOT NULL)""",
    f"INSERT INTO head VALUES (1, 0, 0, '{GENESIS_HASH}')",
    """CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries
        BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END""",
    """CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries
        BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END""",
    f"PRAGMA application_id = {APPLICATION_ID}",
    f"PRAGMA user_version = {SCHEMA_VERSION}",
)
_SELECT = ", ".join(COLUMNS)


class SQLiteStore:
    def __init__(self, path: Path, *, create: bool):
        self.path = path
        self.location = str(path)
        if not create and not path.is_file():
            raise AuditError(f"{path}: no audit log there")
        try:
            if create:
                path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:   # a folder that cannot be made: the user reads why, as for any AuditError
            raise AuditError(f"{path}: cannot create the audit log's folder ({err.strerror or err})") from None
        try:
            self._db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.Error as err:
            raise AuditError(f"{path}: cannot open the audit log ({err})") from None

    def close(self) -> None:
        self._db.close()

    def prepare(self) -> None:
        """Make the tables in a new file, upgrade schema 1, refuse a foreign or newer file."""
        with self.write():
            self._check_or_create()

    @contextmanager
    def write(self):
        """One BEGIN IMMEDIATE transaction: the write lock is taken before the head is read, so two
        writers never chain to the same previous entry; committed at the end, rolled back on any error."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as err:
            raise self._error(err) from None
        try:
            yield
            self._db.execute("COMMIT")
        except BaseException as err:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            if isinstance(err, sqlite3.Error):
                raise self._error(err) from None
            raise

    @contextmanager
    def read(self):
        """Reads in one transaction too, so a verification sees one consistent state."""
        try:
            self._db.execute("BEGIN")
            try:
                yield
            finally:
                self._db.execute("COMMIT")
        except sqlite3.Error as err:
            raise self._error(err) from None

    def head(self) -> AuditHead:
        row = self._db.execute("SELECT entry_count, last_seq, last_hash FROM head WHERE id = 1").fetchone()
        if row is None:
            raise AuditError(f"{self.path}: the audit log's head row is missing; run `planner audit verify`")
        return AuditHead(*row)

    def append(self, entries: tuple[AuditEntry, ...]) -> None:
        for e in entries:
            self._db.execute(f"INSERT INTO entries ({_SELECT}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                             (e.seq, e.at_utc, e.who, e.action, e.plan_uid, e.details_json, e.previous_hash,
                              e.entry_hash, e.os_user))
            self._db.execute("UPDATE head SET entry_count = entry_count + 1, last_seq = ?, last_hash = ? "
                             "WHERE id = 1", (e.seq, e.entry_hash))

    def rows(self, plan_uid: str | None) -> list[tuple]:
        return self._db.execute(*entries_query("entries", "?", plan_uid)).fetchall()

    def stored_chain(self) -> StoredChain:
        tables = {name for (name,) in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        missing = [name for name in ("entries", "head") if name not in tables]
        if missing:
            return StoredChain((), None, tuple(f"the {name} table is missing" for name in missing))
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(entries)")}
        select = _SELECT if "os_user" in columns else _SELECT.replace(", os_user", ", ''")
        rows = tuple(self._db.execute(f"SELECT {select} FROM entries ORDER BY seq").fetchall())
        head = self._db.execute("SELECT entry_count, last_seq, last_hash FROM head WHERE id = 1").fetchone()
        if head is None:
            return StoredChain(rows, None, ("the head row is missing",))
        return StoredChain(rows, AuditHead(*head))

    def _check_or_create(self) -> None:
        app_id = self._db.execute("PRAGMA application_id").fetchone()[0]
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        tables = self._db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if app_id == 0 and version == 0 and tables == 0:
            for statement in _SCHEMA:
                self._db.execute(statement)
            return
        if app_id != APPLICATION_ID:
            raise AuditError(f"{self.path}: not a Planner audit log (another application's SQLite database)")
        if version == 1:  # add the os_user column; the rows and their hashes stay as they are
            self._db.execute("ALTER TABLE entries ADD COLUMN os_user TEXT NOT NULL DEFAULT ''")
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            return
        if version != SCHEMA_VERSION:
            raise AuditError(f"{self.path}: audit log schema version {version}; this Planner reads "
                             f"version {SCHEMA_VERSION}")

    def _error(self, err: sqlite3.Error) -> AuditError:
        if isinstance(err, sqlite3.DatabaseError) and "not a database" in str(err):
            return AuditError(f"{self.path}: not an SQLite database (a damaged or foreign file)")
        return AuditError(f"{self.path}: {err}")
