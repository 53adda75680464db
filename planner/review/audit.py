"""The audit log: who created, edited, signed, approved, rejected, exported or sent which plan, and
when, each entry chained to the one before by a SHA-256 hash. The chain lives here; where the rows
are kept is a small store behind :class:`AuditStore`: an SQLite file (planner.review.audit_sqlite,
the embedded default) or the department's PostgreSQL database shared by the workstations
(planner.review.audit_postgres). :func:`open_audit_log` picks one from a path or a URL.

What the chain proves: an entry altered in place (its hash no longer matches its fields), an entry
deleted from the middle (a gap in ``seq``, and the next entry's previous hash points at nothing),
and entries deleted from the end where the store keeps a head beside the chain (SQLite's ``head``
row, written in the same transaction as every entry, still counts them). Each store refuses UPDATE
and DELETE of entries itself (its docstring says how), so a slip fails loudly; someone who gets
round that is still caught by :meth:`AuditLog.verify`.

What it cannot prove: someone able to rewrite the whole store consistently (recompute every hash
after the change, and the head with them) forges a log that verifies. Only an anchor kept outside
the store closes that: the last entry hash printed in a plan report, a PACS object or an email.
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
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol

from planner.core.errors import PlannerError
from planner.paths import data_dir

ACTIONS = ("create", "edit", "sign", "approve", "reject", "export", "send", "open", "revision",
           "refused")  # refused: an approval or rejection the review refused, with its reasons
GENESIS_HASH = "0" * 64          # the previous hash of the first entry
SCHEMA_VERSION = 2               # 1: no os_user column (SQLite logs are upgraded on opening)
POSTGRES_SCHEMES = ("postgresql://", "postgres://")
COLUMNS = ("seq", "at_utc", "who", "action", "plan_uid", "details", "previous_hash", "entry_hash", "os_user")


class AuditError(PlannerError, ValueError):
    """The audit log cannot be opened or written (a foreign or damaged file, an unreachable server, a refused entry)."""


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
    """The count and last hash of the chain; ``last_hash`` is what to anchor outside."""
    entry_count: int
    last_seq: int
    last_hash: str


@dataclass(frozen=True)
class AuditVerification:
    ok: bool
    entries_checked: int
    problems: tuple[str, ...]


@dataclass(frozen=True)
class StoredChain:
    """What a store holds, read in one snapshot, for :func:`verify_chain`."""
    rows: tuple[tuple, ...]                  # every entry in seq order, fields in COLUMNS order
    kept_head: AuditHead | None = None       # a head stored beside the chain (SQLite); None: none kept
    problems: tuple[str, ...] = ()           # what the store itself found missing (a table, the head row)


class AuditStore(Protocol):
    """Where the rows live. ``write()`` is one transaction holding the store's append lock from before
    ``head()`` is read until the entries are committed, so two writers never chain to the same entry."""
    location: str                            # for messages: a file path or HOST:PORT/DB

    def prepare(self) -> None: ...           # check (or make) the schema; AuditError if it is not ours
    def write(self) -> AbstractContextManager[None]: ...
    def read(self) -> AbstractContextManager[None]: ...
    def head(self) -> AuditHead: ...
    def append(self, entries: tuple[AuditEntry, ...]) -> None: ...
    def rows(self, plan_uid: str | None) -> list[tuple]: ...
    def stored_chain(self) -> StoredChain: ...
    def close(self) -> None: ...


def default_audit_path() -> Path:
    """The user's audit log, in Planner's data folder (PLANNER_DATA_DIR overrides it)."""
    return data_dir() / "audit.sqlite"


def is_postgres_url(where) -> bool:
    return isinstance(where, str) and where.strip().lower().startswith(POSTGRES_SCHEMES)


def open_audit_log(where: str | os.PathLike | None = None, *, create: bool = True) -> AuditLog:
    """The one way to open the log: ``where`` is an SQLite path or a postgresql:// URL; None means the
    clinic's setting ``audit_db`` (planner.core.clinic_settings), else audit.sqlite in the data folder."""
    if where is None or (isinstance(where, str) and not where.strip()):
        from planner.core.clinic_settings import ClinicSettingsError, load_clinic_settings

        try:
            where = load_clinic_settings().audit_db or default_audit_path()
        except ClinicSettingsError as err:
            raise AuditError(str(err)) from None
    return AuditLog(where, create=create)


