"""The audit log: a realistic sequence for two plans, the per-plan view, and every tampering the
chain must catch, done the way a tamperer would (raw sqlite3, append-only triggers dropped)."""

import hashlib
import json
import sqlite3
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from planner.review.audit import (
    ACTIONS, GENESIS_HASH, AuditEntry, AuditError, AuditLog, default_audit_path, entry_hash,
)
from planner.review.audit_sqlite import _SCHEMA
from tests.review.audit_fixtures import (
    PLAN_A, PLAN_B, assert_one_interleaved_chain, record_two_plans, tamper,
)


@pytest.fixture
def log_path(tmp_path):
    path = tmp_path / "audit.sqlite"
    with AuditLog(path) as log:
        record_two_plans(log)
    return path


def verify(path):
    with AuditLog(path, create=False) as log:
        return log.verify()


def test_a_realistic_sequence_is_chained_and_verifies(log_path):
    with AuditLog(log_path) as log:
        entries = log.entries()
        result = log.verify()
        head = log.head()
    assert [e.seq for e in entries] == list(range(1, 9))
    assert entries[0].previous_hash == GENESIS_HASH
    assert all(later.previous_hash == earlier.entry_hash for earlier, later in zip(entries, entries[1:]))
    assert entries[0].at_utc == "2025-03-04T08:30:00.000Z"
    assert entries[7].details == {"second_check_difference_percent": 0.3, "note": "Ø 20 mm ok"}
    assert result.ok and result.entries_checked == 8 and result.problems == ()
    assert (head.entry_count, head.last_seq, head.last_hash) == (8, 8, entries[-1].entry_hash)


