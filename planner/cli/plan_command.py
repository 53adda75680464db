"""``planner plan``: from an image and a prescription to the exported, reported plan in one command.

The same core functions as the window (the planning image, the new plan, the technique's dose engine, and
planner.dicom.package's write_plan_package, which writes the folder with the whole set or none of it:
RTPLAN, RTSTRUCT, RTDOSE, report.pdf, plan.json).
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import replace
from pathlib import Path

from planner.cli.audit_recording import add_audit_db_argument, recording
from planner.cli.shared import EXIT_OK, CommandError, InputError, read_outline, read_skin_line

KV_TOLERANCE = 0.05          # kV: "--energy-kv 69.5" picks the 69.5 kV energy, never the 70 kV one
DIAMETER_TOLERANCE_MM = 0.05
SEED_CANDIDATES = 5          # darkest spots tried as the click of --auto-outline
SEED_SMOOTHING_MM = 0.3      # larger than speckle, smaller than a lesion
SEED_SEPARATION_MM = 2.0     # the next candidate lies at least this far from a refused one
SEED_BELOW_SKIN_MM = 0.3     # the entry echo and the epidermis are never the lesion

OUTLINE_FORMAT = ("--outline FILE: the lesion polygon in mm in the image's frame (x lateral, y depth "
                  "downward, as the window's read-outs show). CSV: one vertex per line 'x_mm,y_mm' (an optional "
                  "header line, '#' comments). JSON (.json): a list of [x_mm, y_mm] pairs, or an object with "
                  "\"lesion_outline_mm\" (as in a plan.json). --skin-line FILE: the skin line's points the same "
                  "way (JSON key \"skin_surface_mm\"), left to right; a line given so counts as confirmed.")
PRESCRIPTION_MODES = ("Isodose percentages are percent of Dmax, the central-axis maximum dose per fraction (the "
                      "surface for kV and eBx). Prescribe with exactly one of --prescribe-surface (Dmax = D), "
                      "--prescribe-depth-mm MM (D at that depth on the beam axis) or --prescribe-isodose-percent X "
                      "(Dmax = D / X); without one, the technique's convention applies and the output says which.")


def register(commands) -> None:
    plan = commands.add_parser(
        "plan", help="plan on an image and write RTPLAN, RTSTRUCT, RTDOSE, report.pdf and plan.json",
        description="Outline, dose, DICOM export and PDF report of one plan, as the window makes them. "
                    + OUTLINE_FORMAT + " " + PRESCRIPTION_MODES + " The folder ends with the whole set or none of it.")
    plan.add_argument("--image", required=True, help="the ultrasound image (DICOM, PNG, JPEG, TIFF) with a mm scale")
    outline = plan.add_mutually_exclusive_group(required=True)
    outline.add_argument("--outline", metavar="FILE", help="the lesion outline (CSV or JSON polygon in mm, see above)")
    outline.add_argument("--auto-outline", action="store_true",
                         help="propose the outline around the darkest (hypoechoic) region below the skin, as a "
                              "click in the window does; check it in the report")
    plan.add_argument("--technique", required=True, help="technique id (see `planner techniques`)")
    plan.add_argument("--energy-kv", type=float, required=True, help="tube potential (kV) offered by the machine")
    plan.add_argument("--applicator-mm", type=float, required=True, help="applicator (cone) diameter (mm)")
    plan.add_argument("--dose-per-fraction-gy", type=float, required=True)
    plan.add_argument("--fractions", type=int, required=True)
    mode = plan.add_mutually_exclusive_group()
    mode.add_argument("--prescribe-surface", action="store_true",
                      help="prescribe at the surface on the beam axis (Dmax = the prescribed dose)")
    mode.add_argument("--prescribe-depth-mm", type=float, default=None, metavar="MM",
                      help="prescribe at this depth below the skin on the beam axis")
    mode.add_argument("--prescribe-isodose-percent", type=float, default=None, metavar="X",
                      help="prescribe to the X %% isodose (percent of Dmax: Dmax = D / X); default: the "
                           "technique's convention (kV: the 90 %% isodose; eBx: 3 mm depth)")
    plan.add_argument("--accept-unusual-regimen", action="store_true",
                      help="plan a regimen outside the technique's published range (the window asks instead)")
    plan.add_argument("--skin-line", metavar="FILE", default=None,
                      help="the skin line (CSV or JSON points in mm, see above), confirmed by you; needed when "
                           "the detected one is not confident")
    plan.add_argument("--json", action="store_true",
                      help="print the result as JSON (prescription, time, Dmax, coverage, findings, files)")
    plan.add_argument("--patient-id", default=None, help="patient ID when the image carries none (PNG, JPEG)")
    plan.add_argument("--patient-name", default=None, help="patient name (DICOM form Family^Given) when the "
                                                           "image carries none")
    plan.add_argument("--known-distance-mm", type=float, default=None,
                      help="for an image without a mm scale (PNG, JPEG): a known distance (mm) ...")
    plan.add_argument("--known-distance-pixels", type=float, default=None,
                      help="... and its length on the image (pixels), as Calibrate by Hand in the window")
    plan.add_argument("--label", default="Skin lesion", help="plan label (default: %(default)s)")
    plan.add_argument("--out", required=True, metavar="DIR", help="folder for the files (must not hold an export)")
    add_audit_db_argument(plan)
    plan.set_defaults(run=run_plan)


def run_plan(args) -> int:
    from planner.core.prescription import Prescription, PrescriptionError
    from planner.dose.grid_axes import dose_grid_axes
    from planner.imaging.planning_image import calibrate_by_hand, calibrated_image
    from planner.techniques import discover_techniques
    from planner.techniques.beam_lookup import machine_commissioning
    from planner.techniques.interface import UnknownChoice
    from planner.techniques.new_plan import default_prescription, start_plan

    try:
        point = _prescription_point(args)
        prescription = Prescription(args.dose_per_fraction_gy, args.fractions)
    except PrescriptionError as err:
        raise InputError(str(err)) from None
    try:
        technique = discover_techniques().get(args.technique)
    except UnknownChoice as err:
        raise InputError(str(err)) from None
    _check_plausible(prescription, technique, args.accept_unusual_regimen)
    machine, energy, applicator = choose_unit(technique, args.energy_kv, args.applicator_mm)
    out_dir = Path(args.out)
    _check_out_dir(out_dir)

    planning_image = _load_image(args.image)
    plan = _with_patient(start_plan(planning_image, technique, None, label=args.label), args)
    manual = _manual_calibration(args, planning_image.image)
    if manual is not None:
        plan = calibrate_by_hand(plan, planning_image.image, manual)   # the window's Calibrate by Hand
    image = calibrated_image(planning_image.image, plan)
    if image.calibration is None:
        raise InputError(f"{args.image} has no mm scale; give --known-distance-mm and --known-distance-pixels")
    if args.skin_line:
        plan = plan.with_skin_surface(read_skin_line(Path(args.skin_line)))
    elif plan.skin_surface is None:
        raise InputError(f"no skin line found on {args.image} (no entry echo): give one with --skin-line FILE")
    elif not plan.skin_surface.confirmed:
        raise InputError(f"the skin line detected on {args.image} is not confident ("
                         + "; ".join(plan.skin_surface.doubts) + "): check it in the window, or give a confirmed one "
                         "with --skin-line FILE")
    outline = read_outline(Path(args.outline)) if args.outline else auto_outline(image, plan.skin_surface)
    plan = plan.with_outline(outline).with_cone_axis(outline.lateral_centre_mm)
    plan = plan.with_setup(machine_id=machine.id, energy_id=energy.id, applicator_id=applicator.id)
    convention = point is None
    plan = plan.with_prescription(prescription.with_point(point or default_prescription(technique).point))

    engine = technique.dose_engine
    if engine is None:
        raise InputError(f"technique {technique.id} has no dose engine: it cannot be planned from the command line")
    commissioning = machine_commissioning(technique, machine.id)
    dose = engine.compute(plan, dose_grid_axes(image), commissioning, progress=_progress_printer())
    if dose.refused:
        raise InputError("the dose engine refuses this plan: "
                         + "; ".join(f.message for f in dose.findings if f.severity == "refuse"))

    package = _write_package(out_dir, plan, dose, planning_image, technique, args.audit_db)
    if args.json:
        print(json.dumps(plan_json(package, plan, dose, machine, energy, applicator, commissioning, convention),
                         indent=1))
    else:
        _print_summary(package, plan, dose, machine, energy, applicator, commissioning, convention)
    return EXIT_OK


def _check_plausible(prescription, technique, accepted: bool) -> None:
    """The window's plausibility rule: nonsense is refused; outside the published range needs the flag."""
    from planner.core.plausibility import CONFIRM, check_prescription

    finding = check_prescription(prescription, technique.fractionation_presets, technique.name)
    if finding is None or (finding.kind == CONFIRM and accepted):
        return
    if finding.kind == CONFIRM:
        raise InputError(f"{finding.message}; give --accept-unusual-regimen to plan it anyway")
    raise InputError(finding.message)