def entries_query(table: str, placeholder: str, plan_uid: str | None) -> tuple[str, tuple]:
    """Every entry, or one plan's, in seq order: the one query both stores run (in their own placeholder)."""
    query, params = f"SELECT {', '.join(COLUMNS)} FROM {table}", ()
    if plan_uid is not None:
        query, params = query + f" WHERE plan_uid = {placeholder}", (plan_uid,)
    return query + " ORDER BY seq", params


def entry_hash(seq: int, at_utc: str, who: str, action: str, plan_uid: str, details: dict,
               previous_hash: str, os_user: str = "") -> str:
    """SHA-256 over a canonical JSON of every field but the hash itself (``os_user`` only when given,
    so entries written before it existed keep their hashes)."""
    fields = {"seq": seq, "at_utc": at_utc, "who": who, "action": action,
              "plan_uid": plan_uid, "details": details, "previous_hash": previous_hash}
    if os_user:
        fields["os_user"] = os_user
    return hashlib.sha256(_canonical_json(fields).encode("utf-8")).hexdigest()


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
    """One audit log. Open one per thread or process; the store's append lock makes their appends one chain.

    ``where``: an SQLite path or a postgresql:// URL (prefer :func:`open_audit_log`, which also reads
    the clinic setting). ``create=False``: only read an existing log, never make one."""

    def __init__(self, where: str | os.PathLike, *, create: bool = True):
        if is_postgres_url(where):
            from planner.review.audit_postgres import PostgresStore

            self._store: AuditStore = PostgresStore(str(where).strip(), writing=create)
        else:
            from planner.review.audit_sqlite import SQLiteStore

            self._store = SQLiteStore(Path(where), create=create)
        try:
            self._store.prepare()
        except BaseException:
            self._store.close()
            raise

    @property
    def location(self) -> str:
        """Where the log is, for messages: a file path or HOST:PORT/DB (never a password)."""
        return self._store.location

    def close(self) -> None:
        self._store.close()

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
        with self._store.write():
            reservation = Reservation(self, self._store.head())
            yield reservation
            self._store.append(tuple(reservation.pending))

    def entries(self, plan_uid: str | None = None) -> tuple[AuditEntry, ...]:
        """Every entry in order, or one plan's: the per-plan view."""
        with self._store.read():
            return tuple(AuditEntry(*row) for row in self._store.rows(plan_uid))

    def head(self) -> AuditHead:
        with self._store.read():
            return self._store.head()

    def verify(self, anchors: tuple[str, ...] | list[str] = ()) -> AuditVerification:
        """Recompute every hash and link, and compare the end of the chain with the head where one is kept.

        ``anchors``: entry hashes noted outside the store (e.g. printed in a report); each must still
        be in the chain, which catches a log rewritten consistently after the anchor was taken."""
        with self._store.read():
            return verify_chain(self._store.stored_chain(), anchors)


def verify_chain(chain: StoredChain, anchors=()) -> AuditVerification:
    """The one verification of a chain's rows, whichever store they came from."""
    rows, problems = chain.rows, list(chain.problems)
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
    if chain.kept_head is not None:
        problems.extend(_head_problems(chain.kept_head, rows, previous))
    known = {row[7] for row in rows}
    problems.extend(f"anchor {anchor} is no longer in the log (rewritten since it was noted)"
                    for anchor in anchors if anchor.strip().lower() not in known)
    return AuditVerification(not problems, len(rows), tuple(problems))


def _head_problems(head: AuditHead, rows, last_hash: str) -> list[str]:
    problems = []
    end_seq = rows[-1][0] if rows else 0
    if head.last_seq > end_seq:
        problems.append(f"the log ends at seq {end_seq} but its head records entries up to seq {head.last_seq} "
                        f"(the last entries were deleted)")
    elif head.last_seq < end_seq:
        problems.append(f"the log runs to seq {end_seq} but its head stops at seq {head.last_seq} "
                        f"(entries added outside Planner)")
    elif head.last_hash != last_hash:
        problems.append(f"the head's last hash does not match entry seq {end_seq}")
    if head.entry_count != len(rows):
        problems.append(f"the head counts {head.entry_count} entries, the log holds {len(rows)}")
    return problems


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
