"""The course's DICOM objects (issue 17, point 5), without a network: the course object carries the course as
the plan file holds it, names every image and record by the UIDs pydicom reads from those files, and passes
dciodvfy; a PNG session becomes a Secondary Capture image of the plan's patient with the picture's pixels; an
image of another patient or a fraction without its record is refused before anything is made; of several
course objects, the newest of the current plan is the course.

`course_package` (also used by test_course_through_pacs.py) builds a real course through the command line:
an exported kV package, the course started, a DICOM baseline, three fractions with their records, a DICOM
session after fraction 2 and a PNG follow-up."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydicom import dcmread
from pydicom.uid import RawDataStorage, SecondaryCaptureImageStorage

from planner.cli import course_commands
from planner.core.course import Course, CoursePhase, course_to_dict
from planner.core.plan_file import load_plan, save_plan
from planner.dicom.course_fetch import CourseFetchError, CourseNotOnPacs, choose_course
from planner.dicom.course_objects import (COURSE_CREATOR, CourseObjectError, CoursePayload, InstanceRef,
                                          prepare_course_objects, read_course_object)
from planner.dicom.export import export_plan
from planner.imaging import write_ultrasound_dicom
from planner.imaging.synthetic import make_dermal_ultrasound
from tests.cli_runner import planner
from tests.dicom.export_fixtures import dciodvfy, demo_kv_case

pytestmark = pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dciodvfy (dicom3tools) is needed")

TODAY = dt.date.today()
EXPORTED = dt.datetime.combine(TODAY - dt.timedelta(days=40), dt.time(16, 0))
RECORD = {"engine": "kept as written"}
# Laterality unknown is empty (Type 2C); dciodvfy errors when it is absent and warns when empty, as for the
# demo ultrasound (planner.imaging.dicom_writer)
LATERALITY_WARNING = ("Warning - is only permitted to be empty when actually unknown; should be absent (not empty) "
                      "if an unpaired body part, and have a value if a paired body part - attribute <Laterality>")
# The purposes of reference are coded in Planner's private scheme (PS3.16 8.2), which dciodvfy does not know
PRIVATE_SCHEME_WARNING = ("Warning - Unrecognized defined term <99PLANNER> for value 1 of attribute "
                          "<Coding Scheme Designator>")
FRACTIONS = ((30, "09:30", "1.5", "Lee^Ann", ""), (28, "10:15", "1.5", "Lee^Ann", "mild erythema"),
             (26, "08:05", "1.4", "Roe^Sam", ""))


def day(back: int) -> str:
    return (TODAY - dt.timedelta(days=back)).isoformat()


def _ok(result):
    assert result.returncode == 0, result.stderr
    return result


def build_course_package(root: Path) -> Path:
    """The package folder of a kV plan whose course holds 3 sessions (DICOM, DICOM, PNG) and 3 fractions."""
    image, plan, technique, dose = demo_kv_case()
    folder = root / "package"
    export_plan(plan, dose, image, technique, folder, now=EXPORTED)
    plan_path = folder / "plan.json"
    save_plan(plan_path, plan, calculation_record=RECORD)
    with pytest.MonkeyPatch.context() as patch:   # the exported dose stands in for the engine (as in test_course_record_fraction)
        patch.setattr(course_commands, "planned_dose", lambda *_: dose)
        _ok(planner("course", "start", plan_path, "--max-gap-days", "7"))
    sessions = []
    for seed in (1, 2):
        case = make_dermal_ultrasound(seed)
        us = write_ultrasound_dicom(root / f"us{seed}.dcm", case.pixels_u8, case.calibration, plan.patient_name,
                                    plan.patient_id, uid_seed=f"course-pacs-{seed}")
        outline = root / f"outline{seed}.csv"
        outline.write_text("".join(f"{x},{y}\n" for x, y in case.tumour_outline_mm), encoding="utf-8")
        sessions.append((us, outline))
    _ok(planner("course", "add-image", plan_path, "--image", sessions[0][0], "--when", "baseline", "--date", day(35),
                "--outline", sessions[0][1]))
    for back, at, minutes, operator, remarks in FRACTIONS:
        _ok(planner("course", "record-fraction", plan_path, "--date", day(back), "--time-min", minutes, "--at", at,
                    "--operator", operator, "--remarks", remarks))
    _ok(planner("course", "add-image", plan_path, "--image", sessions[1][0], "--when", "after:2", "--date", day(28),
                "--outline", sessions[1][1]))
    picture = root / "followup.png"
    Image.fromarray(make_dermal_ultrasound(3).pixels_u8).save(picture)
    _ok(planner("course", "add-image", plan_path, "--image", picture, "--when", "followup:0", "--date", day(1)))
    return plan_path


@pytest.fixture(scope="module")
def course_package(tmp_path_factory) -> Path:
    return build_course_package(tmp_path_factory.mktemp("course"))


def test_the_course_object_carries_the_course_and_names_its_objects(course_package, tmp_path):
    plan = load_plan(course_package)
    objects = prepare_course_objects(plan, course_package.parent, tmp_path)

    assert [p.what for p in objects.parts] == ["the image at baseline", "the image at after fraction 2",
                                                "the image at follow-up week 0", "fraction 1's treatment record",
                                                "fraction 2's treatment record", "fraction 3's treatment record"]
    ds = dcmread(objects.course_object.path)
    assert ds.SOPClassUID == RawDataStorage
    assert (ds.PatientID, ds.PatientName) == (plan.patient_id, plan.patient_name)
    payload = read_course_object(ds)
    # the course exactly as the plan file holds it (read as JSON text, not through Planner)
    assert payload.course == json.loads(course_package.read_text(encoding="utf-8"))["course"]
    uids = {p.what: dcmread(p.path, stop_before_pixels=True).SOPInstanceUID for p in objects.parts}
    assert {when: ref.sop_instance for when, ref in payload.session_images.items()} == {
        "baseline": uids["the image at baseline"], "after:2": uids["the image at after fraction 2"],
        "followup:0": uids["the image at follow-up week 0"]}
    assert {n: ref.sop_instance for n, ref in payload.records.items()} == {
        n: uids[f"fraction {n}'s treatment record"] for n in (1, 2, 3)}
    rt_plan = dcmread(course_package.parent / "RTPLAN.dcm", stop_before_pixels=True)
    assert payload.rt_plan.sop_instance == rt_plan.SOPInstanceUID
    # a DICOM session image is sent as it is: its own file
    assert objects.parts[0].path == course_package.parent.parent / "us1.dcm"
    # every referenced instance is in the Raw Data module's Referenced Instance Sequence, for any reader
    listed = {item.ReferencedSOPInstanceUID: item.PurposeOfReferenceCodeSequence[0].CodeValue
              for item in ds.ReferencedInstanceSequence}
    assert listed == {**{uid: "SESSION" if "image" in what else "RECORD" for what, uid in uids.items()},
                      **{ref.sop_instance: "PACKAGE" for ref in payload.package.values()}}
    assert COURSE_CREATOR in [str(e.value) for e in ds.group_dataset(0x3259) if e.tag.element < 0x100]
    errors, warnings = dciodvfy(objects.course_object.path)
    assert errors == [] and set(warnings) == {LATERALITY_WARNING, PRIVATE_SCHEME_WARNING}


def test_a_png_session_becomes_a_secondary_capture_of_the_plan_patient(course_package, tmp_path):
    plan = load_plan(course_package)
    objects = prepare_course_objects(plan, course_package.parent, tmp_path)
    converted = objects.parts[2].path
    ds = dcmread(converted)
    assert ds.SOPClassUID == SecondaryCaptureImageStorage
    assert (ds.PatientID, ds.PatientName) == (plan.patient_id, plan.patient_name)
    picture = np.asarray(Image.open(course_package.parent.parent / "followup.png"))
    assert np.array_equal(ds.pixel_array, picture)
    assert ds.ContentDate == day(1).replace("-", "")
    errors, warnings = dciodvfy(converted)
    assert errors == [] and warnings == [LATERALITY_WARNING]
    # made again, the same instance: a second send stores no copy
    (tmp_path / "again").mkdir()
    again = prepare_course_objects(plan, course_package.parent, tmp_path / "again")
    assert dcmread(again.parts[2].path).SOPInstanceUID == ds.SOPInstanceUID


def test_an_image_of_another_patient_is_refused(course_package, tmp_path):
    plan = load_plan(course_package)
    case = make_dermal_ultrasound(1)
    other = write_ultrasound_dicom(tmp_path / "other.dcm", case.pixels_u8, case.calibration, "OTHER^Person", "X-99")
    session = plan.course.sessions[0]
    sessions = (replace(session, image_path=str(other)),) + plan.course.sessions[1:]
    moved = plan.with_course(replace(plan.course, sessions=sessions))
    with pytest.raises(CourseObjectError, match="OTHER\\^Person.*X-99.*nothing was sent"):
        prepare_course_objects(moved, course_package.parent, tmp_path)


def test_a_fraction_without_its_record_is_refused(course_package, tmp_path):
    folder = tmp_path / "package"
    shutil.copytree(course_package.parent, folder)
    (folder / "RTRECORD-F02.dcm").unlink()
    with pytest.raises(CourseObjectError, match="fraction 2 is recorded but RTRECORD-F02.dcm is not beside the plan"):
        prepare_course_objects(load_plan(folder / "plan.json"), folder, tmp_path)


def test_a_record_not_of_its_phase_rt_plan_is_refused(course_package, tmp_path):
    """Re-planned from fraction 3 under another RT Plan: fraction 3's record (made against this package's RT
    Plan) is not of its phase's plan."""
    plan = load_plan(course_package)
    course = plan.course
    revision = "1.2.826.0.1.3680043.8.498.1"
    phase = CoursePhase(revision, 3, course.planned_fractions - 2, course.dose_per_fraction_gy,
                        course.planned_dwell_time_s, "deeper lesion", dt.date.fromisoformat(day(27)))
    replanned = plan.with_course(replace(course, later_phases=(phase,)))
    with pytest.raises(CourseObjectError, match=f"RTRECORD-F03.dcm is not fraction 3's record of RT Plan {revision}"):
        prepare_course_objects(replanned, course_package.parent, tmp_path)