def _prescription_point(args):
    """The mode asked for on the command line, or None for the technique's convention."""
    from planner.core.prescription import PrescriptionPoint

    if args.prescribe_surface:
        return PrescriptionPoint.surface()
    if args.prescribe_depth_mm is not None:
        return PrescriptionPoint.at_depth(args.prescribe_depth_mm)
    if args.prescribe_isodose_percent is not None:
        return PrescriptionPoint.isodose(args.prescribe_isodose_percent)
    return None


# --------------------------------------------------------------------------------- the unit

def choose_unit(technique, energy_kv: float, applicator_mm: float):
    """(machine, energy, applicator): the first machine offering both; else an InputError listing
    what each machine offers, so the user sees the valid values at once."""
    for machine in technique.machines:
        energy = next((e for e in machine.energies if abs(e.kvp - energy_kv) <= KV_TOLERANCE), None)
        applicator = next((a for a in machine.applicators
                           if abs(a.diameter_mm - applicator_mm) <= DIAMETER_TOLERANCE_MM), None)
        if energy is not None and applicator is not None:
            return machine, energy, applicator
    offered = "; ".join(
        f"{m.id}: {', '.join(f'{e.kvp:g}' for e in m.energies)} kV with Ø "
        f"{', '.join(f'{a.diameter_mm:g}' for a in m.applicators)} mm" for m in technique.machines)
    kv_offered = any(abs(e.kvp - energy_kv) <= KV_TOLERANCE for m in technique.machines for e in m.energies)
    missing = "no machine has both" if kv_offered else "no such energy"
    raise InputError(f"{technique.id} offers no {energy_kv:g} kV beam with a Ø {applicator_mm:g} mm applicator "
                     f"({missing}); offered: {offered}")


