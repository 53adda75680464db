"""Re-plan (issue 17, point 3): a new plan for the course's remaining fractions, made the one way for the
window and `planner course replan`.

The plan is the old one moved to a later imaging session of its course: the session's image, its lesion
outline and skin line (the session's own mm scale, so the old hand calibration is dropped), the beam axis on
the lesion's centre, the same prescription point and dose per fraction for the fractions that remain, and the
energy and applicator chosen (the technique's machine must offer them). The caller computes its dose with the
technique's engine on the session's image and writes it as a revision of the plan in use
(planner.review.revision: a layer above this one); ``replanned_course`` then adds the phase to the course.

Refused (one-line PlannerError): a plan without a course, a course complete or not under way, a plan that is
not the one the course's latest fractions are delivered under or whose plan file a re-plan already superseded
(Course.check_replannable), a session that is
not this course's, one not taken after the last delivered fraction (after fraction N or before fraction N + 1,
N the last delivered), one whose lesion is not measured (no scale, outline or confirmed skin line), and an
energy or applicator the plan's machine does not offer.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from planner.core.course import Course, CoursePhase
from planner.core.course_imaging import ImagingSession
from planner.core.errors import PlannerError
from planner.core.plan import Plan
from planner.core.prescription import Prescription
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


__all__ = ["ReplanError", "check_replan", "replanned_course", "revised_plan"]
