"""``planner course``: the IGSRT course's imaging sessions and the lesion's response (issue 17).

``course add-image`` loads the image with the planning loader and its calibration rules
(planner.imaging.planning_image), finds the skin line as for planning and reports its doubts, takes
the lesion outline from --outline or proposes it with the window's proposal tool, seeded inside the
previous session's outline (else the plan's) moved to the new skin line, and adds the session to the
course in the plan file (written atomically; the file's calculation record is kept). ``course show``
prints the sessions, the fractions and the response findings.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from planner.cli.shared import EXIT_OK, CommandError, InputError, add_json_argument, print_json, read_outline

WHEN_HELP = ("the session's place in the course: baseline, before:N or after:N (fraction N, from 1), "
             "followup:W (W weeks after the last fraction, from 0)")
NO_COURSE = ("the plan has no treatment course yet: open the plan in the window (`planner gui PLAN`) and press "
             "Start course on the Course tab, then save it")


def register(commands) -> None:
    course = commands.add_parser("course", help="the treatment course's images and the lesion's response",
                                 description="Imaging sessions of the course in the plan file and the lesion's "
                                             "response (depth below the skin, width, area) over time.")
    sub = course.add_subparsers(dest="course_command", metavar="SUBCOMMAND", required=True)

    add = sub.add_parser("add-image", help="add an ultrasound of the course (baseline, during, follow-up)",
                         description="Load the image as for planning, outline the lesion on it and add it to the "
                                     "course in PLAN. The outline: --outline FILE (as for `planner plan`: CSV "
                                     "'x_mm,y_mm' lines or JSON [[x_mm, y_mm], ...]), else proposed inside the "
                                     "previous session's outline moved to the new skin line.")
    add.add_argument("plan", metavar="PLAN", help="the plan file (e.g. the package's plan.json)")
    add.add_argument("--image", required=True, help="the ultrasound image (DICOM, PNG, JPEG, TIFF)")
    add.add_argument("--when", required=True, help=WHEN_HELP)
    add.add_argument("--date", default=None, metavar="YYYY-MM-DD",
                     help="the date the image was acquired (default: today)")
    add.add_argument("--outline", metavar="FILE", default=None, help="the lesion outline in mm (see above)")
    add.add_argument("--confirm-date", action="store_true",
                     help="accept a date in the future or before the baseline (otherwise refused as a question)")
    add_json_argument(add)
    add.set_defaults(run=run_add_image)

    show = sub.add_parser("show", help="the course's sessions, fractions and response findings")
    show.add_argument("plan", metavar="PLAN", help="the plan file (e.g. the package's plan.json)")
    add_json_argument(show)
    show.set_defaults(run=run_show)


# --------------------------------------------------------------------------------- add-image

def run_add_image(args) -> int:
    from planner.core.course import CourseError
    from planner.core.course_imaging import (ImagingSession, OtherPatientError, SessionDateQuestion, SessionError,
                                             SessionTime, check_same_patient)

    path = Path(args.plan)
    plan, record = _load(path)
    if plan.course is None:
        raise CommandError(NO_COURSE)
    try:
        when = SessionTime.parse(args.when)
        plan.course.check_place(when)
    except (SessionError, CourseError) as err:
        raise InputError(str(err)) from None
    acquired_on = _date(args.date)
    planning_image = _load_image(args.image)
    image = planning_image.image
    try:
        check_same_patient(plan.patient_id, plan.patient_name, image.patient_id, image.patient_name)
    except OtherPatientError as err:
        raise InputError(str(err)) from None
    notes = []
    if not image.patient_id.strip() and not image.patient_name.strip():
        notes.append("the image carries no patient identity: check it is this patient's; the plan's is recorded")
    skin = planning_image.detected_skin
    calibrated = image.calibration is not None
    if not calibrated:
        notes.append(f"the image has no mm scale: the session is kept, {_not_calibrated()}")
    elif skin is None:
        notes.append("no skin line found on the image (no entry echo): depth cannot be measured")
    elif not skin.confirmed:
        notes.append("the skin line detected is not confident (" + "; ".join(skin.doubts) + "): no depth is "
                     "measured from it until it is confirmed in the window")
    outline = None
    if args.outline and not calibrated:
        raise InputError(f"{args.image} has no mm scale: an outline in mm cannot be placed on it")
    if args.outline:
        outline = read_outline(Path(args.outline))
    elif calibrated:
        outline, note = _proposed_outline(plan, when, image, skin)
        notes.append(note)
    try:
        session = ImagingSession(when, acquired_on, str(Path(args.image).resolve()),
                                 image.calibration.source if calibrated else None,
                                 image.patient_id or plan.patient_id, image.patient_name or plan.patient_name,
                                 outline, skin if calibrated else None)
        course = plan.course.with_session(session, confirm_date=args.confirm_date)
    except SessionDateQuestion as err:
        raise InputError(f"{err} If it is, give --confirm-date") from None
    except (SessionError, CourseError) as err:
        raise InputError(str(err)) from None
    from planner.core.plan_file import save_plan

    save_plan(path, plan.with_course(course), calculation_record=record)
    if args.json:
        print_json({"session": _session_json(session), "notes": notes, "plan": str(path)})
        return EXIT_OK
    print(f"added to {path}:")
    print("  " + _session_line(session))
    for note in notes:
        print(f"  note: {note}")
    return EXIT_OK


def _not_calibrated() -> str:
    from planner.core.course_imaging import NOT_CALIBRATED

    return NOT_CALIBRATED


def _load(path: Path):
    """The plan and the calculation record beside it in the file (kept when the file is written again)."""
    from planner.core.plan_file import PlanFileError, load_plan

    try:
        plan = load_plan(path)
    except PlanFileError as err:
        raise InputError(str(err)) from None
    record = json.loads(path.read_text(encoding="utf-8")).get("calculation_record")
    return plan, record


def _date(text: str | None) -> date:
    if text is None:
        return date.today()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InputError(f"--date must be a date YYYY-MM-DD, got {text!r}") from None


def _load_image(path: str):
    from planner.imaging import ImageLoadError
    from planner.imaging.planning_image import load_planning_image

    try:
        return load_planning_image(path)
    except ImageLoadError as err:
        raise InputError(str(err)) from None


def _proposed_outline(plan, when, image, skin):
    """(outline, note): the proposal tool clicked at the centre of the previous outline (the last
    session before this one with an outline, else the plan's), moved by the skin line's change of depth
    at that outline's lateral centre; refused when there is nothing to seed it or it finds no lesion."""
    from planner.core.outline import LesionOutline, OutlineError
    from planner.imaging.lesion_proposal import ProposalError, propose_lesion_outline

    earlier = [s for s in plan.course.sessions
               if s.when.order_key < when.order_key and s.outline is not None and s.skin_surface is not None]
    if earlier:
        previous, previous_skin, source = earlier[-1].outline, earlier[-1].skin_surface, earlier[-1].when.label
    elif plan.outline is not None and plan.skin_surface is not None:
        previous, previous_skin, source = plan.outline, plan.skin_surface, "the plan"
    else:
        raise InputError("no earlier outline to start from: give the lesion outline with --outline FILE")
    if skin is None:
        raise InputError("no skin line on the image to move the earlier outline to: give --outline FILE")
    centre_x = previous.lateral_centre_mm
    shift = skin.depth_at(centre_x) - previous_skin.depth_at(centre_x)
    moved = previous.translated(0.0, shift)
    xs, ys = zip(*moved.vertices_mm)
    seed = (centre_x, (min(ys) + max(ys)) / 2.0)
    try:
        outline = LesionOutline(propose_lesion_outline(image.frames[0], image.calibration, seed, skin.depth_at))
    except (ProposalError, OutlineError) as err:
        raise InputError(f"the outline proposed from {source}'s ({seed[0]:.1f}, {seed[1]:.1f}) mm failed: {err}; "
                         f"give --outline FILE") from None
    return outline, (f"outline proposed inside {source}'s outline moved {shift:+.2f} mm to this skin line; "
                     f"check it in the window")


# --------------------------------------------------------------------------------- show

def run_show(args) -> int:
    from planner.core.clinic_settings import load_clinic_settings
    from planner.core.course_imaging import response_findings, suspected_recurrence

    path = Path(args.plan)
    plan, _ = _load(path)
    course = plan.course
    if course is None:
        raise CommandError(NO_COURSE)
    threshold = load_clinic_settings().recurrence_regrowth_percent
    findings = response_findings(course.sessions, regrowth_threshold_percent=threshold)
    flags = [f.message for f in course.gaps(today=date.today())]
    if args.json:
        print_json({
            "plan": str(path), "patient": {"id": plan.patient_id, "name": plan.patient_name},
            "summary": course.summary(),
            "fractions": [{"number": r.number, "delivered_on": r.delivered_on.isoformat(),
                           "time_s": r.dwell_time_s, "dose_gy": course.fraction_dose_gy(r),
                           "delivered_by": r.delivered_by, "remarks": r.remarks} for r in course.records],
            "schedule_findings": flags,
            "sessions": [_session_json(s) for s in course.sessions],
            "regrowth_threshold_percent": threshold,
            "findings": [{"kind": f.kind, "when": None if f.when is None else f.when.text, "message": f.message}
                         for f in findings],
            "suspected_recurrence": suspected_recurrence(findings),
        })
        return EXIT_OK
    print(f"{plan.label} — patient {plan.patient_name} ({plan.patient_id})")
    print(f"  {course.summary()}")
    for r in course.records:
        print(f"  fraction {r.number}  {r.delivered_on.isoformat()}  {r.dwell_time_s:.1f} s  "
              f"{course.fraction_dose_gy(r):.2f} Gy  {r.delivered_by}" + (f"  ({r.remarks})" if r.remarks else ""))
    for flag in flags:
        print(f"  schedule: {flag}")
    print("imaging sessions:" if course.sessions else "imaging sessions: none (add one with `planner course "
                                                       "add-image`)")
    for session in course.sessions:
        print("  " + _session_line(session))
    print("response:")
    for finding in findings:
        print(f"  {finding.message}")
    return EXIT_OK


def _session_json(session) -> dict:
    measure = session.measure
    return {
        "when": session.when.text, "label": session.when.label, "acquired_on": session.acquired_on.isoformat(),
        "image": session.image_path, "calibration_source": session.calibration_source,
        "patient": {"id": session.patient_id, "name": session.patient_name},
        "depth_mm": None if measure is None else measure.depth_mm,
        "width_mm": None if measure is None else measure.width_mm,
        "area_mm2": None if measure is None else measure.area_mm2,
        "not_measurable": session.unmeasured_reason,
        "skin_line_doubts": [] if session.skin_surface is None else list(session.skin_surface.doubts),
    }


def _session_line(session) -> str:
    head = f"{session.when.label} ({session.acquired_on.isoformat()}): "
    measure = session.measure
    if measure is None:
        return f"{head}{session.unmeasured_reason} — {session.image_path}"
    return (f"{head}depth {measure.depth_mm:.2f} mm, width {measure.width_mm:.2f} mm, area {measure.area_mm2:.2f} mm² "
            f"(scale: {measure.calibration_source}) — {session.image_path}")
