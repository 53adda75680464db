"""``planner course``: the IGSRT course's imaging sessions and the lesion's response (issue 17).

``course add-image`` loads the image with the planning loader and its calibration rules
(planner.imaging.planning_image), finds the skin line as for planning and reports its doubts, takes
the lesion outline from --outline or proposes it with the window's proposal tool, seeded inside the
previous session's outline (else the plan's) moved to the new skin line, and adds the session to the
course in the plan file (written atomically; the file's calculation record is kept). ``course show``
prints the sessions, the fractions (with their treatment record files) and the response findings.

``course start`` starts the course from the plan file as the window's Course tab does: fractions and dose
per fraction from the prescription, the time per fraction from the plan's dose computed again by its
technique's engine (never typed), the longest acceptable gap from --max-gap-days (required: the clinic
settings have no such value and the window's 7 days is a rule of thumb). ``course record-fraction``
records the next fraction and writes its DICOM treatment record beside the plan, against the package's
RTPLAN.dcm: the record is written first, the plan file only after it, so a fraction is recorded in both
or in neither.

``course replan`` re-plans the remaining fractions on a later image of the course (planner.techniques.replan):
the dose computed with the technique's engine on that image, written with planner.review.revision as a new,
unapproved package in --out that names the RTPLAN.dcm beside PLAN as its PREDECESSOR; it is signed, reviewed and
approved like any plan. As for the first package (exported, then `course start` writes the course into its
plan.json), the RT Plan holds the plan for the remaining fractions and the new plan.json holds the course with
both phases. ``course show`` lists the phases and the whole course's dose, BED and EQD2. The treatment records of
the fractions already given (RTRECORD-Fnn.dcm) are copied into the revision's folder, byte for byte: the course
is then one folder, as `course show`, `course send` (which looks for every phase's records beside the plan) and a
course fetched from the PACS see it, and the records stay valid if the old folder is archived or moved. Last, the
old plan.json's course is marked ``superseded_by`` the revision (its RT Plan UID and folder; the old folder's
DICOM files are not touched): record-fraction and replan on it are refused with one line naming the revision.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from datetime import date
from pathlib import Path

from planner.cli.shared import EXIT_OK, CommandError, InputError, add_json_argument, print_json, read_outline

WHEN_HELP = ("the session's place in the course: baseline, before:N or after:N (fraction N, from 1), "
             "followup:W (W weeks after the last fraction, from 0)")
NO_COURSE = ("the plan has no treatment course yet: start it with `planner course start PLAN --max-gap-days N` "
             "(or Start course on the window's Course tab, then save)")
# --energy-kv and --applicator-mm match as `planner plan` matches them (its own constants: one command module
# never imports another): 69.5 kV picks the 69.5 kV energy, never the 70 kV one.
KV_TOLERANCE = 0.05
DIAMETER_TOLERANCE_MM = 0.05


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

    start = sub.add_parser("start", help="start the treatment course from the plan",
                           description="Start the course in PLAN: the planned fractions and dose per fraction from "
                                       "its prescription, the time per fraction from its dose computed again with "
                                       "the technique's engine on the plan's image (as the window does). The "
                                       "longest acceptable gap between fractions is required (--max-gap-days): "
                                       "the clinic settings hold no such value. Refused if the plan has a course.")
    start.add_argument("plan", metavar="PLAN", help="the plan file (e.g. the package's plan.json)")
    start.add_argument("--max-gap-days", type=int, required=True, metavar="N",
                       help="the longest acceptable gap between fractions, days (required; the clinic's rule)")
    add_json_argument(start)
    start.set_defaults(run=run_start)

    record = sub.add_parser("record-fraction", help="record the next delivered fraction and its DICOM record",
                            description="Record the next fraction of the course in PLAN and write its DICOM "
                                        "treatment record (RT Beams for kV, RT Brachy for eBx) beside PLAN as "
                                        "RTRECORD-Fnn.dcm, referencing the RTPLAN.dcm beside PLAN. All or "
                                        "nothing: if the record cannot be written the plan file is not changed.")
    record.add_argument("plan", metavar="PLAN", help="the plan file of the package (plan.json beside RTPLAN.dcm)")
    record.add_argument("--date", required=True, metavar="YYYY-MM-DD", help="the day the fraction was delivered")
    record.add_argument("--time-min", required=True, metavar="MIN",
                        help="the delivered beam-on (kV) or dwell (eBx) time, minutes (e.g. 1.5 = 90 s)")
    record.add_argument("--operator", required=True, metavar="NAME",
                        help="who delivered it, as a DICOM person name Family^Given (e.g. Lee^Ann)")
    record.add_argument("--at", default=None, metavar="HH:MM",
                        help="the clock time the beam was switched on; if omitted, the current time when --date "
                             "is today (said in the output), refused for an earlier date")
    record.add_argument("--remarks", default="", metavar="TEXT", help="remarks on the fraction")
    add_json_argument(record)
    record.set_defaults(run=run_record_fraction)

    replan = sub.add_parser("replan", help="re-plan the remaining fractions on a later image of the course",
                            description="Plan the course's remaining fractions on the image of the session WHEN "
                                        "(taken after the last delivered fraction), with the same dose per fraction "
                                        "and, if given, another energy or applicator; the time per fraction from the "
                                        "technique's engine on that image. Written to --out (a new folder, never "
                                        "PLAN's) as an unapproved revision of the RTPLAN.dcm beside PLAN; its "
                                        "plan.json holds the course with the new phase. Sign, review and approve it "
                                        "like any plan.")
    replan.add_argument("plan", metavar="PLAN", help="the plan file of the package (plan.json beside RTPLAN.dcm)")
    replan.add_argument("--session", required=True, metavar="WHEN",
                        help="the course's image to plan on, as for add-image: after:N or before:N+1, N the last "
                             "delivered fraction")
    replan.add_argument("--energy-kv", type=float, default=None, metavar="KV",
                        help="tube potential (kV) of the plan's machine (default: the plan's)")
    replan.add_argument("--applicator-mm", "--cone-mm", dest="applicator_mm", type=float, default=None, metavar="MM",
                        help="applicator (cone) diameter (mm) of the plan's machine (default: the plan's)")
    replan.add_argument("--out", required=True, metavar="DIR", help="the revision's folder (must not hold a package)")
    add_json_argument(replan)
    replan.set_defaults(run=run_replan)

    show = sub.add_parser("show", help="the course's sessions, fractions and response findings")
    show.add_argument("plan", metavar="PLAN", help="the plan file (e.g. the package's plan.json)")
    add_json_argument(show)
    show.set_defaults(run=run_show)

    report = sub.add_parser("report", help="the course report as a PDF",
                            description="Write the course report of PLAN: the timeline of sessions and fractions, "
                                        "the plot of depth, width and area, the baseline and latest images side by "
                                        "side, the fractions delivered against planned, the response, adaptation "
                                        "and schedule findings. A report that fails leaves no file.")
    report.add_argument("plan", metavar="PLAN", help="the plan file (e.g. the package's plan.json)")
    report.add_argument("--out", required=True, metavar="FILE.pdf", help="the PDF to write")
    report.set_defaults(run=run_report)

    options = sub.add_parser("options", help="the options sheet for the decision with the patient (PDF)",
                             description="Write the printable options sheet of PLAN: the technique's published "
                                         "regimens side by side (visits, weeks, time per visit for this lesion from "
                                         "the technique's engine, BED/EQD2, coverage) in plain language. With "
                                         "--choose, the chosen option and the patient's preferences are recorded "
                                         "in the course (which must have been started).")
    options.add_argument("plan", metavar="PLAN", help="the plan file (e.g. the package's plan.json)")
    options.add_argument("--out", required=True, metavar="FILE.pdf", help="the PDF to write")
    options.add_argument("--choose", metavar="LETTER", default=None, help="the option chosen with the patient (A, B, ...)")
    options.add_argument("--preferences", default="", metavar="TEXT",
                         help="the patient's stated preferences, in their words (with --choose)")
    options.add_argument("--decided-by", default=None, metavar="NAME", help="the physician recording the choice")
    options.set_defaults(run=run_options)
    from planner.cli import course_pacs_commands
    course_pacs_commands.register(sub)


# --------------------------------------------------------------------------------- add-image

def run_add_image(args) -> int:
    from planner.core.course import CourseError
    from planner.core.course_imaging import OtherPatientError, SessionDateQuestion, SessionError, SessionTime
    from planner.imaging import ImageLoadError
    from planner.techniques.course_session import (OutlineProposalError, load_session_image, make_session,
                                                   propose_session_outline)

    path = Path(args.plan)
    plan, record = _load_course(path)
    try:
        when = SessionTime.parse(args.when)
        plan.course.check_place(when)
    except (SessionError, CourseError) as err:
        raise InputError(str(err)) from None
    acquired_on = _date(args.date)
    try:
        loaded = load_session_image(plan, args.image)
    except (ImageLoadError, OtherPatientError) as err:
        raise InputError(str(err)) from None
    notes = list(loaded.notes)
    outline = None
    if args.outline and not loaded.calibrated:
        raise InputError(f"{args.image} has no mm scale: an outline in mm cannot be placed on it")
    if args.outline:
        outline = read_outline(Path(args.outline))
    elif loaded.calibrated:
        try:
            outline, note = propose_session_outline(plan, when, loaded)
        except OutlineProposalError as err:
            raise InputError(f"{err}; give --outline FILE") from None
        notes.append(note)
    try:
        session = make_session(plan, when, acquired_on, loaded, outline)
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


def _load_course(path: Path):
    """As _load, for a plan whose course has started (else the one line saying how to start it)."""
    plan, record = _load(path)
    if plan.course is None:
        raise CommandError(NO_COURSE)
    return plan, record


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


# --------------------------------------------------------------------------------- start

def run_start(args) -> int:
    from planner.core.course import CourseError
    from planner.techniques.course_start import start_course
    from planner.techniques.registry import discover_techniques

    path = Path(args.plan)
    plan, calculation = _load(path)
    if plan.course is not None:
        raise InputError(f"{path} already has a treatment course ({plan.course.summary()}): it is not started again")
    registry = discover_techniques()
    try:
        technique = registry.get(plan.setup.technique_id)
    except KeyError:
        raise InputError(f"technique {plan.setup.technique_id!r} of {path} is not installed") from None
    dose = planned_dose(plan, path, technique)
    minutes = _time_per_fraction_min(dose, "the course cannot start")
    try:   # as the window's Course tab does
        course = start_course(plan, technique, minutes * 60.0, args.max_gap_days)
    except CourseError as err:
        raise InputError(f"the course cannot start: {err}") from None
    _check_rt_plan_time(path, course)
    from planner.core.plan_file import save_plan

    try:
        save_plan(path, plan.with_course(course), calculation_record=calculation)
    except OSError as err:
        raise CommandError(f"writing {path} failed ({err.strerror or err}); the course was not started") from None
    time_name = getattr(dose, "time_name", "time") or "time"
    if args.json:
        print_json({"plan": str(path), "planned_fractions": course.planned_fractions,
                    "dose_per_fraction_gy": course.dose_per_fraction_gy,
                    "planned_time_s": course.planned_dwell_time_s, "time_name": time_name,
                    "max_gap_days": course.max_gap_days, "min_interval_hours": course.min_interval_hours,
                    "schedule_source": course.schedule_source})
        return EXIT_OK
    print(f"course started in {path}: {course.planned_fractions} × {course.dose_per_fraction_gy:g} Gy, "
          f"{time_name} {course.planned_dwell_time_s:.1f} s per fraction, gaps over {course.max_gap_days} days flagged"
          + ("" if course.min_interval_hours is None else f", at least {course.min_interval_hours:g} h apart"))
    return EXIT_OK


def _check_rt_plan_time(path: Path, course) -> None:
    """A course beside an exported RT Plan starts only with the time per fraction that RT Plan specifies: the
    engine's time today differs when its beam data or commissioning changed since the export, and the fractions
    would then be recorded against a plan nobody approved (record-fraction would refuse them, fraction by fraction)."""
    from pydicom import dcmread
    from pydicom.errors import InvalidDicomError

    from planner.core.course import PLANNED_TIME_TOLERANCE_S
    from planner.dicom.export import RT_PLAN_FILE
    from planner.dicom.treatment_record import TreatmentRecordError, rt_plan_time_per_fraction_s

    rt_plan_path = path.parent / RT_PLAN_FILE
    if not rt_plan_path.is_file():
        return
    try:
        specified_s = rt_plan_time_per_fraction_s(dcmread(rt_plan_path))
    except (InvalidDicomError, OSError, TreatmentRecordError, AttributeError) as err:
        raise InputError(f"{rt_plan_path} cannot be read for its time per fraction ({err}); the course was not "
                         f"started") from None
    if abs(specified_s - course.planned_dwell_time_s) > PLANNED_TIME_TOLERANCE_S:
        raise InputError(f"the plan's dose today gives {course.planned_dwell_time_s:.1f} s per fraction, "
                         f"{rt_plan_path} specifies {specified_s:.1f} s: the beam data or commissioning changed "
                         f"since the export; export the plan again and have it approved before starting the course")


def planned_dose(plan, path: Path, technique):
    """The plan's dose computed again as the window computes it (planner.ui.dose_controller): the
    technique's engine on the plan's image in mm; the image is the plan's own, else the package's US.dcm."""
    from planner.dicom.export import ULTRASOUND_FILE

    candidates = [Path(plan.image_path)] if plan.image_path else []
    candidates.append(path.parent / ULTRASOUND_FILE)
    image_path = next((c for c in candidates if c.is_file()), None)
    if image_path is None:
        raise InputError(f"the plan's image {plan.image_path or '(none named)'} is not found, nor "
                         f"{ULTRASOUND_FILE} beside {path}: the time per fraction cannot be computed")
    return dose_on_image(plan, _load_image(str(image_path)), technique)


def dose_on_image(plan, planning_image, technique):
    """The technique's engine on ``planning_image`` in mm, as the window computes it (planner.techniques.replan)."""
    from planner.techniques.replan import ReplanError, replan_dose

    try:
        return replan_dose(plan, planning_image, technique)
    except ReplanError as err:
        raise InputError(str(err)) from None


