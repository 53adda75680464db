"""Approve and reject a real signed package: the Approval module, the authorization signature that
Planner and dcmsign both accept, the audit entry, and refusals that leave every byte as it was."""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import subprocess
from dataclasses import replace

import pytest
from pydicom import dcmread

from planner.dicom.audit_anchor import AuditAnchor, read_audit_anchors
from planner.dicom.keys import certificate_fingerprint_sha256
from planner.dicom.signatures import verify_file
from planner.dicom.signed_plan import open_signed_plan
from planner.review.approval import ApprovalError, approve_plan, reject_plan
from planner.review.audit import AuditError, AuditLog
from planner.review.plan_review import review_plan
from tests.dicom.signature_fixtures import dcmsign_verify, flip_byte_after, requires_dcmsign, signer
from tests.review.test_plan_review import real_case, signed_package

NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(minutes=1)


@pytest.fixture
def package(tmp_path):
    folder, doctor, doctor_cert = signed_package(tmp_path / "plan", tmp_path)
    physicist, _key, physicist_cert = signer(tmp_path, "J. Physicist")
    return folder, doctor, doctor_cert, physicist, physicist_cert


def pdf_text(path) -> str:
    out = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    return " ".join(out.split())


@requires_dcmsign
def test_approval_writes_the_approval_module_and_a_signature_both_verifiers_accept(package, tmp_path):
    folder, doctor, doctor_cert, physicist, physicist_cert = package
    with AuditLog(tmp_path / "audit.sqlite") as audit:
        decision = approve_plan(folder, physicist, "Physicist^Jo", trusted_certificates=[doctor.certificate],
                                registry=real_case()[0], audit=audit, now=NOW)
        [entry] = audit.entries(decision.rt_plan_uid)
        assert audit.verify().ok
    assert decision.status == "APPROVED" and decision.report_redrawn
    ds = dcmread(folder / "RTPLAN.dcm")
    local = NOW.astimezone()
    assert (ds.ApprovalStatus, ds.ReviewDate, ds.ReviewTime, str(ds.ReviewerName)) == (
        "APPROVED", local.strftime("%Y%m%d"), local.strftime("%H%M%S"), "Physicist^Jo")
    checks = verify_file(folder / "RTPLAN.dcm", [doctor.certificate, physicist.certificate])
    assert [(c.role, c.valid, c.trusted) for c in checks] == [("creator", True, True), ("authorization", True, True)]
    assert checks[1].attributes_not_signed == ()        # the authorization covers everything
    run = dcmsign_verify(folder / "RTPLAN.dcm", doctor_cert, physicist_cert, extra=("+rc", "+ru"))
    assert run.returncode == 0, run.stdout + run.stderr
    assert open_signed_plan(folder, [doctor.certificate, physicist.certificate]).treatable
    fingerprint = certificate_fingerprint_sha256(physicist.certificate)
    assert (entry.action, entry.who, entry.plan_uid) == (
        "approve", f"J. Physicist, Test Clinic (SHA-256 {fingerprint})", decision.rt_plan_uid)
    assert entry.os_user == getpass.getuser()            # the account beside the certificate
    assert entry.details["digital_signature_uid"] == checks[1].digital_signature_uid
    # the authorization signature covers the hash of this very entry (planner.dicom.audit_anchor)
    assert read_audit_anchors(ds)[-1] == AuditAnchor("approve", decision.rt_plan_uid, entry.seq, entry.entry_hash)
    assert decision.audit_hash == entry.entry_hash
    assert entry.details["second_check_difference_percent"] == decision.review.second_check_difference_percent
    assert entry.details["reviewer_name"] == "Physicist^Jo"
    text = pdf_text(folder / "report.pdf")
    assert "APPROVED" in text and "J. Physicist" in text
    again = review_plan(folder, [doctor.certificate, physicist.certificate], registry=real_case()[0])
    assert not again.can_approve and any(r.startswith("already approved") for r in again.reasons)


