"""The audit log in PostgreSQL, against a real server (tests/postgres_server.py): the same chain as
SQLite, an application role that may only insert and read, one chain from two processes at once,
tampering by the owner caught, and a server that goes away is one line and nothing reported done."""

import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from planner.review.audit import AuditError, AuditLog, entry_hash, open_audit_log
from tests.cli_runner import planner
from tests.postgres_server import APP, OWNER
from tests.review.audit_fixtures import PLAN_A, PLAN_B, assert_one_interleaved_chain, record_two_plans

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "resources" / "demo" / "demo_ultrasound.dcm"


def owner_url(app_url: str) -> str:
    return app_url.replace(f"{APP}@", f"{OWNER}@")


def as_owner(app_url: str, *statements: str) -> None:
    """What the tables' owner can do at psql: switch the guard triggers off, then edit."""
    with psycopg.connect(owner_url(app_url), autocommit=True) as db, db.transaction():
        db.execute("ALTER TABLE planner_audit.entries DISABLE TRIGGER USER")
        for statement in statements:
            db.execute(statement)
        db.execute("ALTER TABLE planner_audit.entries ENABLE TRIGGER USER")




@pytest.fixture
def two_plans(audit_db_url, tmp_path):
    """Plan A and B recorded in PostgreSQL, and the same steps in SQLite for comparison."""
    with open_audit_log(audit_db_url) as log:
        record_two_plans(log)
    with AuditLog(tmp_path / "audit.sqlite") as log:
        record_two_plans(log)
    return audit_db_url


def test_the_chain_in_postgres_is_the_sqlite_chain_and_verifies(two_plans, tmp_path):
    with open_audit_log(two_plans, create=False) as log:
        entries, head, result = log.entries(), log.head(), log.verify()
        assert [e.action for e in log.entries(PLAN_B)] == ["create", "edit"]
        assert log.location == two_plans.split("@", 1)[1]                    # 127.0.0.1:PORT/DB
    with AuditLog(tmp_path / "audit.sqlite") as log:
        assert entries == log.entries()                                        # same rows, same hashes
    assert [e.seq for e in entries] == list(range(1, 9))
    assert (head.entry_count, head.last_seq, head.last_hash) == (8, 8, entries[-1].entry_hash)
    assert result.ok and result.entries_checked == 8 and result.problems == ()


def test_a_reserved_entry_is_stored_only_when_the_work_succeeds(audit_db_url):
    with open_audit_log(audit_db_url) as log:
        with pytest.raises(OSError, match="disk full"):
            with log.reserve() as reservation:
                reservation.entry("export", "alice", PLAN_A, os_user="alice")
                raise OSError("disk full")
        assert log.entries() == ()
        with log.reserve() as reservation:
            handed = reservation.entry("export", "alice", PLAN_A, {"folder": "/plans/a"}, os_user="alice")
        assert log.entries() == (handed,) and log.verify().ok


@pytest.mark.parametrize("statement", [
    "UPDATE planner_audit.entries SET who = 'Dr. Somebody Else' WHERE seq = 3",
    "DELETE FROM planner_audit.entries WHERE seq = 8",
    "TRUNCATE planner_audit.entries",
])
def test_the_app_role_may_not_change_entries_the_server_refuses(two_plans, statement):
    with psycopg.connect(two_plans, autocommit=True) as db:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
            db.execute(statement)
    with psycopg.connect(owner_url(two_plans), autocommit=True) as db:   # the owner's slip fails loudly too
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            db.execute(statement)
    with open_audit_log(two_plans) as log:
        assert len(log.entries()) == 8 and log.verify().ok


