"""The plan embedded in its RT Plan: it round-trips, dciodvfy still accepts the RT Plan, the creator
signature covers it (Planner and dcmsign agree), and a changed byte in it breaks the signature."""

import json

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset

from planner.core.plan_file import plan_to_dict
from planner.dicom.export import export_plan
from planner.dicom.plan_payload import (PRIVATE_CREATOR, PRIVATE_GROUP, PlanPayloadError, add_plan_payload,
                                        calculation_record, payload_disagreements, read_plan_payload,
                                        same_calculation)
from planner.dicom.signatures import sign_file, verify_file
from planner.dicom.signed_plan import open_signed_plan
from tests.dicom.export_fixtures import dciodvfy, demo_ebx_case, demo_kv_case
from tests.dicom.signature_fixtures import dcmsign_verify, flip_byte_after, requires_dcmsign, signer

PLAN_TAG = (PRIVATE_GROUP << 16) | 0x1000
RECORD_TAG = (PRIVATE_GROUP << 16) | 0x1001


@pytest.fixture(scope="module")
def kv_case():
    return demo_kv_case()


@pytest.fixture(scope="module")
def kv_rt_plan(kv_case, tmp_path_factory):
    planning_image, plan, technique, dose = kv_case
    return export_plan(plan, dose, planning_image, technique, tmp_path_factory.mktemp("kv")).rt_plan


def test_the_plan_and_its_calculation_round_trip_through_the_rt_plan(kv_case, kv_rt_plan):
    _, plan, _, dose = kv_case
    ds = dcmread(kv_rt_plan)
    assert ds[(PRIVATE_GROUP << 16) | 0x0010].value == PRIVATE_CREATOR
    assert ds[PLAN_TAG].VR == ds[RECORD_TAG].VR == "UT"
    embedded, record = read_plan_payload(ds)
    assert embedded == plan
    assert json.loads(ds[PLAN_TAG].value) == json.loads(json.dumps(plan_to_dict(plan)))
    assert same_calculation(record, calculation_record(plan, dose))
    assert record["treatment_time_min"] == dose.treatment_time_min and record["time_name"] == "treatment time"
    assert record["ssd_cm"] == dose.ssd_cm and record["applicator"] == "cone-20mm" and record["energy"] == "100kV"
    assert record["dose_at_prescription_depth_gy"] == dose.dose_at_prescription_depth_gy
    assert record["model"] == dose.model_description and record["demo_commissioning"] is True
    assert payload_disagreements(ds, embedded, record) == ()


def test_the_payload_is_ascii_json_compact_with_sorted_keys(kv_rt_plan):
    raw = dcmread(kv_rt_plan).get_item(PLAN_TAG).value  # the stored bytes
    text = raw.decode("ascii").rstrip(" ")
    assert text == json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def test_dciodvfy_accepts_the_rt_plan_with_its_private_block(kv_rt_plan):
    errors, warnings = dciodvfy(kv_rt_plan)
    assert errors == [] and warnings == []


def test_an_ebx_plan_carries_its_dwell_time(tmp_path):
    planning_image, plan, technique, dose = demo_ebx_case()
    files = export_plan(plan, dose, planning_image, technique, tmp_path)
    ds = dcmread(files.rt_plan)
    embedded, record = read_plan_payload(ds)
    assert embedded == plan and record["time_name"] == "dwell time"
    assert record["treatment_time_min"] == dose.treatment_time_min
    assert payload_disagreements(ds, embedded, record) == ()
    assert dciodvfy(files.rt_plan)[0] == []


@requires_dcmsign
def test_the_creator_signature_covers_the_plan_and_dcmsign_accepts_it(kv_rt_plan, tmp_path):
    identity, _key, cert = signer(tmp_path, "Dr A. Oncologist")
    signed = tmp_path / "RTPLAN.dcm"
    sign_file(kv_rt_plan, signed, identity, "creator")
    (check,) = verify_file(signed, [identity.certificate])
    assert check.valid and check.trusted
    assert check.attributes_not_signed == ("(300E,0002) ApprovalStatus",)  # the payload is signed
    result = dcmsign_verify(signed, cert)
    assert result.returncode == 0, result.stdout + result.stderr
    assert dciodvfy(signed)[0] == []


