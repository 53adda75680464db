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


# --- an IMRT plan is locked and revised by the same functions ----------------------------------------

@pytest.fixture(scope="module")
def approved_imrt(tmp_path_factory):
    """A small TG-119 IMRT RT Plan signed by the physician, then approved as planner.review.approval
    writes it (Approval Status, reviewer, date and time, and the physicist's authorization signature):
    by hand, because the review cannot approve an IMRT plan yet."""
    from planner.core.inverse_plan_file import VolumeSource
    from planner.dicom.inverse_payload import InverseSource
    from planner.dicom.signatures import AUTHORIZATION, CREATOR, sign_file
    from tests.dicom.test_imrt_signature import small_tg119_export

    tmp = tmp_path_factory.mktemp("approved-imrt")
    _, export = small_tg119_export(tmp / "export", lambda plan: InverseSource(plan, VolumeSource.tg119(10.0),
                                                                               "test model", "test calibration"))
    doctor, _, _ = signer(tmp, "Dr A. Oncologist")
    physicist, _, _ = signer(tmp, "J. Physicist")
    signed = tmp / "signed.dcm"
    sign_file(export.rt_plan, signed, doctor, CREATOR)
    ds = dcmread(signed)
    ds.ApprovalStatus, ds.ReviewerName, ds.ReviewDate, ds.ReviewTime = "APPROVED", "Physicist^Jo", "20261203", "120000"
    ds.save_as(signed)
    folder = tmp / "approved"
    folder.mkdir()
    sign_file(signed, folder / "RTPLAN.dcm", physicist, AUTHORIZATION)
    return folder / "RTPLAN.dcm", (doctor.certificate, physicist.certificate)


def test_an_approved_imrt_plan_is_locked_and_revised_like_a_surface_plan(approved_imrt, tmp_path):
    from dataclasses import replace

    from planner.dicom.inverse_payload import EmbeddedInversePlan
    from planner.review.revision import export_revision

    rt_plan, trusted = approved_imrt
    approved_bytes = rt_plan.read_bytes()
    signed = open_signed_plan(rt_plan, trusted)
    assert signed.reviewed and isinstance(signed.plan, EmbeddedInversePlan)
    assert is_locked(signed)
    revision = new_revision(signed)
    assert revision.predecessor_uid == str(dcmread(rt_plan).SOPInstanceUID)
    assert revision.predecessor_status == "APPROVED" and revision.plan == signed.plan

    written = []
    edited = replace(signed.plan, plan=replace(signed.plan.plan, max_iterations=77))
    assert export_revision(tmp_path / "revision", revision, edited,
                           lambda folder, uid: written.append((folder, uid)) or "written") == "written"
    assert written == [((tmp_path / "revision").resolve(), str(dcmread(rt_plan).SOPInstanceUID))]

    with pytest.raises(RevisionError, match="holds the plan being revised"):
        export_revision(rt_plan.parent, revision, edited, lambda *_: written.append("over the approved plan"))
    other = replace(edited, patient_id="OTHER-0002", patient_name="OTHER^Patient")
    with pytest.raises(RevisionError, match=r"this plan is for OTHER\^Patient \(OTHER-0002\), the approved plan it "
                                            r"would revise is for PHANTOM\^TG119 \(TG119\): not a revision"):
        export_revision(tmp_path / "other", revision, other, lambda *_: written.append("another patient"))
    assert len(written) == 1 and rt_plan.read_bytes() == approved_bytes


def test_an_imrt_plan_is_never_a_revision_of_a_surface_plan(approved, approved_imrt, tmp_path):
    from dataclasses import replace

    from planner.review.revision import export_revision

    folder, doctor, physicist = approved
    surface = new_revision(open_signed_plan(folder, [doctor.certificate, physicist.certificate]))
    imrt = open_signed_plan(approved_imrt[0], approved_imrt[1]).plan
    as_if_same_patient = replace(imrt, patient_id=surface.plan.patient_id, patient_name=surface.plan.patient_name)
    with pytest.raises(RevisionError, match="this plan's technique is imrt-photon, the approved plan's it would "
                                            "revise is superficial-kv: not a revision"):
        export_revision(tmp_path / "imrt", surface, as_if_same_patient, lambda *_: pytest.fail("written"))
