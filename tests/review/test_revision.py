"""An approved plan is locked: editing it yields a new, unapproved revision that references it, and the
approved file keeps every byte."""

from __future__ import annotations

import pytest
from pydicom import dcmread

from planner.dicom.signed_plan import open_signed_plan
from planner.review.approval import approve_plan
from planner.review.audit import AuditLog
from planner.review.plan_review import review_plan
from planner.review.revision import RevisionError, is_locked, new_revision, predecessor_of, write_revision
from tests.dicom.signature_fixtures import signer
from tests.review.test_plan_review import real_case, signed_package


@pytest.fixture(scope="module")
def approved(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("approved")
    folder, doctor, _ = signed_package(tmp / "plan", tmp)
    physicist, _, _ = signer(tmp, "J. Physicist")
    approve_plan(folder, physicist, "Physicist^Jo", trusted_certificates=[doctor.certificate],
                 registry=real_case()[0])
    return folder, doctor, physicist


def test_editing_an_approved_plan_makes_a_new_unapproved_revision_that_references_it(approved, tmp_path):
    folder, doctor, physicist = approved
    approved_bytes = {p.name: p.read_bytes() for p in folder.iterdir()}
    signed = open_signed_plan(folder, [doctor.certificate, physicist.certificate])
    assert is_locked(signed)
    revision = new_revision(signed)
    assert revision.plan == signed.plan and revision.predecessor_uid == signed.rt_plan_uid
    assert revision.predecessor_status == "APPROVED"

    _, planning_image, _, technique, dose, beam = real_case()
    edited = revision.plan.with_notes("revision: cone position confirmed on the patient")
    with AuditLog(tmp_path / "audit.sqlite") as audit:
        package = write_revision(tmp_path / "revision", revision, edited, dose, planning_image, technique,
                                 beam_data=beam, audit=audit, who="Dr A. Oncologist")
        [entry] = audit.entries(package.rt_plan_uid)
    assert (entry.action, entry.details["predecessor_uid"]) == ("revision", signed.rt_plan_uid)

    ds = dcmread(package.rt_plan)
    assert package.rt_plan_uid != signed.rt_plan_uid and ds.SOPInstanceUID == package.rt_plan_uid
    assert ds.ApprovalStatus == "UNAPPROVED" and "DigitalSignaturesSequence" not in ds
    [reference] = ds.ReferencedRTPlanSequence
    assert reference.ReferencedSOPInstanceUID == signed.rt_plan_uid
    assert reference.ReferencedSOPClassUID == ds.SOPClassUID and reference.RTPlanRelationship == "PREDECESSOR"
    assert predecessor_of(package.rt_plan) == signed.rt_plan_uid
    assert "cone position confirmed" in ds.RTPlanDescription
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == approved_bytes
    result = review_plan(package.folder, [doctor.certificate], registry=real_case()[0])
    assert not result.can_approve and any("no creator" in r for r in result.reasons)   # a draft again


def test_a_revision_is_never_written_over_the_plan_it_revises(approved, tmp_path):
    folder, doctor, physicist = approved
    approved_bytes = (folder / "RTPLAN.dcm").read_bytes()
    revision = new_revision(open_signed_plan(folder, [doctor.certificate, physicist.certificate]))
    _, planning_image, _, technique, dose, beam = real_case()
    with pytest.raises(RevisionError, match="holds the plan being revised"):
        write_revision(folder, revision, revision.plan, dose, planning_image, technique, beam_data=beam)
    assert (folder / "RTPLAN.dcm").read_bytes() == approved_bytes


def test_another_patients_plan_or_another_technique_is_never_a_revision(approved, tmp_path):
    from dataclasses import replace

    folder, doctor, physicist = approved
    revision = new_revision(open_signed_plan(folder, [doctor.certificate, physicist.certificate]))
    _, planning_image, _, technique, dose, beam = real_case()
    other = replace(revision.plan, patient_id="OTHER-0002", patient_name="OTHER^Patient")
    with pytest.raises(RevisionError, match=r"this plan is for OTHER\^Patient \(OTHER-0002\), the approved plan it "
                                            r"would revise is for DEMO\^Patient \(DEMO-0001\): not a revision"):
        write_revision(tmp_path / "other", revision, other, dose, planning_image, technique, beam_data=beam)
    ebx = revision.plan.with_setup(technique_id="ebx-surface")
    with pytest.raises(RevisionError, match="this plan's technique is ebx-surface, the approved plan's it would "
                                            "revise is superficial-kv: not a revision"):
        write_revision(tmp_path / "ebx", revision, ebx, dose, planning_image, technique, beam_data=beam)
    assert not (tmp_path / "other").exists() and not (tmp_path / "ebx").exists()
