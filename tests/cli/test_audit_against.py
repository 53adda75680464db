"""Issue 15, point 6: a history rewritten consistently (a reject reason changed, the chain recomputed)
or cut off at the end (the head row fixed) passes plain `planner audit verify`, but not `--against`
the plans it was written with: each plan is signed with the hash of its own audit entry."""

import getpass
import json
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
from pydicom import dcmread

from planner.dicom.audit_anchor import AuditAnchor, read_audit_anchors
from planner.dicom.keys import certificate_fingerprint_sha256
from planner.dicom.package import write_plan_package
from planner.review.audit import AuditLog, entry_hash
from tests.dicom.signature_fixtures import PASSPHRASE, signer
from tests.review.test_plan_review import real_case
from tests.cli_runner import planner

ROOT = Path(__file__).resolve().parents[2]
REASON = "use the Ø 25 mm cone"




@pytest.fixture(scope="module")
def recorded_history(tmp_path_factory):
    """A plan exported (entry 1), signed by the physician with `planner sign` (entry 2) and rejected by
    the physicist with `planner reject` (entry 3), all in one log; made once, copied for each test."""
    tmp_path = tmp_path_factory.mktemp("history")
    db, folder = tmp_path / "audit.sqlite", tmp_path / "plans" / "plan"
    _, planning_image, plan, technique, dose, beam = real_case()
    with AuditLog(db) as log, log.reserve() as reservation:
        write_plan_package(folder, plan, dose, planning_image, technique, beam_data=beam,
                           audit_anchor=lambda uid: reservation.entry("export", "alice", uid, {}, os_user="alice"))
    doctor, doctor_key, doctor_cert = signer(tmp_path, "Dr A. Oncologist")
    physicist, physicist_key, physicist_cert = signer(tmp_path, "J. Physicist")
    passphrase = tmp_path / "passphrase.txt"
    passphrase.write_bytes(PASSPHRASE + b"\n")
    signed = planner("sign", folder, "--key", doctor_key, "--cert", doctor_cert, "--passphrase-file", passphrase,
                     "--audit-db", db)
    assert signed.returncode == 0, signed.stderr
    rejected = planner("reject", folder, "--key", physicist_key, "--cert", physicist_cert, "--reviewer",
                       "Physicist^Jo", "--passphrase-file", passphrase, "--trust", doctor_cert, "--audit-db", db,
                       "--reason", REASON)
    assert rejected.returncode == 0, rejected.stderr
    return tmp_path, doctor, physicist


@pytest.fixture
def history(recorded_history, tmp_path):
    """The recorded history in this test's own folder: tests rewrite the log."""
    made, doctor, physicist = recorded_history
    copy = shutil.copytree(made, tmp_path / "history")
    return copy / "audit.sqlite", copy / "plans" / "plan", doctor, physicist


def verify(db, *extra):
    run = planner("audit", "verify", "--db", db, *extra)
    assert run.returncode in (0, 1), run.stderr
    return run


