"""Delivered fractions as DICOM treatment records (issue 17, point 5): an exported kV plan gives an RT Beams
Treatment Record, an exported eBx plan an RT Brachy Treatment Record, judged by dciodvfy (dicom3tools) and
read back with dcmdump (dcmtk) and pydicom. The expected values are written out by hand: the SOP Class
UIDs from PS3.4 Annex B, 90 s = 1.5 min, the recorded date, time, operator and fraction number."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
from dataclasses import replace

import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file

from planner.core.course import Course, CoursePhase
from planner.core.prescription import Prescription
from planner.core.errors import PlannerError
from planner.dicom.export import export_plan
from planner.dicom.identity import encode
from planner.dicom.inverse_payload import InverseSource
from planner.dicom.signatures import CREATOR, sign_file, verify_dataset
from planner.core.inverse_plan_file import VolumeSource
from planner.dicom.treatment_record import TreatmentRecordError, write_fraction_record
from tests.dicom.export_fixtures import dciodvfy, demo_ebx_case, demo_kv_case
from tests.dicom.signature_fixtures import signer

pytestmark = pytest.mark.skipif(shutil.which("dciodvfy") is None or shutil.which("dcmdump") is None,
                                reason="dciodvfy (dicom3tools) and dcmdump (dcmtk) are needed")

RT_PLAN_CLASS = "1.2.840.10008.5.1.4.1.1.481.5"            # PS3.4 B.5: RT Plan Storage
BEAMS_RECORD_CLASS = "1.2.840.10008.5.1.4.1.1.481.4"       # RT Beams Treatment Record Storage
BRACHY_RECORD_CLASS = "1.2.840.10008.5.1.4.1.1.481.6"      # RT Brachy Treatment Record Storage
DAY_1, DAY_2 = dt.date(2026, 11, 2), dt.date(2026, 11, 4)
AT = dt.time(9, 30, 5)
EXPORTED = dt.datetime(2026, 10, 30, 16, 0)   # the RT Plans are made before the first fraction
OPERATOR = "Lee^Ann"
# The eBx RT Plan uses "SURFACE" as Application Setup Type (planner.dicom.rt_plan: no Defined Term
# describes a skin applicator); the record repeats the plan's value, and dciodvfy warns the same way.
ACCEPTED_BRACHY_WARNING = "Unrecognized defined term <SURFACE> for value 1 of attribute <Application Setup Type>"


def dcmdump_values(path, tag: str) -> list[str]:
    """Every value of `tag` ("gggg,eeee") anywhere in the file, as dcmdump prints it."""
    run = subprocess.run(["dcmdump", "-Un", "+P", tag, str(path)], capture_output=True, text=True, timeout=60, check=True)
    return re.findall(r"\[(.*?)\]", run.stdout)


def started_course(plan, planned_s: float, *records):
    course = Course(plan.prescription.fractions, plan.prescription.dose_per_fraction_gy, planned_s, 7)
    for on, seconds, remarks in records:
        course = course.record(on, seconds, OPERATOR, remarks, today=dt.date(2026, 12, 1))
    return plan.with_course(course)


@pytest.fixture(scope="module")
def kv(tmp_path_factory):
    """The demo's kV plan exported, its RT Plan read from disk, a course of two fractions (90 s, 60 s)."""
    folder = tmp_path_factory.mktemp("kv-record")
    image, plan, technique, dose = demo_kv_case()
    rt_plan = dcmread(export_plan(plan, dose, image, technique, folder / "package", now=EXPORTED).rt_plan)
    planned_s = round(float(rt_plan.FractionGroupSequence[0].ReferencedBeamSequence[0].BeamMeterset) * 60.0, 1)
    plan = started_course(plan, planned_s, (DAY_1, 90.0, "mild erythema"), (DAY_2, 60.0, ""))
    return {"folder": folder, "rt_plan": rt_plan, "plan": plan, "planned_s": planned_s}