# --------------------------------------------------------------------------------- the image and outline

def _load_image(path: str):
    from planner.imaging import ImageLoadError
    from planner.imaging.planning_image import load_planning_image

    try:
        return load_planning_image(path)
    except ImageLoadError as err:
        raise InputError(str(err)) from None


def _with_patient(plan, args):
    """The image's patient; --patient-id/--patient-name only name one the image does not carry."""
    for given, carried, what in ((args.patient_id, plan.patient_id, "ID"),
                                 (args.patient_name, plan.patient_name, "name")):
        if given is not None and carried.strip() and given != carried:
            raise InputError(f"the image belongs to patient {what} {carried!r}, not {given!r}; "
                             f"--patient-{what.lower()} is only for images that carry none")
    return replace(plan, patient_id=args.patient_id or plan.patient_id,
                   patient_name=args.patient_name or plan.patient_name)


def _manual_calibration(args, image):
    """The hand calibration of an image without a scale, as drawn in the window: a known distance
    in mm over its length in pixels (square pixels). Never overrides a scale the file carries."""
    from planner.core.manual_calibration import CalibrationError, ManualCalibration

    given = (args.known_distance_mm, args.known_distance_pixels)
    if given == (None, None):
        return None
    if None in given:
        raise InputError("--known-distance-mm and --known-distance-pixels go together")
    if image.calibration is not None:
        raise InputError(f"the image carries its own mm scale ({image.calibration.source}); a hand calibration "
                         f"never replaces it")
    try:
        return ManualCalibration(args.known_distance_mm, args.known_distance_pixels)
    except CalibrationError as err:
        raise InputError(str(err)) from None


