"""``planner audit verify`` and ``planner audit show``: exit 0 intact, 1 tampered (seq named),
2 not a log; one-line errors, no traceback."""

import json
import sqlite3
from pathlib import Path

import pytest

from planner.review.audit import AuditLog
from tests.review.audit_fixtures import PLAN_A, PLAN_B, record_two_plans, tamper
from tests.cli_runner import planner

ROOT = Path(__file__).resolve().parents[2]




@pytest.fixture
def db(tmp_path):
    path = tmp_path / "audit.sqlite"
    with AuditLog(path) as log:
        record_two_plans(log)
    return path


def test_verify_is_intact_then_names_the_tampered_seq(db):
    result = planner("audit", "verify", "--db", str(db))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("audit log intact: 8 entries\n")
    with AuditLog(db) as log:
        assert log.head().last_hash in result.stdout  # printed, to be noted outside the file

    tamper(db, "UPDATE entries SET who = 'Dr. Somebody Else' WHERE seq = 3")
    result = planner("audit", "verify", "--db", str(db))
    assert result.returncode == 1
    assert "NOT intact" in result.stdout and "entry seq 3: altered" in result.stdout
    assert "Traceback" not in result.stderr


def test_verify_json_lists_the_problems(db):
    data = json.loads(planner("audit", "verify", "--db", str(db), "--json").stdout)
    assert data["ok"] is True and data["entries_checked"] == 8 and data["problems"] == []
    assert len(data["last_hash"]) == 64

    tamper(db, "DELETE FROM entries WHERE seq = 8")
    result = planner("audit", "verify", "--db", str(db), "--json")
    data = json.loads(result.stdout)
    assert result.returncode == 1 and data["ok"] is False and data["entries_checked"] == 7
    assert any("up to seq 8" in p for p in data["problems"])


def test_verify_with_an_anchor_no_longer_in_the_log_fails(db):
    result = planner("audit", "verify", "--db", str(db), "--anchor", "ab" * 32)
    assert result.returncode == 1 and f"anchor {'ab' * 32} is no longer in the log" in result.stdout


def test_show_lists_one_plan_or_all(db):
    result = planner("audit", "show", "--db", str(db), "--plan", PLAN_B)
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and all(PLAN_B in line for line in lines)
    assert "create" in lines[0] and "Dr. B. Oncologist" in lines[0] and "technique=ebx-surface" in lines[0]

    data = json.loads(planner("audit", "show", "--db", str(db), "--json").stdout)
    assert [e["seq"] for e in data["entries"]] == list(range(1, 9))
    assert data["entries"][-1]["details"]["note"] == "Ø 20 mm ok"
    data = json.loads(planner("audit", "show", "--db", str(db), "--plan", PLAN_A, "--json").stdout)
    assert [e["action"] for e in data["entries"]] == ["create", "edit", "sign", "export", "send", "approve"]


def test_the_default_log_is_in_the_data_folder(tmp_path, db):
    data = tmp_path / "data"
    data.mkdir()
    (data / "audit.sqlite").write_bytes(db.read_bytes())
    result = planner("audit", "verify", env={"PLANNER_DATA_DIR": str(data)})
    assert result.returncode == 0 and str(data / "audit.sqlite") in result.stdout


@pytest.mark.parametrize("make, message", [
    (lambda path: None, "no audit log there"),
    (lambda path: path.write_text("not a database\n" * 100), "not an SQLite database"),
    (lambda path: sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.commit(),
     "not a Planner audit log"),
])
def test_a_bad_file_is_one_line_and_exit_2(tmp_path, make, message):
    path = tmp_path / "log.sqlite"
    make(path)
    for action in ("verify", "show"):
        result = planner("audit", action, "--db", str(path))
        assert result.returncode == 2
        assert result.stderr.count("\n") == 1 and message in result.stderr and "log.sqlite" in result.stderr
        assert "Traceback" not in result.stderr
    assert message != "no audit log there" or not path.exists()  # reading never creates a log