def test_a_plan_altered_after_the_creator_signature_is_not_approved_and_not_touched(package):
    folder, doctor, _, physicist, _ = package
    flip_byte_after(folder / "RTPLAN.dcm", b"Draft exported by Planner", 2)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    with pytest.raises(ApprovalError) as refused:
        approve_plan(folder, physicist, "Physicist^Jo", trusted_certificates=[doctor.certificate],
                     registry=real_case()[0])
    assert "signature 1 (creator, Dr A. Oncologist, Test Clinic)" in str(refused.value)
    assert "changed since signing" in str(refused.value)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_an_attribute_added_after_the_creator_signature_is_named(package):
    folder, doctor, _, physicist, _ = package
    ds = dcmread(folder / "RTPLAN.dcm")
    ds.StationName = "ROOM 2"                          # outside group 300E: the creator did not sign it
    ds.save_as(folder / "RTPLAN.dcm", enforce_file_format=True)
    before = (folder / "RTPLAN.dcm").read_bytes()
    with pytest.raises(ApprovalError, match=r"does not cover \(0008,1010\) StationName"):
        approve_plan(folder, physicist, "Physicist^Jo", trusted_certificates=[doctor.certificate],
                     registry=real_case()[0])
    assert (folder / "RTPLAN.dcm").read_bytes() == before


def test_a_second_check_above_the_stop_level_is_refused_with_the_percentage(tmp_path):
    _, _, _, _, dose, _ = real_case()
    folder, doctor, _ = signed_package(tmp_path / "plan", tmp_path,
                                       dose=replace(dose, treatment_time_min=dose.treatment_time_min * 1.06))
    physicist, _, _ = signer(tmp_path, "J. Physicist")
    before = (folder / "RTPLAN.dcm").read_bytes()
    with pytest.raises(ApprovalError) as refused:
        approve_plan(folder, physicist, "Physicist^Jo", trusted_certificates=[doctor.certificate],
                     registry=real_case()[0])
    message = str(refused.value)
    assert "second check difference +6.00 % exceeds the stop level 5 %" in message
    assert "the signed numbers are not reproduced" in message
    assert (folder / "RTPLAN.dcm").read_bytes() == before


def test_the_creator_cannot_approve_their_own_plan(package):
    folder, doctor, _, _, _ = package
    with pytest.raises(ApprovalError, match="must be by another person"):
        approve_plan(folder, doctor, "Oncologist^A", trusted_certificates=[doctor.certificate],
                     registry=real_case()[0])


@requires_dcmsign
def test_rejection_stores_the_reason_and_is_signed(package, tmp_path):
    folder, doctor, doctor_cert, physicist, physicist_cert = package
    report_before = (folder / "report.pdf").read_bytes()
    with AuditLog(tmp_path / "audit.sqlite") as audit:
        decision = reject_plan(folder, physicist, "Physicist^Jo", "cone too small for the margin; use Ø 25 mm",
                               trusted_certificates=[doctor.certificate], registry=real_case()[0], audit=audit)
        [entry] = audit.entries(decision.rt_plan_uid)
        assert audit.verify().ok
    assert entry.action == "reject" and entry.details["reason"] == "cone too small for the margin; use Ø 25 mm"
    ds = dcmread(folder / "RTPLAN.dcm")
    assert ds.ApprovalStatus == "REJECTED"
    assert ds.ApprovalStatusFurtherDescription == "cone too small for the margin; use Ø 25 mm"
    checks = verify_file(folder / "RTPLAN.dcm", [doctor.certificate, physicist.certificate])
    assert [(c.role, c.valid) for c in checks] == [("creator", True), ("authorization", True)]
    assert checks[1].attributes_not_signed == ()
    run = dcmsign_verify(folder / "RTPLAN.dcm", doctor_cert, physicist_cert)
    assert run.returncode == 0, run.stdout + run.stderr
    # The report is redrawn as REJECTED (never as "APPROVED", which an authorization signature alone suggests).
    assert (folder / "report.pdf").read_bytes() != report_before
    report_text = subprocess.run(["pdftotext", str(folder / "report.pdf"), "-"], capture_output=True,
                                 text=True).stdout
    assert "REJECTED — NOT FOR TREATMENT" in report_text and "APPROVED" not in report_text
    result = review_plan(folder, [doctor.certificate, physicist.certificate], registry=real_case()[0])
    assert result.approval.reason == "cone too small for the margin; use Ø 25 mm"
    assert not result.can_approve and any(r.startswith("already rejected") for r in result.reasons)
    assert not any("does not cover" in r for r in result.reasons)    # the reason is signed by the rejection
    with pytest.raises(ApprovalError, match="already decided"):
        reject_plan(folder, physicist, "Physicist^Jo", "again", trusted_certificates=[doctor.certificate],
                    registry=real_case()[0])