def test_an_entry_that_does_not_continue_the_chain_is_refused_by_the_server(two_plans):
    """A writer that skips Planner's lock, or forges a gap, is refused rather than forking the chain."""
    with psycopg.connect(two_plans, autocommit=True) as db:
        row = ("2025-03-04T09:00:00.000Z", "x", "edit", PLAN_A, "{}", "ab" * 32, "cd" * 32)
        with pytest.raises(psycopg.errors.RaiseException, match="seq 10 does not continue the chain"):
            db.execute("INSERT INTO planner_audit.entries (seq, at_utc, who, action, plan_uid, details, "
                       "previous_hash, entry_hash) VALUES (10, %s, %s, %s, %s, %s, %s, %s)", row)
        with pytest.raises(psycopg.errors.RaiseException, match="seq 9 does not continue the chain"):
            db.execute("INSERT INTO planner_audit.entries (seq, at_utc, who, action, plan_uid, details, "
                       "previous_hash, entry_hash) VALUES (9, %s, %s, %s, %s, %s, %s, %s)", row)


def test_planner_writes_only_as_a_role_that_cannot_change_entries(two_plans):
    with pytest.raises(AuditError, match=r"role 'planner_owner' may update or delete entries"):
        open_audit_log(owner_url(two_plans))
    with open_audit_log(owner_url(two_plans), create=False) as log:      # the DBA may verify
        assert log.verify().ok


WRITER = """
import sys, time
from planner.review.audit import open_audit_log
url, who, uid, start = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
with open_audit_log(url) as log:
    while time.time() < start:
        time.sleep(0.001)
    for i in range(50):
        log.record("edit", who, uid, {"step": i})
        time.sleep(0.005)   # let the other workstation in between: the test is about interleaving
"""


def test_two_workstations_appending_at_once_make_one_chain(audit_db_url):
    start = time.time() + 2.0      # both connected by then, then both write at once
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, audit_db_url, who, uid, str(start)], cwd=ROOT,
                                stderr=subprocess.PIPE, text=True)
               for who, uid in (("Dr. A", PLAN_A), ("Dr. B", PLAN_B))]
    errors = [writer.communicate(timeout=120)[1] for writer in writers]
    assert [writer.returncode for writer in writers] == [0, 0], errors
    with open_audit_log(audit_db_url) as log:
        assert_one_interleaved_chain(log)


def test_an_entry_rewritten_by_the_owner_is_caught(two_plans):
    as_owner(two_plans, "UPDATE planner_audit.entries SET who = 'Dr. Somebody Else' WHERE seq = 3")
    with open_audit_log(two_plans) as log:
        assert log.verify().problems == ("entry seq 3: altered (its hash does not match its fields)",)


def test_a_consistent_rewrite_by_the_owner_is_caught_by_the_anchor(two_plans):
    with open_audit_log(two_plans) as log:
        entries, anchor = log.entries(), log.head().last_hash
    statements, previous = [], entries[4].previous_hash
    for e in entries[4:]:                           # seq 5 rewritten, every later hash recomputed
        who = "Dr. Somebody Else" if e.seq == 5 else e.who
        digest = entry_hash(e.seq, e.at_utc, who, e.action, e.plan_uid, e.details, previous)
        statements.append(f"UPDATE planner_audit.entries SET who = '{who}', previous_hash = '{previous}', "
                          f"entry_hash = '{digest}' WHERE seq = {e.seq}")
        previous = digest
    as_owner(two_plans, *statements)
    with open_audit_log(two_plans) as log:
        assert log.verify().ok                          # the chain alone cannot tell
        assert log.verify(anchors=[anchor]).problems == (
            f"anchor {anchor} is no longer in the log (rewritten since it was noted)",)


def test_a_history_truncated_by_the_owner_is_caught_by_the_anchor_not_the_chain(two_plans):
    """No head is kept in PostgreSQL (it would need UPDATE): the shorter chain verifies on its own, the
    anchor noted in a plan does not (planner.review.audit_postgres says so)."""
    with open_audit_log(two_plans) as log:
        anchor = log.head().last_hash
    as_owner(two_plans, "DELETE FROM planner_audit.entries WHERE seq >= 7")
    with open_audit_log(two_plans) as log:
        assert log.verify().ok and log.head().last_seq == 6
        assert not log.verify(anchors=[anchor]).ok


