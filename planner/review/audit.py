"""The audit log: who created, edited, signed, approved, rejected, exported or sent which plan, and
when, in an SQLite file where each entry is chained to the one before by a SHA-256 hash.

What the chain proves: an entry altered in place (its hash no longer matches its fields), an entry
deleted from the middle (a gap in ``seq``, and the next entry's previous hash points at nothing),
and entries deleted from the end (the ``head`` row, written in the same transaction as every entry,
still counts them). Triggers refuse UPDATE and DELETE, so a slip in an SQL console fails loudly;
someone who drops them is still caught by :meth:`AuditLog.verify`.

What it cannot prove: someone able to rewrite the whole file consistently (recompute every hash
after the change and the head with them) forges a log that verifies. Only an anchor kept outside
the file closes that: the last entry hash printed in a plan report, a PACS object or an email.
:meth:`AuditLog.verify` checks such anchors (``anchors=``): each must still be an entry's hash.
Planner puts one in every plan it exports or signs: :meth:`AuditLog.reserve` hands out the entry
(its hash known) before it is stored, the plan is signed with that hash inside
(planner.dicom.audit_anchor), and the entry is committed only when the plan was written; `planner
audit verify --against FOLDER` (planner.review.audit_anchors) checks those hashes are still there.

Who: ``who`` names the signer by certificate subject and SHA-256 fingerprint where a certificate
was used, else the OS user; ``os_user`` (schema 2) is the account logged in, kept beside it
(planner.review.actor). Entries of schema 1 have no ``os_user`` and hash without it.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from planner.paths import data_dir

ACTIONS = ("create", "edit", "sign", "approve", "reject", "export", "send", "open", "revision",
           "refused")  # refused: an approval or rejection the review refused, with its reasons
GENESIS_HASH = "0" * 64          # the previous hash of the first entry
SCHEMA_VERSION = 2               # PRAGMA user_version; 1: no os_user column (upgraded on opening)
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


class AuditError(ValueError):
    """The audit log cannot be opened or written (a foreign or damaged file, a refused entry)."""


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    at_utc: str                  # ISO 8601, UTC, ending in Z
    who: str
    action: str
    plan_uid: str
    details_json: str            # canonical JSON of a dict; see ``details``
    previous_hash: str
    entry_hash: str
    os_user: str = ""            # the OS account beside ``who``; "" in entries of schema 1

    @property
    def details(self) -> dict:
        """A fresh dict each time: the entry itself stays immutable."""
        return json.loads(self.details_json)

    def as_dict(self) -> dict:
        return {"seq": self.seq, "at_utc": self.at_utc, "who": self.who, "action": self.action,
                "plan_uid": self.plan_uid, "details": self.details, "os_user": self.os_user,
                "previous_hash": self.previous_hash, "entry_hash": self.entry_hash}


@dataclass(frozen=True)
class AuditHead:
    """The count and last hash kept beside the chain; ``last_hash`` is what to anchor outside."""
    entry_count: int
    last_seq: int
    last_hash: str


@dataclass(frozen=True)
class AuditVerification:
    ok: bool
    entries_checked: int
    problems: tuple[str, ...]


def default_audit_path() -> Path:
    """The user's audit log, in Planner's data folder (PLANNER_DATA_DIR overrides it)."""
    return data_dir() / "audit.sqlite"


def entry_hash(seq: int, at_utc: str, who: str, action: str, plan_uid: str, details: dict,
               previous_hash: str, os_user: str = "") -> str:
    """SHA-256 over a canonical JSON of every field but the hash itself (``os_user`` only when given,
    so entries written before it existed keep their hashes)."""
    fields = {"seq": seq, "at_utc": at_utc, "who": who, "action": action,
              "plan_uid": plan_uid, "details": details, "previous_hash": previous_hash}
    if os_user:
        fields["os_user"] = os_user
    return hashlib.sha256(_canonical_json(fields).encode("utf-8")).hexdigest()


_COLUMNS = "seq, at_utc, who, action, plan_uid, details, previous_hash, entry_hash, os_user"


class Reservation:
    """Entries handed out inside one write transaction of :meth:`AuditLog.reserve`: each one's hash is
    final, but it is stored only when the ``with`` block ends without an exception."""

    def __init__(self, log: AuditLog, head: AuditHead):
        self._seq, self._previous = head.last_seq, head.last_hash
        self.pending: list[AuditEntry] = []

    def entry(self, action: str, who: str, plan_uid: str, details: dict | None = None, *,
              os_user: str = "", at: datetime | None = None) -> AuditEntry:
        details_json = _checked(action, who, plan_uid, details, os_user, at)
        seq, previous = self._seq + 1, self._previous
        at_utc = _iso_utc(at or datetime.now(timezone.utc))
        digest = entry_hash(seq, at_utc, who, action, plan_uid, json.loads(details_json), previous, os_user)
        entry = AuditEntry(seq, at_utc, who, action, plan_uid, details_json, previous, digest, os_user)
        self.pending.append(entry)
        self._seq, self._previous = seq, digest
        return entry


class AuditLog:
    """One audit log file. Open one per thread or process; SQLite's lock makes their appends one chain."""

    def __init__(self, path: str | os.PathLike, *, create: bool = True):
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise AuditError(f"{self.path}: no audit log there")
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.Error as err:
            raise AuditError(f"{self.path}: cannot open the audit log ({err})") from None
        try:
            self._open_or_create()
        except BaseException:
            self._db.close()
            raise

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def record(self, action: str, who: str, plan_uid: str, details: dict | None = None,
               at: datetime | None = None, *, os_user: str = "") -> AuditEntry:
        """Append one entry, chained to the head, in one transaction; returns it as stored."""
        _checked(action, who, plan_uid, details, os_user, at)  # refused before the write lock is taken
        with self.reserve() as reservation:
            return reservation.entry(action, who, plan_uid, details, os_user=os_user, at=at)

    @contextmanager
    def reserve(self):
        """``with log.reserve() as r: entry = r.entry(...)``: the write lock is held from here, so the
        entries' hashes (what a plan is signed with) are the ones stored; they are stored together when
        the block ends, and none of them if it raises. Keep the block short: other writers wait."""
        with self._transaction():
            reservation = Reservation(self, self._head_row())
            yield reservation
            for e in reservation.pending:
                self._db.execute(f"INSERT INTO entries ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                 (e.seq, e.at_utc, e.who, e.action, e.plan_uid, e.details_json, e.previous_hash,
                                  e.entry_hash, e.os_user))
                self._db.execute("UPDATE head SET entry_count = entry_count + 1, last_seq = ?, last_hash = ? "
                                 "WHERE id = 1", (e.seq, e.entry_hash))

    def entries(self, plan_uid: str | None = None) -> tuple[AuditEntry, ...]:
        """Every entry in order, or one plan's: the per-plan view."""
        query = f"SELECT {_COLUMNS} FROM entries"
        params: tuple = ()
        if plan_uid is not None:
            query, params = query + " WHERE plan_uid = ?", (plan_uid,)
        rows = self._read(lambda: self._db.execute(query + " ORDER BY seq", params).fetchall())
        return tuple(AuditEntry(*row) for row in rows)

    def head(self) -> AuditHead:
        return self._read(self._head_row)

    def verify(self, anchors: tuple[str, ...] | list[str] = ()) -> AuditVerification:
        """Recompute every hash and link, and compare the end of the chain with the head.

        ``anchors``: entry hashes noted outside the file (e.g. printed in a report); each must still
        be in the chain, which catches a log rewritten consistently after the anchor was taken."""
        return self._read(lambda: _verify_rows(self._db, anchors))

    # -- internals --

    def _open_or_create(self) -> None:
        def check_or_create():
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

        self._write(check_or_create)

    def _head_row(self) -> AuditHead:
        row = self._db.execute("SELECT entry_count, last_seq, last_hash FROM head WHERE id = 1").fetchone()
        if row is None:
            raise AuditError(f"{self.path}: the audit log's head row is missing; run `planner audit verify`")
        return AuditHead(*row)

    def _write(self, work):
        """Run ``work`` in one write transaction (see _transaction)."""
        with self._transaction():
            return work()

    @contextmanager
    def _transaction(self):
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

    def _read(self, work):
        """Reads in one transaction too, so a verification sees one consistent state."""
        try:
            self._db.execute("BEGIN")
            try:
                return work()
            finally:
                self._db.execute("COMMIT")
        except sqlite3.Error as err:
            raise self._error(err) from None

    def _error(self, err: sqlite3.Error) -> AuditError:
        if isinstance(err, sqlite3.DatabaseError) and "not a database" in str(err):
            return AuditError(f"{self.path}: not an SQLite database (a damaged or foreign file)")
        return AuditError(f"{self.path}: {err}")


