"""A realistic audit sequence and the tamperer's tools, shared by the audit and CLI tests."""

import sqlite3
from datetime import datetime, timedelta, timezone

from planner.review.audit import AuditLog

PLAN_A = "1.2.826.0.1.3680043.10.543.1.1"
PLAN_B = "1.2.826.0.1.3680043.10.543.1.2"
T0 = datetime(2025, 3, 4, 8, 30, tzinfo=timezone.utc)


def record_two_plans(log: AuditLog) -> None:
    """Plan A from creation to approval; plan B created and edited in between (seq 3 and 4)."""
    steps = [
        ("create", "Dr. A. Oncologist", PLAN_A, {"technique": "superficial-kv"}),
        ("edit", "Dr. A. Oncologist", PLAN_A, {"field": "applicator", "from_mm": 15, "to_mm": 20}),
        ("create", "Dr. B. Oncologist", PLAN_B, {"technique": "ebx-surface"}),
        ("edit", "Dr. B. Oncologist", PLAN_B, {"field": "fractions", "from": 6, "to": 8}),
        ("sign", "Dr. A. Oncologist", PLAN_A, {"role": "creator", "certificate_serial": "0x1f"}),
        ("export", "Dr. A. Oncologist", PLAN_A, {"files": ["RTPLAN.dcm", "RTSTRUCT.dcm", "RTDOSE.dcm"]}),
        ("send", "Dr. A. Oncologist", PLAN_A, {"ae_title": "ORTHANC", "status": "0x0000"}),
        ("approve", "J. Physicist, MSc", PLAN_A, {"second_check_difference_percent": 0.3, "note": "Ø 20 mm ok"}),
    ]
    for minute, (action, who, uid, details) in enumerate(steps):
        log.record(action, who, uid, details, at=T0 + timedelta(minutes=minute))


def assert_one_interleaved_chain(log: AuditLog) -> None:
    """Two writers (Dr. A on plan A, Dr. B on plan B) of 50 entries each, at once: one chain of 100
    without gaps, each writer's steps in order, and the writers really took turns."""
    entries, result = log.entries(), log.verify()
    assert [e.details["step"] for e in log.entries(PLAN_A)] == list(range(50))
    assert [e.details["step"] for e in log.entries(PLAN_B)] == list(range(50))
    assert [e.seq for e in entries] == list(range(1, 101))
    switches = sum(a.who != b.who for a, b in zip(entries, entries[1:]))
    assert switches > 10, "the two writers did not interleave; the test proved nothing"
    assert result.ok and result.entries_checked == 100


def tamper(path, *statements):
    """What someone with the file and an SQLite console does: drop the guard triggers, then edit."""
    db = sqlite3.connect(path)
    db.execute("DROP TRIGGER IF EXISTS entries_no_update")
    db.execute("DROP TRIGGER IF EXISTS entries_no_delete")
    for statement in statements:
        db.execute(statement)
    db.commit()
    db.close()