def test_a_rejection_without_a_reason_or_a_reviewer_is_refused(package):
    folder, doctor, _, physicist, _ = package
    before = (folder / "RTPLAN.dcm").read_bytes()
    with pytest.raises(ApprovalError, match="needs its reason"):
        reject_plan(folder, physicist, "Physicist^Jo", "  ", trusted_certificates=[doctor.certificate])
    with pytest.raises(ApprovalError, match="reviewer's name is required"):
        approve_plan(folder, physicist, "", trusted_certificates=[doctor.certificate])
    assert (folder / "RTPLAN.dcm").read_bytes() == before


def test_a_decision_the_audit_log_cannot_record_is_not_written(package, tmp_path):
    folder, doctor, _, physicist, _ = package
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    written = []

    class FullAuditLog(AuditLog):
        @contextlib.contextmanager
        def reserve(self):
            with super().reserve() as reservation:
                yield reservation
                written.append(dcmread(folder / "RTPLAN.dcm").ApprovalStatus)   # the files are written by now
                raise AuditError("database or disk is full")                   # and the entry cannot be stored

    with FullAuditLog(tmp_path / "audit.sqlite") as audit:
        with pytest.raises(ApprovalError, match="audit log cannot record the decision.*disk is full"):
            approve_plan(folder, physicist, "Physicist^Jo", trusted_certificates=[doctor.certificate],
                         registry=real_case()[0], audit=audit)
        assert audit.entries() == ()
    assert written == ["APPROVED"]
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


@requires_dcmsign
def test_a_rejected_plan_opens_as_not_treatable_with_its_reason(package, tmp_path):
    folder, doctor, _doctor_cert, physicist, _physicist_cert = package
    reject_plan(folder, physicist, "Physicist^Jo", "use the Ø 25 mm cone", trusted_certificates=[doctor.certificate],
                registry=real_case()[0])
    opened = open_signed_plan(folder, [doctor.certificate, physicist.certificate])
    assert not opened.treatable
    assert "REJECTED by Physicist^Jo: use the Ø 25 mm cone" in opened.message
    assert "does not cover" not in opened.message     # the reason is covered by the physicist's signature


def test_a_refused_approval_is_logged_with_who_tried_and_why(package, tmp_path):
    folder, doctor, _, _, _ = package
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    with AuditLog(tmp_path / "audit.sqlite") as audit:
        with pytest.raises(ApprovalError, match="must be by another person"):
            approve_plan(folder, doctor, "Oncologist^A", trusted_certificates=[doctor.certificate],
                         registry=real_case()[0], audit=audit)
        [entry] = audit.entries()
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    fingerprint = certificate_fingerprint_sha256(doctor.certificate)
    assert (entry.action, entry.who, entry.os_user) == (
        "refused", f"Dr A. Oncologist, Test Clinic (SHA-256 {fingerprint})", getpass.getuser())
    assert entry.details["attempted"] == "approve"
    assert any("must be by another person" in reason for reason in entry.details["reasons"])