def _time_per_fraction_min(dose, what: str) -> float:
    """The dose's time per fraction (min), or InputError naming why there is none."""
    if dose.refused or dose.treatment_time_min is None:
        why = "; ".join(f.message for f in dose.findings if f.severity == "refuse") or dose.treatment_time_reason
        raise InputError(f"the plan's dose gives no time per fraction ({why}): {what}")
    return dose.treatment_time_min


# --------------------------------------------------------------------------------- record-fraction

def run_record_fraction(args) -> int:
    from pydicom import dcmread
    from pydicom.errors import InvalidDicomError

    from planner.core.course import CourseError
    from planner.core.plan_file import save_plan
    from planner.dicom.export import RT_PLAN_FILE
    from planner.dicom.treatment_record import RECORD_FILE, TreatmentRecordError, write_fraction_record

    path = Path(args.plan)
    plan, calculation = _load_course(path)
    delivered_on = _date(args.date)
    minutes = _minutes(args.time_min)
    operator = _operator(args.operator)
    at, notes = _clock_time(args.at, delivered_on)
    rt_plan_path = path.parent / RT_PLAN_FILE
    if not rt_plan_path.is_file():
        raise InputError(f"no {RT_PLAN_FILE} beside {path}: the fraction's treatment record references the exported "
                         f"RT Plan; nothing was recorded")
    try:
        course = plan.course.record(delivered_on, minutes * 60.0, operator, args.remarks)
    except CourseError as err:
        raise InputError(f"not recorded: {err}") from None
    fraction = course.records[-1]
    out = path.parent / RECORD_FILE.format(number=fraction.number)
    try:
        rt_plan = dcmread(rt_plan_path)
    except (InvalidDicomError, OSError) as err:
        raise InputError(f"{rt_plan_path} cannot be read as DICOM ({err}); nothing was recorded") from None
    recorded = plan.with_course(course)
    try:   # the record first: if it cannot be written, the plan file is left as it was
        write_fraction_record(rt_plan, recorded, fraction, out, delivered_time=at)
    except TreatmentRecordError as err:
        raise InputError(f"{err}; nothing was recorded") from None
    try:
        save_plan(path, recorded, calculation_record=calculation)
    except OSError as err:   # the plan file keeps the course without this fraction: so must the folder
        out.unlink(missing_ok=True)
        raise CommandError(f"writing {path} failed ({err.strerror or err}); the fraction was not recorded and "
                           f"{out.name} was removed") from None
    result = {"plan": str(path), "fraction": fraction.number, "date": fraction.delivered_on.isoformat(),
              "time": at.strftime("%H:%M:%S"), "time_s": fraction.dwell_time_s, "operator": fraction.delivered_by,
              "remarks": fraction.remarks, "delivered_dose_gy": course.fraction_dose_gy(fraction),
              "course_delivered_gy": course.delivered_dose_gy, "course_planned_gy": course.planned_dose_gy,
              "record": str(out), "notes": notes}
    if args.json:
        print_json(result)
        return EXIT_OK
    print(f"fraction {fraction.number} of {course.planned_fractions} recorded in {path}: "
          f"{fraction.delivered_on.isoformat()} {result['time']}, {fraction.dwell_time_s:.1f} s, "
          f"{result['delivered_dose_gy']:.2f} Gy, {fraction.delivered_by}; course {course.delivered_dose_gy:.2f} of "
          f"{course.planned_dose_gy:.2f} Gy")
    for note in notes:
        print(f"  note: {note}")
    print(f"treatment record: {out}")
    return EXIT_OK