def rewrite(db, change=None, keep=None):
    """What someone with the file does: drop the guards, change an entry or cut the end off, recompute
    every later hash and the head, so the chain is consistent again."""
    with AuditLog(db, create=False) as log:
        entries = log.entries()
    entries = entries[:keep] if keep is not None else entries
    rows, previous = [], "0" * 64
    for e in entries:
        details = change(e) if change else e.details
        digest = entry_hash(e.seq, e.at_utc, e.who, e.action, e.plan_uid, details, previous, e.os_user)
        rows.append((e.seq, e.at_utc, e.who, e.action, e.plan_uid,
                     json.dumps(details, sort_keys=True, separators=(",", ":"), ensure_ascii=False),
                     previous, digest, e.os_user))
        previous = digest
    sql = sqlite3.connect(db)
    sql.execute("DROP TRIGGER entries_no_update")
    sql.execute("DROP TRIGGER entries_no_delete")
    sql.execute("DELETE FROM entries")
    sql.executemany("INSERT INTO entries (seq, at_utc, who, action, plan_uid, details, previous_hash, entry_hash, "
                    "os_user) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    sql.execute("UPDATE head SET entry_count = ?, last_seq = ?, last_hash = ?", (len(rows), rows[-1][0], previous))
    sql.commit()
    sql.close()


def test_every_step_is_audited_and_the_plan_carries_each_entry(history):
    db, folder, doctor, physicist = history
    with AuditLog(db, create=False) as log:
        entries = log.entries()
    ds = dcmread(folder / "RTPLAN.dcm")
    uid = ds.SOPInstanceUID
    assert [(e.action, e.plan_uid) for e in entries] == [("export", uid), ("sign", uid), ("reject", uid)]
    assert [e.who for e in entries[1:]] == [
        f"Dr A. Oncologist, Test Clinic (SHA-256 {certificate_fingerprint_sha256(doctor.certificate)})",
        f"J. Physicist, Test Clinic (SHA-256 {certificate_fingerprint_sha256(physicist.certificate)})"]
    assert [e.os_user for e in entries[1:]] == [getpass.getuser()] * 2
    assert entries[2].details["reason"] == REASON
    assert read_audit_anchors(ds) == tuple(AuditAnchor(e.action, uid, e.seq, e.entry_hash) for e in entries)
    run = verify(db, "--against", folder.parent)
    assert run.returncode == 0, run.stdout
    assert "3 audit entries recorded in 1 plan(s) are all in it" in run.stdout
    shown = planner("audit", "show", "--db", db).stdout.splitlines()
    assert f"[OS user {getpass.getuser()}]" in shown[1] and "Dr A. Oncologist, Test Clinic (SHA-256 " in shown[1]



@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dciodvfy (dicom3tools) is not installed")
def test_the_plan_with_three_anchors_passes_dciodvfy(history):
    _, folder, *_ = history
    run = subprocess.run(["dciodvfy", str(folder / "RTPLAN.dcm")], capture_output=True, text=True, timeout=60)
    errors = [line for line in (run.stdout + run.stderr).splitlines() if line.startswith("Error")]
    assert errors == []


def test_a_reject_reason_rewritten_with_the_chain_recomputed_is_caught_against_the_plans(history):
    db, folder, *_ = history
    rewrite(db, change=lambda e: {**e.details, "reason": "approved on the phone"} if e.action == "reject"
            else e.details)
    plain = verify(db)
    assert plain.returncode == 0 and plain.stdout.startswith("audit log intact: 3 entries")  # the chain alone agrees
    against = verify(db, "--against", folder.parent)
    assert against.returncode == 1
    [problem] = [line.strip() for line in against.stdout.splitlines() if "RTPLAN.dcm" in line]
    assert problem.startswith(f"{folder / 'RTPLAN.dcm'} (plan {dcmread(folder / 'RTPLAN.dcm').SOPInstanceUID}) "
                              f"records audit entry seq 3 (reject)")
    assert problem.endswith("the history was rewritten")


def test_entries_cut_off_the_end_with_the_head_fixed_are_caught_against_the_plans(history):
    db, folder, *_ = history
    rewrite(db, keep=1)                       # the signing and the rejection are gone, the head says 1 entry
    plain = verify(db)
    assert plain.returncode == 0 and plain.stdout.startswith("audit log intact: 1 entries")
    against = json.loads(verify(db, "--against", folder.parent, "--json").stdout)
    assert against["ok"] is False and against["problems"] == []
    problems = against["against"]["problems"]
    assert [p.split(" records audit entry ")[1].split(")")[0] for p in problems] == ["seq 2 (sign", "seq 3 (reject"]
    assert all(p.startswith(str(folder / "RTPLAN.dcm")) and p.endswith(
        "but the log ends at seq 1: entries were cut off (truncated history)") for p in problems)
