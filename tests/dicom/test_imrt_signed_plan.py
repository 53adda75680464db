"""An IMRT RT Plan carries its plan and is judged by the one signed-path rule (issue 16, points 1 and 3).

The exported RT Plan embeds the IMRT plan it was optimised from (planner.dicom.inverse_payload), so
`open_signed_plan` — the one place that says whether a plan is treatable — opens it like a surface
plan: a draft, signed and awaiting review, broken when a leaf moves after signing, refused when
what it embeds disagrees with what the linac would deliver. The expected values are read from the
RT Plan with pydicom, not from the code under test.
"""

from __future__ import annotations

import shutil

import pytest
from pydicom import dcmread

from planner.core.clinic_settings import ClinicSettings
from planner.core.inverse_plan_file import VolumeSource
from planner.dicom.inverse_payload import INVERSE_CREATOR, EmbeddedInversePlan, InverseSource
from planner.dicom.plan_payload import PRIVATE_GROUP
from planner.dicom.signatures import CREATOR, SignatureStatus, sign_file
from planner.dicom.signed_plan import AWAITING_REVIEW, DRAFT_MESSAGE, REFUSED, open_signed_plan
from tests.dicom.export_fixtures import dciodvfy
from tests.dicom.signature_fixtures import signer
from tests.dicom.test_imrt_signature import move_a_leaf_in_the_last_control_point, small_tg119_export

CLINIC = ClinicSettings()   # the default policy: treat only after the physics review


@pytest.fixture(scope="module")
def imrt_export(tmp_path_factory):
    plan, export = small_tg119_export(
        tmp_path_factory.mktemp("imrt-path") / "export",
        lambda plan: InverseSource(plan, VolumeSource.tg119(10.0), "test model words", "test calibration words"))
    return {"export": export, "plan": plan}


def test_the_rt_plan_embeds_the_plan_under_its_own_creator(imrt_export):
    ds = dcmread(imrt_export["export"].rt_plan)
    creators = [ds[(PRIVATE_GROUP << 16) | slot].value for slot in range(0x10, 0x100)
                if (PRIVATE_GROUP << 16) | slot in ds]
    assert creators == [INVERSE_CREATOR]
    opened = open_signed_plan(imrt_export["export"].rt_plan, clinic=CLINIC)
    assert isinstance(opened.plan, EmbeddedInversePlan)
    assert opened.plan.plan == imrt_export["plan"]
    assert opened.plan.volume_source == VolumeSource.tg119(10.0)
    assert opened.plan.patient_id == str(ds.PatientID) == "TG119"
    # the record's MU are the RT Plan's own, beam by beam
    metersets = [float(b.BeamMeterset) for b in ds.FractionGroupSequence[0].ReferencedBeamSequence]
    assert [b["mu_per_fraction"] for b in opened.calculation_record["beams"]] == pytest.approx(metersets, rel=1e-9)
    assert opened.status is SignatureStatus.UNSIGNED
    assert opened.message == DRAFT_MESSAGE and not opened.treatable


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dciodvfy is not installed")
def test_dciodvfy_accepts_the_rt_plan_with_its_embedded_plan(imrt_export):
    errors, _ = dciodvfy(imrt_export["export"].rt_plan)
    assert errors == []


def test_signed_by_the_physician_it_awaits_review(imrt_export, tmp_path):
    identity, _, _ = signer(tmp_path, "Dr A. Oncologist")
    signed = tmp_path / "RTPLAN.dcm"
    assert sign_file(imrt_export["export"].rt_plan, signed, identity, CREATOR).valid
    opened = open_signed_plan(signed, [identity.certificate], clinic=CLINIC)
    assert opened.status is SignatureStatus.SIGNED
    assert not opened.treatable and not opened.reviewed
    assert AWAITING_REVIEW in opened.message
    # its review (dose from the signed segments, the independent check): tests/review/test_imrt_review.py


def test_a_leaf_moved_after_signing_breaks_it(imrt_export, tmp_path):
    identity, _, _ = signer(tmp_path, "Dr A. Oncologist")
    signed = tmp_path / "signed.dcm"
    sign_file(imrt_export["export"].rt_plan, signed, identity, CREATOR)
    tampered = tmp_path / "tampered.dcm"
    move_a_leaf_in_the_last_control_point(signed, tampered)
    opened = open_signed_plan(tampered, [identity.certificate], clinic=CLINIC)
    assert opened.status is SignatureStatus.BROKEN
    assert not opened.treatable and REFUSED in opened.message


def test_mu_that_disagree_with_the_embedded_plan_are_refused_even_when_signed(imrt_export, tmp_path):
    ds = dcmread(imrt_export["export"].rt_plan)
    item = ds.FractionGroupSequence[0].ReferencedBeamSequence[2]
    signed_mu = float(item.BeamMeterset)
    item.BeamMeterset = f"{signed_mu * 1.1:.4f}"
    changed = tmp_path / "changed.dcm"
    ds.save_as(changed)
    identity, _, _ = signer(tmp_path, "Dr A. Oncologist")
    signed = tmp_path / "signed.dcm"
    sign_file(changed, signed, identity, CREATOR)     # a valid signature over disagreeing content
    opened = open_signed_plan(signed, [identity.certificate], clinic=CLINIC)
    assert opened.status is SignatureStatus.SIGNED and not opened.treatable
    assert "MU per fraction: RT Plan" in opened.message and REFUSED in opened.message
    assert f"embedded plan {signed_mu:g}" in opened.message


def test_a_revision_references_the_plan_it_revises(tmp_path):
    """An edited approved IMRT plan is exported as a new RT Plan naming its predecessor (PS3.3 C.8.8.9:
    Referenced RT Plan Sequence, RT Plan Relationship PREDECESSOR), as a revised surface plan is."""
    approved_uid = "1.2.826.0.1.3680043.8.498.12345678901234567890"
    export = small_tg119_export(tmp_path / "revision", lambda plan: InverseSource(
        plan, VolumeSource.tg119(10.0), "model", "calibration"), predecessor_uid=approved_uid)[1]
    (item,) = dcmread(export.rt_plan).ReferencedRTPlanSequence
    assert (item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID, item.RTPlanRelationship) == (
        "1.2.840.10008.5.1.4.1.1.481.5", approved_uid, "PREDECESSOR")
    if shutil.which("dciodvfy"):
        errors, _ = dciodvfy(export.rt_plan)
        assert errors == []