def _minutes(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise InputError(f"--time-min must be a number of minutes above 0, got {text!r}")
    return value


def _operator(text: str) -> str:
    """A DICOM person name Family^Given: a name without '^' is the retired form dciodvfy warns about."""
    name = text.strip()
    family, _, given = name.partition("^")
    if not family.strip() or not given.strip():
        raise InputError(f"--operator must be a person name Family^Given (e.g. Lee^Ann), got {text!r}: the treatment "
                         f"record's Operators' Name is a DICOM person name")
    return name


def _clock_time(text: str | None, delivered_on: date) -> tuple[_dt.time, list[str]]:
    """(the time the beam was switched on, notes); the current time only for a fraction of today."""
    now = _dt.datetime.now().replace(microsecond=0)
    if text is None:
        if delivered_on != now.date():
            raise InputError("give --at HH:MM, the time the fraction was delivered")
        return now.time(), [f"delivery time not given: the current time {now.strftime('%H:%M:%S')} is recorded"]
    try:
        at = _dt.time.fromisoformat(text)
    except ValueError:
        raise InputError(f"--at must be a clock time HH:MM, got {text!r}") from None
    if delivered_on == now.date() and at > now.time():
        raise InputError(f"--at {text} is later than now ({now.strftime('%H:%M')}): a fraction is recorded after it "
                         f"is delivered")
    return at, []


# --------------------------------------------------------------------------------- replan

def run_replan(args) -> int:
    from planner.core.course_imaging import SessionError, SessionTime
    from planner.dicom.export import RT_PLAN_FILE
    from planner.dicom.treatment_record import RECORD_FILE
    from planner.core.course import CourseError
    from planner.review.adaptation import NOT_JUDGED, adaptation_findings
    from planner.review.revision import PlanRevision, RevisionError, write_revision
    from planner.techniques.interface import UnknownChoice
    from planner.techniques.registry import discover_techniques
    from planner.techniques.replan import (ReplanError, complete_replan, replan_dose, replan_reason, replan_time_s,
                                           replanned_course, revised_plan, rt_plan_identity)

    path = Path(args.plan)
    plan, _ = _load_course(path)
    try:
        when = SessionTime.parse(args.session)
    except SessionError as err:
        raise InputError(str(err)) from None
    session = next((s for s in plan.course.sessions if s.when == when), None)
    if session is None:
        raise InputError(f"the course holds no image at {when.label}: add it with `planner course add-image` first")
    rt_plan_path = path.parent / RT_PLAN_FILE
    registry = discover_techniques()
    try:   # the refusals of planner.techniques.replan, the course and the revision: one line, nothing written
        predecessor_uid, predecessor_status = rt_plan_identity(rt_plan_path)
        technique = registry.get(plan.setup.technique_id)
        energy_id, applicator_id = _unit_ids(technique, plan, args.energy_kv, args.applicator_mm)
        revised = revised_plan(plan, technique, session, predecessor_uid, energy_id=energy_id,
                               applicator_id=applicator_id)
        planning_image = _load_image(session.image_path)
        dose = replan_dose(revised, planning_image, technique)
        reason = replan_reason((f.message for f in adaptation_findings(plan, registry, session)
                                if f.kind != NOT_JUDGED), session)
        course = replanned_course(plan.course, revised, predecessor_uid, replan_time_s(dose), reason, date.today())
        revision = PlanRevision(plan=plan, predecessor_uid=predecessor_uid, predecessor_path=rt_plan_path,
                                predecessor_status=predecessor_status)
        package = write_revision(args.out, revision, revised, dose, planning_image, technique)
    except (ReplanError, CourseError, UnknownChoice, RevisionError) as err:
        raise InputError(f"not re-planned: {err}") from None
    try:   # the revision complete (its records, then its course) before the old plan file is marked superseded
        course = complete_replan(path, plan, revised, course, package.rt_plan_uid, package.plan_file, RECORD_FILE)
    except ReplanError as err:
        raise CommandError(str(err)) from None
    result = {"plan": str(package.plan_file), "rt_plan": str(package.rt_plan), "rt_plan_uid": package.rt_plan_uid,
              "approval_status": "UNAPPROVED", "predecessor_uid": predecessor_uid,
              "predecessor_status": predecessor_status, "energy": revised.setup.energy_id,
              "applicator": revised.setup.applicator_id, "fractions": revised.prescription.fractions,
              "dose_per_fraction_gy": revised.prescription.dose_per_fraction_gy,
              "planned_time_s": course.current_phase.planned_time_s, "reason": reason, **_course_dose_json(course)}
    if args.json:
        print_json(result)
        return EXIT_OK
    print(f"re-planned fractions {course.current_phase.first_fraction}–{course.planned_fractions} on the image at "
          f"{session.when.label}: {revised.prescription.fractions} × {revised.prescription.dose_per_fraction_gy:g} Gy, "
          f"{revised.setup.energy_id}, {revised.setup.applicator_id}, {course.current_phase.planned_time_s:.1f} s per "
          f"fraction")
    print(f"  reason: {reason}")
    print(f"  written to {package.folder}: RT Plan {package.rt_plan_uid}, UNAPPROVED, revising {predecessor_uid} "
          f"({predecessor_status}); sign, review and approve it before treating")
    for line in _course_dose_lines(course):
        print(f"  {line}")
    return EXIT_OK


def _unit_ids(technique, plan, energy_kv: float | None, applicator_mm: float | None) -> tuple[str | None, str | None]:
    """The ids of the energy and applicator of the plan's machine asked for by kV and mm (None: keep the plan's);
    InputError naming what the machine offers."""
    machine = technique.machine(plan.setup.machine_id)
    energy = None if energy_kv is None else next(
        (e for e in machine.energies if abs(e.kvp - energy_kv) <= KV_TOLERANCE), None)
    applicator = None if applicator_mm is None else next(
        (a for a in machine.applicators if abs(a.diameter_mm - applicator_mm) <= DIAMETER_TOLERANCE_MM), None)
    if energy_kv is not None and energy is None:
        raise InputError(f"{machine.name} offers no {energy_kv:g} kV beam (offered: "
                         f"{', '.join(f'{e.kvp:g}' for e in machine.energies)} kV)")
    if applicator_mm is not None and applicator is None:
        raise InputError(f"{machine.name} offers no Ø {applicator_mm:g} mm applicator (offered: Ø "
                         f"{', '.join(f'{a.diameter_mm:g}' for a in machine.applicators)} mm)")
    return (None if energy is None else energy.id), (None if applicator is None else applicator.id)


def _phases_json(course) -> list[dict]:
    return [{"first_fraction": p.first_fraction, "fractions": p.fractions, "dose_per_fraction_gy":
             p.dose_per_fraction_gy, "planned_time_s": p.planned_time_s, "rt_plan_uid": p.rt_plan_uid or None,
             "reason": p.reason, "started_on": None if p.started_on is None else p.started_on.isoformat()}
            for p in course.phases]


def _course_dose_json(course) -> dict:
    """The phases, the whole course's dose (delivered + remaining) and its BED/EQD2 at the tumour and late-skin α/β."""
    from planner.core.radiobiology import ALPHA_BETA_LATE_SKIN_GY, ALPHA_BETA_TUMOUR_GY

    return {"phases": _phases_json(course),
            "course_dose": {"delivered_gy": course.delivered_dose_gy, "remaining_gy": course.remaining_dose_gy,
                            "total_gy": course.course_dose_gy},
            "biological": [{"alpha_beta_gy": ab, "bed_gy": course.course_bed_gy(ab), "eqd2_gy": course.course_eqd2_gy(ab)}
                           for ab in (ALPHA_BETA_TUMOUR_GY, ALPHA_BETA_LATE_SKIN_GY)]}


def _course_dose_lines(course) -> list[str]:
    data = _course_dose_json(course)
    lines = []
    for p in course.phases:
        under = f"RT Plan {p.rt_plan_uid}" if p.rt_plan_uid else "RT Plan not recorded"
        since = "" if p.started_on is None else f", re-planned {p.started_on.isoformat()}: {p.reason}"
        lines.append(f"phase from fraction {p.first_fraction}: {p.fractions} × {p.dose_per_fraction_gy:g} Gy, "
                     f"{p.planned_time_s:.1f} s per fraction, {under}{since}")
    dose = data["course_dose"]
    lines.append(f"whole course: delivered {dose['delivered_gy']:.2f} Gy + remaining {dose['remaining_gy']:.2f} Gy = "
                 f"{dose['total_gy']:.2f} Gy; " + "; ".join(
                     f"BED{b['alpha_beta_gy']:g} {b['bed_gy']:.2f} Gy, EQD2 {b['eqd2_gy']:.2f} Gy (α/β "
                     f"{b['alpha_beta_gy']:g} Gy)" for b in data["biological"]))
    return lines


# --------------------------------------------------------------------------------- show

def run_show(args) -> int:
    from planner.core.clinic_settings import load_clinic_settings
    from planner.core.course_imaging import response_findings, suspected_recurrence

    path = Path(args.plan)
    plan, _ = _load_course(path)
    course = plan.course
    threshold = load_clinic_settings().recurrence_regrowth_percent
    findings = response_findings(course.sessions, regrowth_threshold_percent=threshold)
    adaptation = _adaptation_of_latest(plan)
    flags = [f.message for f in course.gaps(today=date.today())]
    if args.json:
        print_json({
            "plan": str(path), "patient": {"id": plan.patient_id, "name": plan.patient_name},
            "summary": course.summary(), **_course_dose_json(course),
            "superseded_by": None if course.superseded_by is None else {
                "rt_plan_uid": course.superseded_by.rt_plan_uid, "folder": course.superseded_by.folder,
                "first_fraction": course.superseded_by.first_fraction},
            "fractions": [{"number": r.number, "delivered_on": r.delivered_on.isoformat(),
                           "time_s": r.dwell_time_s, "dose_gy": course.fraction_dose_gy(r),
                           "delivered_by": r.delivered_by, "remarks": r.remarks,
                           "record": _record_file(path, r)} for r in course.records],
            "schedule_findings": flags,
            "sessions": [_session_json(s) for s in course.sessions],
            "regrowth_threshold_percent": threshold,
            "findings": [{"kind": f.kind, "when": None if f.when is None else f.when.text, "message": f.message}
                         for f in findings],
            "suspected_recurrence": suspected_recurrence(findings),
            "adaptation": [{"kind": f.kind, "when": course.sessions[-1].when.text, "message": f.message,
                            "lesion_depth_mm": f.lesion_depth_mm, "isodose_depth_mm": f.isodose_depth_mm}
                           for f in adaptation],
        })
        return EXIT_OK
    print(f"{plan.label} — patient {plan.patient_name} ({plan.patient_id})")
    print(f"  {course.summary()}")
    if course.superseded_by is not None:
        print(f"  {course.superseded_by.refusal}")
    for line in _course_dose_lines(course):
        print(f"  {line}")
    for r in course.records:
        print(f"  fraction {r.number}  {r.delivered_on.isoformat()}  {r.dwell_time_s:.1f} s  "
              f"{course.fraction_dose_gy(r):.2f} Gy  {r.delivered_by}" + (f"  ({r.remarks})" if r.remarks else "")
              + f"  — record: {_record_file(path, r) or 'none'}")
    for flag in flags:
        print(f"  schedule: {flag}")
    print("imaging sessions:" if course.sessions else "imaging sessions: none (add one with `planner course "
                                                       "add-image`)")
    for session in course.sessions:
        print("  " + _session_line(session))
    print("response:")
    for finding in findings:
        print(f"  {finding.message}")
    if course.sessions:
        latest = course.sessions[-1].when.label
        print(f"adaptation ({latest}, the latest session):" if adaptation else
              f"adaptation ({latest}, the latest session): none needed, the plan's prescription isodose reaches "
              "the lesion and no smaller option covers it")
        for finding in adaptation:
            print(f"  {finding.message}")
    return EXIT_OK


def run_report(args) -> int:
    """The same findings as `course show`, on paper (planner.report.course_report)."""
    import datetime as dt

    from planner.core.clinic_settings import load_clinic_settings
    from planner.report.course_report import write_course_report
    from planner.techniques.registry import discover_techniques

    path = Path(args.plan)
    plan, _ = _load_course(path)
    adaptation = tuple(f.message for f in _adaptation_of_latest(plan))
    try:   # the plan's isodoses on the session images: its dose computed again, as `course start` does
        dose, without = planned_dose(plan, path, discover_techniques().get(plan.setup.technique_id)), ""
    except InputError as err:
        dose, without = None, f" without the plan's isodoses: {err}"
    out = write_course_report(plan, Path(args.out), printed_at=dt.datetime.now().replace(microsecond=0),
                              regrowth_threshold_percent=load_clinic_settings().recurrence_regrowth_percent,
                              adaptation_lines=adaptation, dose_result=dose)   # unwritable: its one-line ReportError
    print(f"course report written to {out}{without}")
    return EXIT_OK


def run_options(args) -> int:
    """Each published regimen's time per visit computed for this plan's lesion and setup by the technique's engine
    (the same call `course start` makes), then the sheet (planner.report.options_sheet)."""
    import datetime as dt

    from planner.core.course import CourseError, TreatmentDecision
    from planner.core.plan_file import save_plan
    from planner.core.treatment_options import regimen_plan, treatment_options
    from planner.report.options_sheet import write_options_sheet
    from planner.techniques.registry import discover_techniques

    path = Path(args.plan)
    plan, calculation = _load(path)
    if args.choose is not None and plan.course is None:
        raise InputError(NO_COURSE + "; the choice is recorded in the course")
    if args.choose is not None and not args.decided_by:
        raise InputError("--decided-by NAME is required with --choose: the physician who records the choice")
    technique = discover_techniques().get(plan.setup.technique_id)
    times = {}
    for preset in technique.fractionation_presets:
        dose = planned_dose(regimen_plan(plan, preset), path, technique)
        times[preset] = (dose.treatment_time_min if dose.treatment_time_min is not None and not dose.refused
                         else (dose.treatment_time_reason or "the dose was refused"))
    own = planned_dose(plan, path, technique)
    coverage = own.coverage
    options = treatment_options(plan, technique.name, technique.fractionation_presets, times,
                                coverage_text=coverage.sentence() if coverage else "coverage not judged: no dose",
                                covered=coverage.covered if coverage else None,
                                time_name=getattr(own, "time_name", "treatment time") or "treatment time")
    if args.choose is not None:
        chosen = options.option(args.choose.strip().upper())
        try:
            decision = TreatmentDecision(f"Option {chosen.letter}: {chosen.label}", args.preferences.strip(),
                                         dt.date.today(), args.decided_by.strip())
        except CourseError as err:
            raise InputError(str(err)) from None
        plan = plan.with_course(plan.course.with_decision(decision))
    # the sheet first, then the choice in the plan file: a sheet that cannot be written records nothing
    out = write_options_sheet(plan, options, Path(args.out), printed_at=dt.datetime.now().replace(microsecond=0))
    if args.choose is not None:
        try:
            save_plan(path, plan, calculation_record=calculation)
        except OSError as err:
            out.unlink(missing_ok=True)
            raise CommandError(f"writing {path} failed ({err.strerror or err}); the choice was not recorded and "
                               f"no sheet was left") from None
    print(f"options sheet written to {out}")
    if args.choose is not None:
        print(f"recorded in the course: {plan.course.decision.chosen_regimen}")
    return EXIT_OK


def _adaptation_of_latest(plan):
    """The adaptation findings of the course's latest imaging session against the plan (none without a session)."""
    from planner.review.adaptation import adaptation_findings
    from planner.techniques.registry import discover_techniques

    if not plan.course.sessions:
        return ()
    return adaptation_findings(plan, discover_techniques(), plan.course.sessions[-1])


def _record_file(path: Path, record) -> str | None:
    """The fraction's treatment record beside the plan file, if there is one."""
    from planner.dicom.treatment_record import RECORD_FILE

    out = path.parent / RECORD_FILE.format(number=record.number)
    return str(out) if out.is_file() else None


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