def _verify_rows(db: sqlite3.Connection, anchors) -> AuditVerification:
    tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    missing = [name for name in ("entries", "head") if name not in tables]
    if missing:
        return AuditVerification(False, 0, tuple(f"the {name} table is missing" for name in missing))
    columns = {row[1] for row in db.execute("PRAGMA table_info(entries)")}
    select = _COLUMNS if "os_user" in columns else _COLUMNS.replace(", os_user", ", ''")
    rows = db.execute(f"SELECT {select} FROM entries ORDER BY seq").fetchall()
    problems: list[str] = []
    expected_seq, previous = 1, GENESIS_HASH
    for seq, at_utc, who, action, plan_uid, details_json, previous_hash, stored_hash, os_user in rows:
        if seq != expected_seq:
            gap = f"seq {expected_seq}" if seq == expected_seq + 1 else f"seq {expected_seq}–{seq - 1}"
            problems.append(f"entry {gap} missing before seq {seq} (deleted)")
        elif previous_hash != previous:
            problems.append(f"entry seq {seq}: its previous hash does not match entry seq {seq - 1} "
                            f"(an entry was replaced or rewritten)")
        try:
            details = json.loads(details_json)
        except (TypeError, ValueError):
            problems.append(f"entry seq {seq}: details are not valid JSON (altered)")
        else:
            if entry_hash(seq, at_utc, who, action, plan_uid, details, previous_hash, os_user) != stored_hash:
                problems.append(f"entry seq {seq}: altered (its hash does not match its fields)")
        expected_seq, previous = seq + 1, stored_hash
    head = db.execute("SELECT entry_count, last_seq, last_hash FROM head WHERE id = 1").fetchone()
    if head is None:
        problems.append("the head row is missing")
    else:
        count, last_seq, last_hash = head
        end_seq = rows[-1][0] if rows else 0
        if last_seq > end_seq:
            problems.append(f"the log ends at seq {end_seq} but its head records entries up to seq {last_seq} "
                            f"(the last entries were deleted)")
        elif last_seq < end_seq:
            problems.append(f"the log runs to seq {end_seq} but its head stops at seq {last_seq} "
                            f"(entries added outside Planner)")
        elif last_hash != previous:
            problems.append(f"the head's last hash does not match entry seq {end_seq}")
        if count != len(rows):
            problems.append(f"the head counts {count} entries, the log holds {len(rows)}")
    known = {row[7] for row in rows}
    problems.extend(f"anchor {anchor} is no longer in the log (rewritten since it was noted)"
                    for anchor in anchors if anchor.strip().lower() not in known)
    return AuditVerification(not problems, len(rows), tuple(problems))


def _checked(action, who, plan_uid, details, os_user, at) -> str:
    """The canonical JSON of ``details`` once every field is one an entry may hold; AuditError if not."""
    if action not in ACTIONS:
        raise AuditError(f"unknown audit action {action!r}; one of {', '.join(ACTIONS)}")
    if not isinstance(who, str) or not who.strip():
        raise AuditError("an audit entry needs who did it")
    if not isinstance(plan_uid, str) or not plan_uid.strip():
        raise AuditError("an audit entry needs the plan's UID")
    if not isinstance(os_user, str):
        raise AuditError("the OS user of an audit entry must be text")
    details = {} if details is None else details
    if not isinstance(details, dict):
        raise AuditError("audit details must be a dict")
    if at is not None and (not isinstance(at, datetime) or at.tzinfo is None):
        raise AuditError("an audit time needs its time zone (a naive datetime is ambiguous)")
    try:
        return _canonical_json(details)
    except (TypeError, ValueError) as err:
        raise AuditError(f"audit details must be plain JSON values ({err})") from None


def _canonical_json(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _iso_utc(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
