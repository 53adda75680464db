"""A signed plan changed after signing (issue 15, point 8): the changed values side by side, and the
signature itself tells which value was the signed one."""

import pytest
from pydicom import dcmread

from planner.dicom.export import export_plan
from planner.dicom.signatures import sign_file
from planner.dicom.signed_plan import open_signed_plan
from planner.dicom.tamper_evidence import EMBEDDED_SIGNED, RT_PLAN_SIGNED, ChangedValue
from tests.dicom.export_fixtures import demo_kv_case
from tests.dicom.signature_fixtures import flip_byte_after, save, signer


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    planning_image, plan, technique, dose = demo_kv_case()
    return export_plan(plan, dose, planning_image, technique, tmp_path_factory.mktemp("export")).rt_plan


@pytest.fixture
def signed(exported, tmp_path):
    identity, _key, _cert = signer(tmp_path, "Dr A. Oncologist")
    path = tmp_path / "RTPLAN.dcm"
    sign_file(exported, path, identity, "creator")
    return path, identity


def test_an_intact_or_unsigned_plan_has_no_evidence(exported, signed):
    path, identity = signed
    assert open_signed_plan(exported).evidence is None
    assert open_signed_plan(path, [identity.certificate]).evidence is None


def test_a_patient_name_changed_in_the_rt_plan_is_shown_beside_the_signed_one(signed):
    path, identity = signed
    ds = dcmread(path)
    ds.PatientName = "Other^Patient"
    ds.save_as(path)
    evidence = open_signed_plan(path, [identity.certificate]).evidence
    assert evidence.broken and evidence.signed_side == EMBEDDED_SIGNED
    assert evidence.rows() == (ChangedValue("patient name", "DEMO^Patient", "Other^Patient"),)
    assert evidence.where_changed().startswith("the RT Plan's own attributes (what the treatment unit delivers) "
                                               "were changed after signing")


def test_a_dose_changed_in_the_embedded_plan_is_shown_beside_the_signed_one(signed):
    path, identity = signed
    flip_byte_after(path, b'"dose_per_fraction_gy":', 0)      # 7.0 → 6.0 Gy in what Planner shows
    opened = open_signed_plan(path, [identity.certificate])
    assert opened.plan.prescription.dose_per_fraction_gy == 6.0
    evidence = opened.evidence
    assert evidence.broken and evidence.signed_side == RT_PLAN_SIGNED
    assert evidence.rows() == (ChangedValue("dose per fraction (Gy)", "7", "6"),)


def test_when_the_signature_cannot_tell_both_values_are_shown_as_they_are(signed):
    path, identity = signed
    ds = dcmread(path)
    ds.PatientName = "Other^Patient"
    ds.RTPlanLabel = "changed too"                             # a second change, in no compared value
    ds.save_as(path)
    evidence = open_signed_plan(path, [identity.certificate]).evidence
    assert evidence.broken and evidence.signed_side is None
    assert evidence.rows() == (ChangedValue("patient name", "DEMO^Patient", "Other^Patient"),)
    assert "cannot tell which" in evidence.where_changed()


def test_an_intact_plan_that_disagrees_with_itself_is_shown_but_not_called_changed(exported, tmp_path):
    ds = dcmread(exported)
    ds.FractionGroupSequence[0].ReferencedBeamSequence[0].BeamMeterset = "9.5"
    altered = save(ds, tmp_path / "altered.dcm")
    identity, _key, _cert = signer(tmp_path, "Dr A. Oncologist")
    path = tmp_path / "RTPLAN.dcm"
    sign_file(altered, path, identity, "creator")
    evidence = open_signed_plan(path, [identity.certificate]).evidence
    assert not evidence.broken and evidence.signed_side is None
    (row,) = evidence.rows()
    assert row.what == "beam-on time (min)" and row.current == "9.5"
    assert evidence.where_changed().startswith("the signed plan disagrees with itself")