def auto_outline(image, skin):
    """The outline the window proposes for a click, clicked at the darkest spots below the skin in
    turn: the first that grows into a bounded hypoechoic region is taken. ``image`` has a mm scale."""
    import numpy as np
    from scipy import ndimage

    from planner.core.outline import LesionOutline, OutlineError
    from planner.imaging.lesion_proposal import ProposalError, propose_lesion_outline

    cal = image.calibration
    frame = np.asarray(image.frames[0], dtype=float)
    grey = frame.mean(axis=-1) if frame.ndim == 3 else frame
    smooth = ndimage.gaussian_filter(grey, sigma=(SEED_SMOOTHING_MM / cal.mm_per_pixel_y,
                                                  SEED_SMOOTHING_MM / cal.mm_per_pixel_x))
    x_mm = cal.x0_mm + np.arange(image.cols) * cal.mm_per_pixel_x
    y_mm = cal.y0_mm + np.arange(image.rows) * cal.mm_per_pixel_y
    searched = y_mm[:, None] > np.asarray(skin.depth_at(x_mm), dtype=float)[None, :] + SEED_BELOW_SKIN_MM
    edge = max(1, int(round(SEED_SEPARATION_MM / cal.mm_per_pixel_x)))
    searched[:, :edge] = searched[:, -edge:] = False     # the image's edges: no room for a whole lesion
    reasons = []
    for _ in range(SEED_CANDIDATES):
        if not searched.any():
            break
        row, col = np.unravel_index(np.argmin(np.where(searched, smooth, np.inf)), smooth.shape)
        seed_mm = (float(x_mm[col]), float(y_mm[row]))
        try:
            return LesionOutline(propose_lesion_outline(image.frames[0], cal, seed_mm, skin.depth_at))
        except (ProposalError, OutlineError) as err:
            reasons.append(f"at ({seed_mm[0]:.1f}, {seed_mm[1]:.1f}) mm: {err}")
        near = ((x_mm[None, :] - seed_mm[0]) ** 2 + (y_mm[:, None] - seed_mm[1]) ** 2) < SEED_SEPARATION_MM ** 2
        searched &= ~near
    raise InputError("no lesion outline could be proposed (" + "; ".join(reasons or ["no tissue below the skin"])
                     + "); give it with --outline FILE")


# --------------------------------------------------------------------------------- writing

def _check_out_dir(out_dir: Path) -> None:
    """Refused before the dose is computed (minutes), not after; write_plan_package checks again."""
    from planner.dicom.package import PACKAGE_FILES

    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"--out {out_dir} is a file, not a folder")
    taken = [name for name in PACKAGE_FILES if (out_dir / name).exists()]
    if taken:
        raise InputError(f"{out_dir} already holds a plan ({', '.join(taken)}); choose another folder")


def _write_package(out_dir: Path, plan, dose, planning_image, technique, audit_db=None):
    """The package and its "export" audit entry, whose hash RTPLAN.dcm and the report carry."""
    from planner.dicom.export import RT_PLAN_FILE
    from planner.dicom.package import PackageError, write_plan_package

    details = {"file": str(out_dir / RT_PLAN_FILE), "command": "planner plan"}
    with recording(audit_db, "export", details, what=f"the package in {out_dir}") as anchor:
        try:
            return write_plan_package(out_dir, plan, dose, planning_image, technique, audit_anchor=anchor)
        except PackageError as err:
            raise CommandError(str(err)) from None


# --------------------------------------------------------------------------------- output