def test_the_hash_is_sha256_of_the_documented_canonical_json(log_path):
    with AuditLog(log_path) as log:
        first = log.entries()[0]
    canonical = json.dumps({"seq": 1, "at_utc": first.at_utc, "who": first.who, "action": "create",
                            "plan_uid": PLAN_A, "details": {"technique": "superficial-kv"},
                            "previous_hash": GENESIS_HASH},
                           sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert first.entry_hash == hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    assert first.entry_hash == entry_hash(1, first.at_utc, first.who, "create", PLAN_A,
                                          {"technique": "superficial-kv"}, GENESIS_HASH)


def test_the_per_plan_view_holds_only_that_plan_in_order(log_path):
    with AuditLog(log_path) as log:
        a, b = log.entries(PLAN_A), log.entries(PLAN_B)
        assert log.entries("1.2.3.no.such.plan") == ()
    assert [e.action for e in a] == ["create", "edit", "sign", "export", "send", "approve"]
    assert [e.seq for e in b] == [3, 4] and {e.plan_uid for e in b} == {PLAN_B}
    assert isinstance(a[0], AuditEntry)
    with pytest.raises(AttributeError):
        a[0].who = "someone else"  # frozen


def test_entries_are_append_only_through_sqlite_too(log_path):
    db = sqlite3.connect(log_path)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("DELETE FROM entries WHERE seq = 2")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("UPDATE entries SET who = 'x' WHERE seq = 3")
    db.close()
    assert verify(log_path).ok


def test_an_altered_who_names_its_seq(log_path):
    tamper(log_path, "UPDATE entries SET who = 'Dr. Somebody Else' WHERE seq = 3")
    result = verify(log_path)
    assert not result.ok and result.entries_checked == 8
    assert result.problems == ("entry seq 3: altered (its hash does not match its fields)",)


def test_an_altered_row_with_its_hash_recomputed_breaks_the_next_link(log_path):
    with AuditLog(log_path) as log:
        third = log.entries()[2]
    forged = entry_hash(3, third.at_utc, "Dr. Somebody Else", third.action, third.plan_uid, third.details,
                        third.previous_hash)
    tamper(log_path, f"UPDATE entries SET who = 'Dr. Somebody Else', entry_hash = '{forged}' WHERE seq = 3")
    problems = " | ".join(verify(log_path).problems)
    assert "seq 4: its previous hash does not match entry seq 3" in problems


def test_a_deleted_middle_row_is_detected(log_path):
    tamper(log_path, "DELETE FROM entries WHERE seq = 2")
    result = verify(log_path)
    assert not result.ok and result.entries_checked == 7
    assert "entry seq 2 missing before seq 3 (deleted)" in result.problems
    assert "the head counts 8 entries, the log holds 7" in result.problems


def test_a_deleted_last_row_is_detected_by_the_head(log_path):
    tamper(log_path, "DELETE FROM entries WHERE seq = 8")
    result = verify(log_path)
    assert not result.ok
    assert any("ends at seq 7" in p and "up to seq 8" in p for p in result.problems)


def test_renumbering_after_a_middle_delete_is_still_caught(log_path):
    tamper(log_path, "DELETE FROM entries WHERE seq = 2",
           "UPDATE entries SET seq = seq - 1 WHERE seq > 2",
           "UPDATE head SET entry_count = 7, last_seq = 7")
    assert not verify(log_path).ok


def test_altered_details_json_is_detected(log_path):
    tamper(log_path, "UPDATE entries SET details = json_set(details, '$.second_check_difference_percent', 4.9) "
                     "WHERE seq = 8")
    assert verify(log_path).problems == ("entry seq 8: altered (its hash does not match its fields)",)
    tamper(log_path, "UPDATE entries SET details = '{broken' WHERE seq = 5")
    assert "entry seq 5: details are not valid JSON (altered)" in verify(log_path).problems


def test_appending_after_tampering_does_not_heal_the_log(log_path):
    tamper(log_path, "DELETE FROM entries WHERE seq = 8")
    with AuditLog(log_path) as log:
        entry = log.record("open", "J. Physicist, MSc", PLAN_A)
        result = log.verify()
    assert entry.seq == 9  # chained to the head, not to the surviving last row
    assert not result.ok and any("seq 8 missing" in p for p in result.problems)


def test_an_anchor_catches_a_consistent_rewrite(log_path):
    with AuditLog(log_path) as log:
        anchor = log.head().last_hash
        entries = log.entries()
    # A rewrite that recomputes every hash and the head: the chain alone cannot tell.
    statements, previous = ["DELETE FROM entries"], GENESIS_HASH
    for e in entries:
        who = "Dr. Somebody Else" if e.seq == 5 else e.who
        digest = entry_hash(e.seq, e.at_utc, who, e.action, e.plan_uid, e.details, previous)
        statements.append(f"INSERT INTO entries (seq, at_utc, who, action, plan_uid, details, previous_hash, "
                          f"entry_hash) VALUES ({e.seq}, '{e.at_utc}', '{who}', '{e.action}', "
                          f"'{e.plan_uid}', '{e.details_json}', '{previous}', '{digest}')")
        previous = digest
    statements.append(f"UPDATE head SET last_hash = '{previous}'")
    tamper(log_path, *statements)
    with AuditLog(log_path) as log:
        assert log.verify().ok
        anchored = log.verify(anchors=[anchor])
    assert not anchored.ok and anchored.problems == (
        f"anchor {anchor} is no longer in the log (rewritten since it was noted)",)


@pytest.mark.parametrize("content", [b"This is a plan report, not a database.\n" * 40,
                                     b"SQLite format 3\x00" + b"\xff" * 2000])
def test_a_file_that_is_not_sqlite_is_refused_naming_it(tmp_path, content):
    path = tmp_path / "report.txt"
    path.write_bytes(content)
    with pytest.raises(AuditError, match="report.txt"):
        AuditLog(path)
    assert path.read_bytes() == content


def test_another_applications_database_is_refused(tmp_path):
    path = tmp_path / "other.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE patients (id TEXT)")
    db.commit()
    db.close()
    with pytest.raises(AuditError, match=r"other\.sqlite: not a Planner audit log"):
        AuditLog(path)


def test_a_newer_schema_is_refused(log_path):
    db = sqlite3.connect(log_path)
    db.execute("PRAGMA user_version = 7")
    db.close()
    with pytest.raises(AuditError, match="schema version 7"):
        AuditLog(log_path)


def test_a_missing_file_is_not_created_when_only_reading(tmp_path):
    with pytest.raises(AuditError, match="no audit log there"):
        AuditLog(tmp_path / "absent.sqlite", create=False)
    assert not (tmp_path / "absent.sqlite").exists()


@pytest.mark.parametrize("action, who, uid, details, at, message", [
    ("delete", "x", PLAN_A, None, None, "unknown audit action 'delete'"),
    ("edit", "  ", PLAN_A, None, None, "needs who"),
    ("edit", "x", "", None, None, "needs the plan's UID"),
    ("edit", "x", PLAN_A, {"dose": float("nan")}, None, "plain JSON"),
    ("edit", "x", PLAN_A, {"when": datetime.now()}, None, "plain JSON"),
    ("edit", "x", PLAN_A, None, datetime(2025, 1, 1), "time zone"),
])
def test_a_refused_entry_changes_nothing(log_path, action, who, uid, details, at, message):
    with AuditLog(log_path) as log:
        with pytest.raises(AuditError, match=message):
            log.record(action, who, uid, details, at=at)
        assert len(log.entries()) == 8 and log.verify().ok