@pytest.fixture(scope="module")
def ebx(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ebx-record")
    image, plan, technique, dose = demo_ebx_case()
    rt_plan = dcmread(export_plan(plan, dose, image, technique, folder / "package", now=EXPORTED).rt_plan)
    channel = rt_plan.ApplicationSetupSequence[0].ChannelSequence[0]
    planned_s = round(float(channel.ChannelTotalTime), 1)
    plan = started_course(plan, planned_s, (DAY_1, 90.0, ""))
    return {"folder": folder, "rt_plan": rt_plan, "plan": plan, "planned_s": planned_s}


def test_a_kv_fraction_is_an_rt_beams_treatment_record_dciodvfy_accepts(kv):
    path = write_fraction_record(kv["rt_plan"], kv["plan"], kv["plan"].course.records[0], kv["folder"] / "F1.dcm",
                                 delivered_time=AT)
    errors, warnings = dciodvfy(path)
    assert errors == []
    assert warnings == []
    assert dcmdump_values(path, "0008,0016") == [BEAMS_RECORD_CLASS]


def test_the_kv_record_references_the_rt_plan_and_holds_what_was_recorded(kv):
    rt_plan, plan = kv["rt_plan"], kv["plan"]
    path = write_fraction_record(rt_plan, plan, plan.course.records[0], kv["folder"] / "F1-read.dcm", delivered_time=AT)
    # dcmtk's reading
    assert dcmdump_values(path, "0008,1150") == [RT_PLAN_CLASS]
    assert dcmdump_values(path, "0008,1155") == [rt_plan.SOPInstanceUID]
    assert dcmdump_values(path, "3008,0250") == ["20261102"]             # Treatment Date
    assert dcmdump_values(path, "3008,0251") == ["093005"]               # Treatment Time
    assert dcmdump_values(path, "0008,1070") == [OPERATOR]               # Operators' Name
    assert dcmdump_values(path, "3008,0022") == ["1"]                    # Current Fraction Number
    assert dcmdump_values(path, "3008,0036") == ["1.5"]                  # Delivered Primary Meterset: 90 s in min
    # pydicom's reading
    record = dcmread(path)
    session = record.TreatmentSessionBeamSequence[0]
    assert record.PrimaryDosimeterUnit == rt_plan.BeamSequence[0].PrimaryDosimeterUnit == "MINUTE"
    assert float(session.DeliveredPrimaryMeterset) == pytest.approx(1.5)
    assert float(session.SpecifiedPrimaryMeterset) == pytest.approx(
        float(rt_plan.FractionGroupSequence[0].ReferencedBeamSequence[0].BeamMeterset))
    assert float(session.DeliveredTreatmentTime) == pytest.approx(90.0)
    assert float(session.ControlPointDeliverySequence[-1].DeliveredMeterset) == pytest.approx(1.5)
    assert session.ControlPointDeliverySequence[-1].TreatmentControlPointTime == "093135"   # 09:30:05 + 90 s
    assert session.TreatmentTerminationStatus == "NORMAL"
    assert record.TreatmentMachineSequence[0].TreatmentMachineName == rt_plan.BeamSequence[0].TreatmentMachineName
    for keyword in ("PatientID", "PatientName", "PatientBirthDate", "PatientSex", "StudyInstanceUID", "StudyID"):
        assert record[keyword].value == rt_plan[keyword].value, keyword
    assert record.Modality == "RTRECORD"
    assert record.TreatmentStatusComment == "mild erythema"
    # the fraction's dose: 7 Gy × 90 s / planned s (dose ∝ beam-on time), to the plan's dose reference
    dose = record.CalculatedDoseReferenceSequence[0]
    assert float(dose.CalculatedDoseReferenceDoseValue) == pytest.approx(7.0 * 90.0 / kv["planned_s"], rel=1e-9)
    assert dose.ReferencedDoseReferenceNumber == rt_plan.DoseReferenceSequence[0].DoseReferenceNumber


def test_the_second_fraction_joins_the_first_ones_series_and_sums_the_course(kv):
    rt_plan, plan = kv["rt_plan"], kv["plan"]
    first = dcmread(write_fraction_record(rt_plan, plan, plan.course.records[0], kv["folder"] / "S1.dcm",
                                          delivered_time=AT))
    second_path = write_fraction_record(rt_plan, plan, plan.course.records[1], kv["folder"] / "S2.dcm",
                                        delivered_time=dt.time(14, 0))
    assert dciodvfy(second_path)[0] == []
    second = dcmread(second_path)
    assert second.SeriesInstanceUID == first.SeriesInstanceUID
    assert second.SOPInstanceUID != first.SOPInstanceUID
    assert second.InstanceNumber == 2 and second.TreatmentSessionBeamSequence[0].CurrentFractionNumber == 2
    assert float(second.TreatmentSessionBeamSequence[0].DeliveredPrimaryMeterset) == pytest.approx(1.0)  # 60 s
    total = second.TreatmentSummaryCalculatedDoseReferenceSequence[0].CumulativeDoseToDoseReference
    assert float(total) == pytest.approx(7.0 * (90.0 + 60.0) / kv["planned_s"], rel=1e-9)
    assert second.FirstTreatmentDate == "20261102" and second.MostRecentTreatmentDate == "20261104"


def test_the_rt_plan_given_is_left_as_read(kv):
    before = encode(kv["rt_plan"])
    write_fraction_record(kv["rt_plan"], kv["plan"], kv["plan"].course.records[0], kv["folder"] / "same.dcm",
                          delivered_time=AT)
    assert encode(kv["rt_plan"]) == before


def test_a_signed_rt_plan_is_recorded_against_and_its_signature_stays_intact(kv):
    identity, _, _ = signer(kv["folder"], "Oncologist^Olga")
    signed_path = kv["folder"] / "RTPLAN-signed.dcm"
    sign_file(kv["folder"] / "package" / "RTPLAN.dcm", signed_path, identity, CREATOR)
    signed = dcmread(signed_path)
    path = write_fraction_record(signed, kv["plan"], kv["plan"].course.records[0], kv["folder"] / "signed-F1.dcm",
                                 delivered_time=AT)
    assert dciodvfy(path)[0] == []
    assert dcmread(path).ReferencedRTPlanSequence[0].ReferencedSOPInstanceUID == signed.SOPInstanceUID
    checks = verify_dataset(signed)
    assert len(checks) == 1 and checks[0].valid


def test_an_ebx_fraction_is_an_rt_brachy_treatment_record_dciodvfy_accepts(ebx):
    rt_plan, plan = ebx["rt_plan"], ebx["plan"]
    path = write_fraction_record(rt_plan, plan, plan.course.records[0], ebx["folder"] / "F1.dcm", delivered_time=AT)
    errors, warnings = dciodvfy(path)
    assert errors == []
    assert warnings == [f"Warning - {ACCEPTED_BRACHY_WARNING}"]
    assert dcmdump_values(path, "0008,0016") == [BRACHY_RECORD_CLASS]
    assert dcmdump_values(path, "0008,1155") == [rt_plan.SOPInstanceUID]
    assert dcmdump_values(path, "3008,0134") == ["90.0"]                 # Delivered Channel Total Time (s)
    record = dcmread(path)
    assert (record.TreatmentDate, record.TreatmentTime, record.OperatorsName) == ("20261102", "093005", OPERATOR)
    setup = record.TreatmentSessionApplicationSetupSequence[0]
    channel = setup.RecordedChannelSequence[0]
    planned = rt_plan.ApplicationSetupSequence[0].ChannelSequence[0]
    assert setup.CurrentFractionNumber == 1 and setup.TreatmentTerminationStatus == "NORMAL"
    assert setup.ApplicationSetupName == rt_plan.ApplicationSetupSequence[0].ApplicationSetupName
    assert channel.ChannelNumber == planned.ChannelNumber
    assert float(channel.SpecifiedChannelTotalTime) == pytest.approx(float(planned.ChannelTotalTime))
    assert float(channel.DeliveredChannelTotalTime) == pytest.approx(90.0)
    assert record.RecordedSourceSequence[0].SourceIsotopeName == rt_plan.SourceSequence[0].SourceIsotopeName
    assert record.TreatmentMachineSequence[0].TreatmentMachineName == \
        rt_plan.TreatmentMachineSequence[0].TreatmentMachineName
    assert (record.BrachyTreatmentTechnique, record.BrachyTreatmentType) == ("CONTACT", "HDR")
    for keyword in ("PatientID", "PatientName", "StudyInstanceUID"):
        assert record[keyword].value == rt_plan[keyword].value, keyword
    assert float(record.CalculatedDoseReferenceSequence[0].CalculatedDoseReferenceDoseValue) == \
        pytest.approx(7.0 * 90.0 / ebx["planned_s"], rel=1e-9)


# ----------------------------------------------------------------------------------------- a re-planned course

DAY_3 = dt.date(2026, 11, 9)
REPLANNED = dt.datetime(2026, 11, 6, 12, 0)      # the revision's RT Plan, made between fractions 2 and 3


@pytest.fixture(scope="module")
def replanned(tmp_path_factory, kv):
    """The kV course of 5 × 7 Gy re-planned after fraction 2: a second RT Plan for the 3 fractions left (same unit,
    same 7 Gy), the course's second phase naming its UID, fraction 3 recorded (75 s)."""
    folder = tmp_path_factory.mktemp("kv-replanned")
    image, plan, technique, dose = demo_kv_case(Prescription(7.0, 3))
    rt_plan = dcmread(export_plan(plan, dose, image, technique, folder / "revision", now=REPLANNED).rt_plan)
    specified_s = float(rt_plan.FractionGroupSequence[0].ReferencedBeamSequence[0].BeamMeterset) * 60.0
    planned_s = round(specified_s, 1)
    first_uid = str(kv["rt_plan"].SOPInstanceUID)
    course = (kv["plan"].course
              .replanned(first_uid, CoursePhase("", 3, 3, 7.0, planned_s, "deeper lesion", REPLANNED.date()))
              .with_current_rt_plan_uid(str(rt_plan.SOPInstanceUID))
              .record(DAY_3, 75.0, OPERATOR, today=dt.date(2026, 12, 1)))
    return {"folder": folder, "rt_plan": rt_plan, "plan": plan.with_course(course), "planned_s": planned_s,
            "specified_s": specified_s}


def test_the_revisions_first_fraction_is_fraction_1_of_its_rt_plan_and_3_of_the_course(kv, replanned):
    plan, rt_plan = replanned["plan"], replanned["rt_plan"]
    path = write_fraction_record(rt_plan, plan, plan.course.records[2], replanned["folder"] / "F3.dcm",
                                 delivered_time=AT)
    assert dciodvfy(path) == ([], [])
    assert dcmdump_values(path, "0008,1155") == [rt_plan.SOPInstanceUID]   # the revision's RT Plan, not the first
    assert dcmdump_values(path, "300a,0078") == ["3"]    # Number of Fractions Planned: the revision's group
    assert dcmdump_values(path, "3008,0022") == ["1"]    # Current Fraction Number: its first of 3
    assert dcmdump_values(path, "0020,0013") == ["3"]    # Instance Number: the course's third fraction
    record = dcmread(path)
    assert float(record.CalculatedDoseReferenceSequence[0].CalculatedDoseReferenceDoseValue) == \
        pytest.approx(7.0 * 75.0 / replanned["planned_s"], rel=1e-9)
    # the course so far: 7 Gy × 90 s and 60 s over the first RT Plan's time, 7 Gy × 75 s over the revision's
    total = record.TreatmentSummaryCalculatedDoseReferenceSequence[0].CumulativeDoseToDoseReference
    assert float(total) == pytest.approx(7.0 * 150.0 / kv["planned_s"] + 7.0 * 75.0 / replanned["planned_s"],
                                         rel=1e-9)
    assert record.FirstTreatmentDate == "20261102" and record.CurrentTreatmentStatus == "ON_TREATMENT"


@pytest.mark.parametrize("number, given_to, under, phase_from", [
    (3, "kv", "replanned", 3),      # a fraction of the revision against the superseded RT Plan
    (2, "replanned", "kv", 1),      # a fraction of the first phase against the revision
])
def test_a_fraction_against_another_phases_rt_plan_is_refused_naming_both(kv, replanned, tmp_path, number, given_to,
                                                                         under, phase_from):
    rt_plans = {"kv": kv["rt_plan"], "replanned": replanned["rt_plan"]}
    plan = replanned["plan"]
    message = refused(tmp_path, rt_plans[given_to], plan, plan.course.records[number - 1])
    assert message == (f"fraction {number} is given under RT Plan {rt_plans[under].SOPInstanceUID} (the course's "
                       f"phase from fraction {phase_from}), not RT Plan {rt_plans[given_to].SOPInstanceUID}: record "
                       f"it against its own RT Plan")


def test_a_revision_whose_phase_has_another_time_is_refused(replanned, tmp_path):
    plan = replanned["plan"]
    phase = replace(plan.course.later_phases[0], planned_time_s=replanned["planned_s"] + 10.0)
    course = replace(plan.course, later_phases=(phase,))
    message = refused(tmp_path, replanned["rt_plan"], plan.with_course(course), course.records[2])
    assert message == (f"RT Plan {replanned['rt_plan'].SOPInstanceUID} specifies {replanned['specified_s']:.2f} s per "
                       f"fraction, the course {replanned['planned_s'] + 10.0:.2f} s from fraction 3: record against "
                       f"the RT Plan the course's fraction 3 is given under")


# ----------------------------------------------------------------------------------------- refusals

def refused(tmp_path, rt_plan, plan, record, *, delivered_time=AT) -> str:
    out = tmp_path / "refused.dcm"
    with pytest.raises(TreatmentRecordError) as caught:
        write_fraction_record(rt_plan, plan, record, out, delivered_time=delivered_time)
    assert isinstance(caught.value, PlannerError)
    assert "\n" not in str(caught.value)
    assert not out.exists()
    return str(caught.value)


def test_a_fraction_the_course_does_not_have_is_refused(kv, tmp_path):
    plan = kv["plan"]
    stranger = replace(plan.course.records[0], dwell_time_s=45.0)
    message = refused(tmp_path, kv["rt_plan"], plan, stranger)
    assert message == ("fraction 1 of 2026-11-02 (45 s, Lee^Ann) is not a fraction of the course, which records "
                       "fractions 1–2")


def test_a_plan_without_a_course_is_refused(kv, tmp_path):
    message = refused(tmp_path, kv["rt_plan"], kv["plan"].with_course(None), kv["plan"].course.records[0])
    assert message == "the plan has no treatment course: start the course and record the fraction first"


def test_an_rt_plan_without_sop_instance_uid_is_refused(kv, tmp_path):
    rt_plan = dcmread(kv["folder"] / "package" / "RTPLAN.dcm")
    del rt_plan.SOPInstanceUID
    message = refused(tmp_path, rt_plan, kv["plan"], kv["plan"].course.records[0])
    assert message == "the RT Plan has no SOP Instance UID: a treatment record could not reference it"


def test_pydicoms_own_rt_plan_is_refused_as_foreign(kv, tmp_path):
    foreign = dcmread(get_testdata_file("rtplan.dcm"))
    message = refused(tmp_path, foreign, kv["plan"], kv["plan"].course.records[0])
    assert message.startswith(f"RT Plan {foreign.SOPInstanceUID} (")
    assert message.endswith("was not exported by Planner (it embeds no Planner plan): a treatment record is written "
                            "only against the RT Plan the course's plan was exported as")


def test_an_imrt_rt_plan_is_refused(kv, tmp_path):
    from tests.dicom.test_imrt_signature import small_tg119_export

    _, export = small_tg119_export(tmp_path / "imrt", lambda plan: InverseSource(
        plan, VolumeSource.tg119(10.0), "test model words", "test calibration words"))
    rt_plan = dcmread(export.rt_plan)
    message = refused(tmp_path, rt_plan, kv["plan"], kv["plan"].course.records[0])
    assert message == (f"RT Plan {rt_plan.SOPInstanceUID} is an IMRT plan: treatment records are written for "
                       f"superficial kV and surface eBx plans only")


def test_an_rt_plan_of_the_other_surface_technique_is_refused(kv, ebx, tmp_path):
    message = refused(tmp_path, ebx["rt_plan"], kv["plan"], kv["plan"].course.records[0])
    assert message == (f"RT Plan {ebx['rt_plan'].SOPInstanceUID} is for technique 'ebx-surface', the course's plan "
                       f"for 'superficial-kv': record the fraction against its own RT Plan")


def test_an_rt_plan_of_another_setup_is_refused(kv, tmp_path):
    plan = kv["plan"].with_setup(applicator_id="cone-30mm")
    message = refused(tmp_path, kv["rt_plan"], plan, plan.course.records[0])
    assert message == (f"RT Plan {kv['rt_plan'].SOPInstanceUID} is not the course's plan: its treatment unit differs; "
                       f"record the fraction against the RT Plan the course's plan was exported as")


def test_a_course_started_with_another_time_is_refused(kv, tmp_path):
    plan = started_course(kv["plan"], kv["planned_s"] + 10.0, (DAY_1, 90.0, ""))
    message = refused(tmp_path, kv["rt_plan"], plan, plan.course.records[0])
    assert f"the course {kv['planned_s'] + 10.0:.2f} s from fraction 1" in message


def test_a_fraction_delivered_before_the_rt_plan_was_made_is_refused(kv, tmp_path):
    plan = started_course(kv["plan"], kv["planned_s"], (dt.date(2026, 10, 29), 90.0, ""))
    message = refused(tmp_path, kv["rt_plan"], plan, plan.course.records[0])
    assert message == (f"fraction 1 was delivered on 2026-10-29, before RT Plan {kv['rt_plan'].SOPInstanceUID} was "
                       f"made (2026-10-30): record it against the RT Plan it was delivered from")


def test_without_the_time_of_day_nothing_is_written(kv, tmp_path):
    message = refused(tmp_path, kv["rt_plan"], kv["plan"], kv["plan"].course.records[0], delivered_time=None)
    assert message == ("fraction 1: the time of day it was delivered is needed (a treatment record's delivery is "
                       "time-stamped)")


def test_an_existing_record_is_replaced_only_on_request(kv, tmp_path):
    out = tmp_path / "F1.dcm"
    out.write_bytes(b"keep")
    with pytest.raises(TreatmentRecordError, match="already exists"):
        write_fraction_record(kv["rt_plan"], kv["plan"], kv["plan"].course.records[0], out, delivered_time=AT)
    assert out.read_bytes() == b"keep"
    write_fraction_record(kv["rt_plan"], kv["plan"], kv["plan"].course.records[0], out, delivered_time=AT,
                          overwrite=True)
    assert dcmread(out).SOPClassUID == BEAMS_RECORD_CLASS
