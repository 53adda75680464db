"""Re-plan (issue 17, point 3): a new plan for the course's remaining fractions, made the one way for the
window and `planner course replan`.

The plan is the old one moved to a later imaging session of its course: the session's image, its lesion
outline and skin line (the session's own mm scale, so the old hand calibration is dropped), the beam axis on
the lesion's centre, the same prescription point and dose per fraction for the fractions that remain, and the
energy and applicator chosen (the technique's machine must offer them). The caller computes its dose
(``replan_dose``, ``replan_time_s``) on the session's image and writes it as a revision of the plan in use
(planner.review.revision: a layer above this one); ``replanned_course`` adds the phase to the course, and
``complete_replan``, once the revision is written, gives the course to it and marks the old plan file superseded.

Refused (one-line PlannerError): a plan without a course, a course complete or not under way, a plan that is
not the one the course's latest fractions are delivered under or whose plan file a re-plan already superseded
(Course.check_replannable), a session that is
not this course's, one not taken after the last delivered fraction (after fraction N or before fraction N + 1,
N the last delivered), one whose lesion is not measured (no scale, outline or confirmed skin line), and an
energy or applicator the plan's machine does not offer.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Iterable

from pydicom import dcmread
from pydicom.errors import InvalidDicomError

from planner.core.course import Course, CoursePhase
from planner.core.course_imaging import ImagingSession
from planner.core.errors import PlannerError
from planner.core.plan import Plan
from planner.core.plan_file import save_plan
from planner.core.prescription import Prescription
from planner.dose.grid_axes import dose_grid_axes
from planner.imaging.planning_image import calibrated_image, complete_plan
from planner.techniques.beam_lookup import machine_commissioning
from planner.techniques.interface import Technique, UnknownChoice


class ReplanError(PlannerError, ValueError):
    """A re-plan that cannot be made; the message says why in one line. Nothing was written."""


def check_replan(plan: Plan, session: ImagingSession, current_rt_plan_uid: str) -> None:
    """The refusals of the module doc that need no dose: made before the minutes a dose may take."""
    course = plan.course
    if course is None:
        raise ReplanError("the plan has no treatment course: a re-plan is for the remaining fractions of a course")
    course.check_replannable(current_rt_plan_uid)
    if session not in course.sessions:
        raise ReplanError(f"the image at {session.when.label} ({session.image_path}) is not one of this course's "
                          f"sessions: add it with `planner course add-image` first")
    last = course.delivered_fractions
    when = session.when
    if not ((when.kind == "after" and when.number == last) or (when.kind == "before" and when.number == last + 1)):
        raise ReplanError(f"the image at {when.label} is not from after the last delivered fraction ({last}): "
                          f"re-plan on an image taken after fraction {last} or before fraction {last + 1}")
    if session.measure is None:
        raise ReplanError(f"the lesion on the image at {when.label} is not measured ({session.unmeasured_reason}): "
                          f"it cannot be planned on")


def revised_plan(plan: Plan, technique: Technique, session: ImagingSession, current_rt_plan_uid: str, *,
                 energy_id: str | None = None, applicator_id: str | None = None) -> Plan:
    """The plan for the remaining fractions on ``session``'s image (module doc), without a course: its RT Plan
    holds the plan; the course, with the new phase, lives in the plan file (``replanned_course``)."""
    check_replan(plan, session, current_rt_plan_uid)
    course = plan.course
    try:
        machine = technique.machine(plan.setup.machine_id)
        energy = machine.energy(energy_id or plan.setup.energy_id)
        applicator = machine.applicator(applicator_id or plan.setup.applicator_id)
    except UnknownChoice as err:
        raise ReplanError(str(err)) from None
    remaining = course.planned_fractions - course.delivered_fractions
    prescription = Prescription(course.current_phase.dose_per_fraction_gy, remaining, plan.prescription.point)
    revised = replace(plan, image_path=session.image_path, outline=session.outline, skin_surface=session.skin_surface,
                      manual_calibration=None, cone_axis_x_mm=session.outline.lateral_centre_mm,
                      prescription=prescription, course=None)
    return revised.with_setup(energy_id=energy.id, applicator_id=applicator.id)


def replanned_course(course: Course, revised: Plan, current_rt_plan_uid: str, planned_time_s: float, reason: str,
                     made_on: date) -> Course:
    """The course with the phase of ``revised`` from the next fraction: its dose per fraction, the planned time
    per fraction (rounded to 0.1 s, what a timer shows, as when the course started), the reason (the adaptation
    finding's text). Its RT Plan UID is filled in once the revision is written (Course.with_current_rt_plan_uid)."""
    rx = revised.prescription
    phase = CoursePhase("", course.delivered_fractions + 1, rx.fractions, rx.dose_per_fraction_gy,
                        round(planned_time_s, 1), reason, made_on)
    return course.replanned(current_rt_plan_uid, phase)


def rt_plan_identity(rt_plan_path: str | Path) -> tuple[str, str]:
    """(SOP Instance UID, Approval Status) of the RT Plan a re-plan revises: its PREDECESSOR."""
    path = Path(rt_plan_path)
    if not path.is_file():
        raise ReplanError(f"no {path.name} in {path.parent}: a re-plan revises the exported RT Plan the course is "
                          f"delivered under")
    try:
        ds = dcmread(path, stop_before_pixels=True)
    except (InvalidDicomError, OSError) as err:
        raise ReplanError(f"{path} cannot be read as DICOM ({err})") from None
    uid = str(ds.get("SOPInstanceUID", "") or "")
    if not uid:
        raise ReplanError(f"{path} has no SOP Instance UID: a revision cannot reference it")
    return uid, str(ds.get("ApprovalStatus", "") or "UNAPPROVED").strip()


def replan_dose(revised: Plan, planning_image, technique: Technique):
    """The plan's dose on ``planning_image`` in mm (its own scale), as the window computes every dose: the
    revision's on the session's image, or a course's plan on its own image."""
    engine = technique.dose_engine
    if engine is None:
        raise ReplanError(f"technique {technique.id} has no dose engine: its time per fraction cannot be computed")
    plan = complete_plan(revised, planning_image)
    image = calibrated_image(planning_image.image, plan)
    if image.calibration is None:
        raise ReplanError(f"{planning_image.image.source_path} has no mm scale: the dose cannot be computed")
    return engine.compute(plan, dose_grid_axes(image), machine_commissioning(technique, plan.setup.machine_id))


def replan_time_s(dose) -> float:
    """The revision's time per fraction (s) from its dose, or ReplanError naming why there is none."""
    if dose.refused or dose.treatment_time_min is None:
        why = "; ".join(f.message for f in dose.findings if f.severity == "refuse") or dose.treatment_time_reason
        raise ReplanError(f"the re-plan's dose gives no time per fraction ({why}): the re-plan cannot be written")
    return dose.treatment_time_min * 60.0


def replan_reason(finding_messages: Iterable[str], session: ImagingSession) -> str:
    """The course's record of why it was re-planned: the adaptation findings that judged the session, in words."""
    return "; ".join(finding_messages) or (f"re-planned on the image at {session.when.label} without an adaptation "
                                           f"finding (the plan in use still covers the lesion)")


def complete_replan(old_plan_file: str | Path, old_plan: Plan, revised: Plan, course: Course, rt_plan_uid: str,
                    plan_file: str | Path, record_file: str) -> Course:
    """After the revision's package is written (its RT Plan ``rt_plan_uid``, its plan file ``plan_file``): the
    course takes the revision's UID, the delivered fractions' treatment records (``record_file`` pattern with
    {number}) are copied byte for byte beside it, its plan file holds the course, and the old plan file is marked
    superseded from the next fraction, last, so it refuses further fractions only once the revision is complete.
    Each plan file keeps its calculation record. ReplanError (one line) when a file cannot be written."""
    old_path, new_path = Path(old_plan_file), Path(plan_file)
    folder = new_path.parent
    course = course.with_current_rt_plan_uid(rt_plan_uid)
    superseded = old_plan.with_course(old_plan.course.superseded(rt_plan_uid, str(folder.resolve())))
    try:
        for record in course.records:
            name = record_file.format(number=record.number)
            if (old_path.parent / name).is_file():
                shutil.copyfile(old_path.parent / name, folder / name)
        save_plan(new_path, revised.with_course(course), calculation_record=_calculation_record(new_path))
        save_plan(old_path, superseded, calculation_record=_calculation_record(old_path))
    except OSError as err:
        raise ReplanError(f"the revision was written to {folder} but the course could not follow it "
                          f"({err.strerror or err}): remove {folder} and re-plan again") from None
    return course


def _calculation_record(plan_file: Path) -> dict | None:
    """The calculation record a plan file carries (kept when the file is written again), None without one."""
    if not plan_file.is_file():
        return None
    return json.loads(plan_file.read_text(encoding="utf-8")).get("calculation_record")


__all__ = ["ReplanError", "check_replan", "complete_replan", "replan_dose", "replan_reason", "replan_time_s",
           "replanned_course", "revised_plan", "rt_plan_identity"]