def _progress_printer():
    """Monte Carlo progress on a terminal only: a script reading stderr sees just errors."""
    if not sys.stderr.isatty():
        return None

    def progress(fraction: float, message: str) -> None:
        print(f"\r{fraction:4.0%} {message[:70]:70s}", end="", file=sys.stderr, flush=True)
    return progress


def _prescription_lines(plan, dose, convention: bool) -> tuple[str, str | None]:
    """(the prescription sentence, the coverage sentence or None): the window's and the report's words."""
    from planner.dose.coverage import prescription_sentence

    rx = plan.prescription
    text = prescription_sentence(rx.dose_per_fraction_gy, rx.point, dose.dmax_gy, dose.prescription_isodose_percent)
    if convention:
        text += " — the technique's convention (no --prescribe-… option given)"
    return text, None if dose.coverage is None else dose.coverage.sentence()


def plan_json(package, plan, dose, machine, energy, applicator, commissioning, convention: bool) -> dict:
    """What ``planner plan --json`` prints: the numbers of the text summary, with their units in the names."""
    rx = plan.prescription
    sentence, _ = _prescription_lines(plan, dose, convention)
    return {
        "label": plan.label,
        "unit": {"machine": machine.name, "energy": energy.label, "applicator": applicator.label},
        "prescription": {"dose_per_fraction_gy": rx.dose_per_fraction_gy, "fractions": rx.fractions,
                         "total_dose_gy": rx.total_dose_gy, "mode": rx.point.mode,
                         "depth_mm": rx.point.depth_mm if rx.point.mode == "depth" else None,
                         "isodose_percent": rx.point.isodose_percent if rx.point.mode == "isodose" else None,
                         "technique_convention": convention, "text": sentence},
        "dmax_gy": dose.dmax_gy,
        "prescription_isodose_percent": dose.prescription_isodose_percent,
        "prescription_depth_mm": dose.prescription_depth_mm,
        "dose_at_prescription_depth_gy": dose.dose_at_prescription_depth_gy,
        "time_name": dose.time_name, "time_per_fraction_min": dose.treatment_time_min,
        "time_reason": dose.treatment_time_reason,
        "coverage": None if dose.coverage is None else {**dose.coverage.as_json(), "text": dose.coverage.sentence()},
        "demo_commissioning": bool(commissioning is not None and getattr(commissioning, "is_demo", False)),
        "findings": [{"severity": f.severity, "code": f.code, "message": f.message} for f in dose.findings],
        "notes": list(package.notes),
        "files": [str(p) for p in (package.rt_plan, package.rt_structure_set, package.rt_dose, package.ultrasound,
                                   package.report, package.plan_file) if p is not None],
    }


def _print_summary(package, plan, dose, machine, energy, applicator, commissioning, convention: bool) -> None:
    if sys.stderr.isatty():
        print("", file=sys.stderr)
    rx = plan.prescription
    sentence, coverage = _prescription_lines(plan, dose, convention)
    print(f"{plan.label}: {rx.describe()}")
    print(f"  prescription  {sentence}")
    if coverage is not None:
        print(f"  coverage  {coverage}")
    print(f"  unit      {machine.name}, {energy.label}, applicator {applicator.label}")
    minutes = dose.treatment_time_min
    if minutes is not None and math.isfinite(minutes):
        print(f"  {dose.time_name} per fraction  {minutes:.2f} min ({minutes * 60:.0f} s)")
    else:
        print(f"  {dose.time_name} per fraction  none: {dose.treatment_time_reason}")
    if commissioning is not None and getattr(commissioning, "is_demo", False):
        print("  DEMO commissioning — NOT FOR CLINICAL USE")
    for finding in dose.findings:
        print(f"  {finding.severity}: {finding.message}")
    for note in package.notes:
        print(f"  note: {note}")
    print("wrote:")
    for path in (package.rt_plan, package.rt_structure_set, package.rt_dose, package.ultrasound, package.report,
                 package.plan_file):
        if path is not None:
            print(f"  {path}")
    from pydicom import dcmread

    from planner.dicom.audit_anchor import audit_head_text

    print(f"  {audit_head_text(dcmread(package.rt_plan))} (in the RT Plan and the report)")