@requires_dcmsign
def test_a_changed_byte_in_the_embedded_plan_breaks_the_signature_in_planner_and_dcmsign(kv_rt_plan, tmp_path):
    identity, _key, cert = signer(tmp_path, "Dr A. Oncologist")
    signed = tmp_path / "RTPLAN.dcm"
    sign_file(kv_rt_plan, signed, identity, "creator")
    flip_byte_after(signed, b'"dose_per_fraction_gy":')  # 7.0 becomes 6.0: still a readable plan

    opened = open_signed_plan(signed, [identity.certificate])
    assert opened.status.value == "signature broken" and not opened.treatable
    assert opened.message == ("signature 1 (creator, Dr A. Oncologist, Test Clinic): the signed data changed "
                              "since signing — refused for treatment")
    assert opened.plan.prescription.dose_per_fraction_gy == 6.0  # shown as it is, never "fixed"
    assert dcmsign_verify(signed, cert).returncode != 0


@requires_dcmsign
def test_re_encoded_as_implicit_vr_the_signature_reads_as_broken_in_both(kv_rt_plan, tmp_path):
    """The module docstring's claim: a private element's VR is lost in Implicit VR (UN)."""
    identity, _key, cert = signer(tmp_path, "Dr A. Oncologist")
    signed = tmp_path / "RTPLAN.dcm"
    sign_file(kv_rt_plan, signed, identity, "creator")
    ds = dcmread(signed)
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2"
    ds.save_as(tmp_path / "implicit.dcm", enforce_file_format=True)
    assert not verify_file(tmp_path / "implicit.dcm", [identity.certificate])[0].valid
    assert dcmsign_verify(tmp_path / "implicit.dcm", cert).returncode != 0
    assert read_plan_payload(dcmread(tmp_path / "implicit.dcm"))[0] == read_plan_payload(dcmread(signed))[0]


def test_the_block_is_found_wherever_its_creator_reserved_it(kv_case):
    """PS3.5 7.8.1: a reader looks the creator up; another vendor may hold (3259,0010)."""
    _, plan, _, dose = kv_case
    ds = Dataset()
    ds.private_block(PRIVATE_GROUP, "OTHER VENDOR", create=True).add_new(0x00, "LO", "theirs")
    add_plan_payload(ds, plan, calculation_record(plan, dose))
    assert ds[(PRIVATE_GROUP << 16) | 0x0011].value == PRIVATE_CREATOR
    assert read_plan_payload(ds)[0] == plan
    with pytest.raises(PlanPayloadError, match="already holds"):
        add_plan_payload(ds, plan, {})


def _with_payload(kv_case, plan_text=None, record_text=None, drop=None) -> Dataset:
    _, plan, _, dose = kv_case
    ds = Dataset()
    add_plan_payload(ds, plan, calculation_record(plan, dose))
    if plan_text is not None:
        ds[PLAN_TAG].value = plan_text
    if record_text is not None:
        ds[RECORD_TAG].value = record_text
    if drop is not None:
        del ds[drop]
    return ds


@pytest.mark.parametrize("change, message", [
    (lambda case: Dataset(), "no embedded Planner plan"),
    (lambda case: _with_payload(case, plan_text='{"format":"planner-plan","vers'), "plan is garbled"),
    (lambda case: _with_payload(case, plan_text='{"format":"planner-plan","version":2}'),
     "embedded plan cannot be read: plan file lacks the field 'patient'"),
    (lambda case: _with_payload(case, record_text="[1, 2]"), "calculation record is not a JSON object"),
    (lambda case: _with_payload(case, drop=RECORD_TAG), r"calculation record is missing \(3259,1001\)"),
])
def test_a_missing_or_garbled_payload_is_named(kv_case, change, message):
    with pytest.raises(PlanPayloadError, match=message):
        read_plan_payload(change(kv_case))


def test_two_planner_blocks_are_refused_as_ambiguous(kv_case):
    ds = _with_payload(kv_case)
    ds.add_new((PRIVATE_GROUP << 16) | 0x0011, "LO", PRIVATE_CREATOR)
    with pytest.raises(PlanPayloadError, match="appears 2 times"):
        read_plan_payload(ds)


def test_rt_plan_attributes_that_disagree_with_the_embedded_plan_are_named(kv_rt_plan):
    ds = dcmread(kv_rt_plan)
    plan, record = read_plan_payload(ds)
    ds.FractionGroupSequence[0].NumberOfFractionsPlanned = 6
    ds.FractionGroupSequence[0].ReferencedBeamSequence[0].BeamMeterset = "3.0"
    ds.BeamSequence[0].TreatmentMachineName = "other-unit"
    problems = payload_disagreements(ds, plan, record)
    assert problems == ("number of fractions: RT Plan 6, embedded plan 5",
                        f"machine: RT Plan 'other-unit', embedded plan '{plan.setup.machine_id}'",
                        f"beam-on time (min): RT Plan 3, embedded plan {record['treatment_time_min']:g}")