def _payload(uid: str, rt_plan: str, sent_at: str, course) -> CoursePayload:
    return CoursePayload(uid, sent_at, "DEMO-0001", InstanceRef("1.1", "1.2", rt_plan, "1.2.840.10008.5.1.4.1.1.481.5"),
                         {}, {}, {}, course_to_dict(course))


def test_the_course_is_the_newest_object_of_the_current_plan():
    first = Course(5, 7.0, 120.0, 7, rt_plan_uid="1.9.1")
    replanned = replace(first, later_phases=(CoursePhase("1.9.2", 3, 3, 7.0, 100.0, "deeper lesion",
                                                         dt.date(2026, 11, 20)),))
    old = _payload("2.1", "1.9.1", "2026-11-10T09:00:00.000001", first)
    newer = _payload("2.2", "1.9.1", "2026-11-12T09:00:00", first)
    revision = _payload("2.3", "1.9.2", "2026-11-20T10:00:00", replanned)
    other = _payload("2.4", "1.9.7", "2026-11-21T10:00:00", Course(5, 7.0, 120.0, 7))

    assert choose_course([old, newer], "DEMO-0001", None) is newer
    # re-planned: the first plan's course is an earlier phase of the revision's, however recently it was sent
    assert choose_course([old, revision, newer], "DEMO-0001", None) is revision
    assert choose_course([old, revision, newer], "DEMO-0001", "1.9.1") is newer
    with pytest.raises(CourseFetchError, match="has courses of 2 RT Plans \\(1.9.2, 1.9.7\\): say which"):
        choose_course([old, revision, other], "DEMO-0001", None)
    assert choose_course([old, revision, other], "DEMO-0001", "1.9.7") is other
    with pytest.raises(CourseNotOnPacs, match="no course of RT Plan 1.9.5"):
        choose_course([old], "DEMO-0001", "1.9.5")
    with pytest.raises(CourseFetchError, match="were sent at 2026-11-12T09:00:00: which is the course cannot be told"):
        choose_course([newer, replace(newer, sop_instance_uid="2.5")], "DEMO-0001", None)