def test_a_server_gone_mid_write_is_one_line_and_stores_nothing(postgres_server, two_plans):
    log = open_audit_log(two_plans)
    try:
        with pytest.raises(AuditError) as caught:
            with log.reserve() as reservation:
                reservation.entry("export", "alice", PLAN_A)
                postgres_server.stop()                  # the plan is written, the server goes away
    finally:
        log.close()
        postgres_server.start()
    message = str(caught.value)
    assert message.startswith(f"the audit database at 127.0.0.1:{postgres_server.port}/") and "\n" not in message
    assert " is not reachable: " in message
    with open_audit_log(two_plans) as log:
        assert len(log.entries()) == 8 and log.verify().ok


def test_a_command_whose_audit_server_goes_away_mid_write_says_so_and_not_done(postgres_server, two_plans):
    """planner plan / sign (planner.cli.audit_recording): the plan carries the reserved entry, the entry
    cannot be stored, so the command fails (exit 2) naming what was written and not logged."""
    from planner.cli.audit_recording import recording
    from planner.cli.main import InputError

    try:
        with pytest.raises(InputError) as caught:
            with recording(two_plans, "export", {"command": "planner plan"}, what="the package in /plans/a") as anchor:
                anchor(PLAN_A)
                postgres_server.stop()
    finally:
        postgres_server.start()
    message = str(caught.value)
    assert message.startswith("the audit log could not record the export (the audit database at 127.0.0.1:")
    assert "is not reachable: " in message and "\n" not in message
    assert message.endswith("); the package in /plans/a was written but is not in the log: "
                            "`planner audit verify --against` will name it")
    with open_audit_log(two_plans) as log:
        assert len(log.entries()) == 8

def test_the_export_is_not_done_when_the_audit_server_is_down(postgres_server, audit_db_url, tmp_path):
    out = tmp_path / "plan"
    postgres_server.stop()
    try:
        with pytest.raises(AuditError, match=r"^the audit database at 127\.0\.0\.1:\d+/audit_\d+ is not reachable"):
            open_audit_log(audit_db_url)
        result = planner("plan", "--image", DEMO, "--auto-outline", "--technique", "superficial-kv",
                         "--energy-kv", "50", "--applicator-mm", "15", "--dose-per-fraction-gy", "7",
                         "--fractions", "5", "--out", out, "--audit-db", audit_db_url)
    finally:
        postgres_server.start()
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "the audit log cannot record the export, nothing was written" in result.stderr
    assert "is not reachable" in result.stderr
    assert not out.exists() or list(out.iterdir()) == []


def test_the_window_and_the_command_line_find_the_department_database_in_clinic_toml(two_plans, tmp_path):
    config = Path(os.environ["PLANNER_CONFIG_DIR"])
    config.mkdir(parents=True, exist_ok=True)
    (config / "clinic.toml").write_text(f'audit_db = "{two_plans}"\n', encoding="utf-8")
    with open_audit_log() as log:
        assert log.location == two_plans.split("@", 1)[1] and len(log.entries()) == 8
    result = planner("audit", "verify")
    assert result.returncode == 0, result.stderr
    assert "audit log intact: 8 entries" in result.stdout and two_plans.split("@", 1)[1] in result.stdout


def test_init_db_from_the_command_line_grants_insert_and_select_only(postgres_server):
    postgres_server.sql(f"CREATE DATABASE fresh OWNER {OWNER}", database="postgres")
    url = postgres_server.url(OWNER, "fresh")
    with pytest.raises(AuditError, match=r"/fresh holds no Planner audit log; its DBA creates one once with "
                                          r"`planner audit init-db"):
        open_audit_log(postgres_server.url(APP, "fresh"))
    result = planner("audit", "init-db", "--db", url, "--app-role", APP)
    assert result.returncode == 0, result.stderr
    assert f"role {APP} may insert and read entries" in result.stdout
    with psycopg.connect(url) as db:
        grants = db.execute("SELECT privilege_type FROM information_schema.role_table_grants "
                            "WHERE grantee = %s AND table_name = 'entries' ORDER BY 1", (APP,)).fetchall()
    assert grants == [("INSERT",), ("SELECT",)]
    again = planner("audit", "init-db", "--db", url, "--app-role", APP)
    assert again.returncode == 2 and "already holds a Planner audit log" in again.stderr