def test_every_action_of_the_vocabulary_records_and_times_default_to_now_in_utc(tmp_path):
    with AuditLog(tmp_path / "a.sqlite") as log:
        before = datetime.now(timezone.utc)
        entries = [log.record(action, "someone", PLAN_A) for action in ACTIONS]
        after = datetime.now(timezone.utc)
        summer_in_zurich = timezone(timedelta(hours=2))
        local = log.record("edit", "someone", PLAN_A, at=datetime(2025, 6, 1, 10, 0, tzinfo=summer_in_zurich))
        assert log.verify().ok
    for entry in entries:
        at = datetime.fromisoformat(entry.at_utc.replace("Z", "+00:00"))
        assert entry.at_utc.endswith("Z") and before - timedelta(milliseconds=1) <= at <= after
    assert local.at_utc == "2025-06-01T08:00:00.000Z"


def test_two_writers_appending_at_once_make_one_chain(tmp_path):
    path = tmp_path / "shared.sqlite"
    AuditLog(path).close()
    errors, start = [], threading.Barrier(2)

    def writer(who, uid):
        try:
            with AuditLog(path) as log:  # its own connection, as a second process would have
                start.wait()
                for i in range(50):
                    log.record("edit", who, uid, {"step": i})
                    time.sleep(0.02)  # let the other writer in between: the test is about interleaving
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=writer, args=("Dr. A", PLAN_A)),
               threading.Thread(target=writer, args=("Dr. B", PLAN_B))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    with AuditLog(path) as log:
        assert_one_interleaved_chain(log)


def test_the_default_log_lives_in_the_data_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("PLANNER_DATA_DIR", str(tmp_path / "data"))
    assert default_audit_path() == tmp_path / "data" / "audit.sqlite"
    with AuditLog(default_audit_path()) as log:
        log.record("create", "someone", PLAN_A)
    assert default_audit_path().is_file()


def test_a_schema_1_log_is_upgraded_and_its_old_entries_still_verify(tmp_path):
    """Logs written before os_user existed: the column is added on opening, old rows keep their hashes,
    new rows carry the OS user beside who (issue 15, point 6)."""
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path, isolation_level=None)
    for statement in _SCHEMA:
        db.execute(statement.replace(",\n        os_user TEXT NOT NULL DEFAULT '')", ")"))
    db.execute("PRAGMA user_version = 1")
    at = "2025-03-04T08:30:00.000Z"
    old_hash = entry_hash(1, at, "Dr. A. Oncologist", "create", PLAN_A, {}, GENESIS_HASH)
    db.execute("INSERT INTO entries VALUES (1, ?, 'Dr. A. Oncologist', 'create', ?, '{}', ?, ?)",
               (at, PLAN_A, GENESIS_HASH, old_hash))
    db.execute("UPDATE head SET entry_count = 1, last_seq = 1, last_hash = ?", (old_hash,))
    assert [c[1] for c in db.execute("PRAGMA table_info(entries)")][-1] == "entry_hash"   # really schema 1
    db.close()
    with AuditLog(path) as log:
        new = log.record("sign", "Dr. A. Oncologist (SHA-256 AB:CD)", PLAN_A, os_user="alice")
        old, again = log.entries()
        assert log.verify().ok
    assert (old.entry_hash, old.os_user) == (old_hash, "")
    assert (again.os_user, again.entry_hash, again.previous_hash) == ("alice", new.entry_hash, old_hash)
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == 2


def test_a_reserved_entry_is_stored_only_when_the_work_succeeds(tmp_path):
    """reserve(): the hash handed out (what a plan is signed with) is the one stored; a failure stores nothing."""
    with AuditLog(tmp_path / "audit.sqlite") as log:
        with pytest.raises(OSError, match="disk full"):
            with log.reserve() as reservation:
                reservation.entry("export", "alice", PLAN_A, os_user="alice")
                raise OSError("disk full")
        assert log.entries() == () and log.head().entry_count == 0
        with log.reserve() as reservation:
            handed = reservation.entry("export", "alice", PLAN_A, {"folder": "/plans/a"}, os_user="alice")
        assert log.entries() == (handed,) and log.verify().ok


def test_an_audit_log_whose_folder_cannot_be_made_is_an_audit_error(tmp_path):
    (tmp_path / "not-a-folder").write_text("")
    with pytest.raises(AuditError, match=r"audit\.sqlite: cannot create the audit log's folder \("):
        AuditLog(tmp_path / "not-a-folder" / "logs" / "audit.sqlite")
