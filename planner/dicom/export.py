"""Export a plan as DICOM: RT Plan, RT Structure Set and RT Dose, plus the planning image as US.dcm.
The one entry point is :func:`export_plan`.

The image travels with the plan so that a reviewer at another workstation, or the course fetched from
the PACS, has the pixels the contours were drawn on: a DICOM image is copied byte for byte (the same
SOP Instance UID the RT objects reference, so the PACS sees the one object it may already hold); a
picture (PNG, JPEG) is converted to a DICOM Ultrasound image the RT objects then reference.

Why so strict: these files go to the record-and-verify system that drives the treatment unit.
Nothing is exported from a plan whose dose was refused, is missing, or no longer belongs to the
plan (another prescription or beam axis); nothing is written unless every object was built and
checked; and the set appears in the folder whole or not at all. The RT Plan carries the Planner plan
itself (planner.dicom.plan_payload), so a signature over it covers what Planner shows when it is opened.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom import dcmread
from pydicom.errors import InvalidDicomError

from planner.core.atomic import atomic_write_bytes, fsync_directory
from planner.core.errors import PlannerError
from planner.core.plan import Plan
from planner.dose.coverage import percent_text
from planner.dose.plan_checks import REFUSE
from planner.dose.result import DWELL_TIME, TREATMENT_TIME, DoseResult, stale_dose_problem
from planner.imaging.dicom_writer import write_ultrasound_dicom
from planner.imaging.planning_image import calibrated_image
from planner.techniques.beam_lookup import machine_commissioning  # the one meaning of "this machine's commissioning"
from planner.techniques.interface import Technique

from .identity import ExportIdentity, IdentityError, encode, new_uid, read_image_identity
from .audit_anchor import add_audit_anchor
from .plan_payload import add_plan_payload, calculation_record, payload_disagreements
from .rt_dose import DoseGridError, build_rt_dose
from .rt_plan import BeamGeometry, TreatmentUnit, build_rt_plan
from .rt_read import cross_reference_problems
from .rt_structure_set import build_rt_structure_set

RT_PLAN_FILE = "RTPLAN.dcm"
RT_STRUCTURE_SET_FILE = "RTSTRUCT.dcm"
RT_DOSE_FILE = "RTDOSE.dcm"
ULTRASOUND_FILE = "US.dcm"
ALL_FILES = (RT_PLAN_FILE, RT_STRUCTURE_SET_FILE, RT_DOSE_FILE, ULTRASOUND_FILE)
SHORT_STRING_MAX = 16   # SH: machine, applicator and beam-quality identifiers must fit whole


class ExportError(PlannerError, ValueError):
    """The plan cannot be exported; the message says why and what to do."""


@dataclass(frozen=True)
class ExportedFiles:
    """What one export wrote, and the UIDs that tie the objects together."""

    folder: Path
    rt_plan: Path
    rt_structure_set: Path
    rt_dose: Path
    ultrasound: Path                 # the planning image: the DICOM original, or the picture converted
    rt_plan_uid: str
    rt_structure_set_uid: str
    rt_dose_uid: str
    image_uid: str                   # the image the contours reference
    frame_of_reference_uid: str
    notes: tuple[str, ...] = ()      # what the user should know (NaN written as 0 Gy, conversions)


def export_plan(plan: Plan, dose_result: DoseResult | None, planning_image, technique, out_dir, *,
                overwrite: bool = False, now: _dt.datetime | None = None,
                predecessor_uid: str | None = None, audit_anchor=None) -> ExportedFiles:
    """Write RTPLAN.dcm, RTSTRUCT.dcm, RTDOSE.dcm and US.dcm into ``out_dir``, all or nothing.

    ``planning_image`` is imaging's PlanningImage or the UltrasoundImage itself; ``technique``
    the plan's technique plugin object (its machines and commissioning). The RT Dose holds the plan
    dose (all fractions, see planner.dicom.rt_dose). An existing export in ``out_dir`` is replaced
    only with ``overwrite=True``. ``predecessor_uid``: the RT Plan this export revises (an approved,
    locked plan; planner.review.revision), referenced as PREDECESSOR (PS3.3 C.8.8.9).
    ``audit_anchor``: called with the RT Plan's UID, returns the audit entry of this export (reserved,
    planner.review.audit), whose hash the RT Plan carries (planner.dicom.audit_anchor). Raises
    :class:`ExportError` with the reason otherwise.
    """
    image = getattr(planning_image, "image", planning_image)
    _check_plan_and_dose(plan, dose_result)
    brachy = _is_brachy(dose_result)
    unit = _treatment_unit(technique, plan, brachy, dose_result)
    calibrated = _calibrated(image, plan)
    _check_dose_lies_on_image(dose_result, calibrated)
    geometry = _beam_geometry(plan, dose_result)

    folder = Path(out_dir)
    with staged_folder(folder, ALL_FILES, overwrite, "an export", ExportError, ".planner-export-") as staging:
        try:
            when = (now or _dt.datetime.now()).replace(microsecond=0)
            notes: list[str] = []
            identity, image_header = _identity(plan, image, calibrated, staging, when, notes)
            if unit.demo_commissioning:
                notes.append("made with the illustrative DEMO commissioning: the RT Plan is labelled DEMO and "
                             "NOT FOR CLINICAL USE")
            uids = {name: new_uid() for name in (RT_PLAN_FILE, RT_STRUCTURE_SET_FILE, RT_DOSE_FILE)}
            struct = build_rt_structure_set(identity, uids[RT_STRUCTURE_SET_FILE], plan.label, plan.outline,
                                            plan.skin_surface)
            rt_plan = build_rt_plan(identity, uids[RT_PLAN_FILE], plan, dose_result, unit, geometry,
                                    uids[RT_STRUCTURE_SET_FILE], brachy=brachy, predecessor_uid=predecessor_uid)
            record = calculation_record(plan, dose_result)
            add_plan_payload(rt_plan, plan, record)  # the plan itself, signed with the RT Plan (plan_payload.py)
            if audit_anchor is not None:
                add_audit_anchor(rt_plan, audit_anchor(uids[RT_PLAN_FILE]))
            try:
                rt_dose, dose_notes = build_rt_dose(identity, uids[RT_DOSE_FILE], dose_result,
                                                    plan.prescription.fractions, uids[RT_PLAN_FILE])
            except DoseGridError as exc:
                raise ExportError(f"the dose cannot be exported: {exc}") from exc
            notes += dose_notes
            problems = [*cross_reference_problems(rt_plan, struct, rt_dose, image_header),
                        *payload_disagreements(rt_plan, plan, record)]
            if problems:
                raise ExportError("the exported objects do not agree (a Planner bug, nothing written): "
                                  + "; ".join(problems))
            written = {RT_PLAN_FILE: rt_plan, RT_STRUCTURE_SET_FILE: struct, RT_DOSE_FILE: rt_dose}
            for name, ds in written.items():
                atomic_write_bytes(staging / name, encode(ds))
            move_into_place(staging, folder, [*written, ULTRASOUND_FILE])
        except IdentityError as exc:
            raise ExportError(str(exc)) from exc
        except OSError as exc:
            raise ExportError(f"writing the export to {folder} failed, nothing was written: "
                              f"{exc.strerror or exc}") from exc
    return ExportedFiles(
        folder=folder, rt_plan=folder / RT_PLAN_FILE, rt_structure_set=folder / RT_STRUCTURE_SET_FILE,
        rt_dose=folder / RT_DOSE_FILE, ultrasound=folder / ULTRASOUND_FILE,
        rt_plan_uid=uids[RT_PLAN_FILE], rt_structure_set_uid=uids[RT_STRUCTURE_SET_FILE],
        rt_dose_uid=uids[RT_DOSE_FILE], image_uid=identity.image.sop_instance_uid,
        frame_of_reference_uid=identity.frame_of_reference_uid, notes=tuple(notes))


# ----------------------------------------------------------------------------------------- checks

def _check_plan_and_dose(plan: Plan, dose: DoseResult | None) -> None:
    if not plan.patient_id.strip():
        raise ExportError("the plan has no patient ID: enter the patient's identity before exporting")
    if plan.outline is None:
        raise ExportError("the plan has no lesion outline: draw the lesion before exporting")
    if plan.skin_surface is None:
        raise ExportError("the plan has no skin surface: calibrate the image so the skin can be found")
    if dose is None or dose.dose_grid_gy is None:
        raise ExportError("the plan has no dose: compute the dose before exporting")
    if dose.refused:
        reasons = "; ".join(f.message for f in dose.findings if f.severity == REFUSE)
        raise ExportError(f"the dose was refused, a refused plan is never exported: {reasons}")
    time = dose.treatment_time_min
    if time is None or not (math.isfinite(time) and time > 0):
        raise ExportError(f"the plan has no {dose.time_name}: {dose.treatment_time_reason or 'not computed'}")
    stale = stale_dose_problem(plan, dose)
    if stale is not None:
        raise ExportError(stale)


def _is_brachy(dose: DoseResult) -> bool:
    if dose.time_name == DWELL_TIME:
        return True
    if dose.time_name == TREATMENT_TIME:
        return False
    raise ExportError(f"unknown kind of beam-on time {dose.time_name!r}: neither a kV treatment time nor an "
                      f"eBx dwell time")


def _treatment_unit(technique: Technique, plan: Plan, brachy: bool, dose: DoseResult) -> TreatmentUnit:
    setup = plan.setup
    if technique.id != setup.technique_id:
        raise ExportError(f"the plan is for technique {setup.technique_id!r}, not {technique.id!r}")
    try:
        machine = technique.machine(setup.machine_id)
        energy, applicator = machine.energy(setup.energy_id), machine.applicator(setup.applicator_id)
    except KeyError as exc:
        raise ExportError(f"the plan's treatment unit is not offered: {exc}") from exc
    for what, value in (("machine", machine.id), ("applicator", applicator.id), ("energy", energy.id)):
        if len(value) > SHORT_STRING_MAX:
            raise ExportError(f"the {what} id {value!r} is longer than the {SHORT_STRING_MAX} characters DICOM "
                              f"allows; it would not reach the treatment unit whole")
    if not brachy and not (dose.ssd_cm is not None and math.isfinite(dose.ssd_cm) and dose.ssd_cm > 0):
        raise ExportError("the dose has no source-to-surface distance: the kV beam cannot be described")
    rate = dose.surface_dose_rate_gy_per_min
    if brachy and not (rate is not None and math.isfinite(rate) and rate > 0):
        raise ExportError("the eBx dose has no surface dose rate: the source strength cannot be written")
    commissioning = machine_commissioning(technique, machine.id)
    entry = None if commissioning is None else commissioning.entry(energy.id, applicator.id)
    filtration = getattr(getattr(entry, "added_filtration_mm_al", None), "value", None)
    return TreatmentUnit(machine, energy, applicator, filtration,
                         demo_commissioning=bool(getattr(commissioning, "is_demo", False)))


def _calibrated(image, plan: Plan):
    # Imaging owns how a hand calibration turns pixels into mm; the plan was drawn in that frame.
    calibrated = calibrated_image(image, plan)
    if calibrated.calibration is None:
        raise ExportError("the image has no mm calibration: calibrate it by hand before exporting")
    return calibrated


def _check_dose_lies_on_image(dose: DoseResult, image) -> None:
    left, top, width, height = image.extent_mm
    x, y = np.asarray(dose.x_mm, dtype=float), np.asarray(dose.y_mm, dtype=float)
    tolerance = 1e-6
    if (x.size == 0 or y.size == 0 or x.min() < left - tolerance or x.max() > left + width + tolerance
            or y.min() < top - tolerance or y.max() > top + height + tolerance):
        raise ExportError("the dose grid does not lie on this image (was it computed on another image or "
                          "calibration?): recompute the dose")


def _beam_geometry(plan: Plan, dose: DoseResult) -> BeamGeometry:
    """The beam's entry and the dose reference point: where the prescribed dose lands on the axis."""
    axis = next(a for a in (dose.cone_axis_x_mm, plan.cone_axis_x_mm, plan.outline.lateral_centre_mm)
                if a is not None)
    point, depth = dose.prescription_point, dose.prescription_depth_mm
    at_depth = dose.dose_at_prescription_depth_gy
    # Every mode puts the prescribed dose at one depth on the beam axis (planner.dose.coverage).
    prescribed_there = (depth is not None and at_depth is not None
                        and math.isclose(at_depth, dose.prescribed_dose_gy, rel_tol=1e-6))
    if depth is None or dose.prescription_isodose_percent is None:
        description = f"Rx {point.describe()}"
    else:
        isodose = percent_text(dose.prescription_isodose_percent)
        description = (f"Rx at surface on beam axis: {isodose} isodose" if point.mode == "surface" else
                       f"Rx {isodose} isodose, {depth:.2f} mm below skin on beam axis")
    return BeamGeometry(float(axis), float(plan.skin_surface.depth_at(axis)), depth, prescribed_there,
                        description)


# ----------------------------------------------------------------------------------------- identity

def _identity(plan: Plan, image, calibrated, staging: Path, when: _dt.datetime, notes: list[str]):
    """(identity, image header): the patient, study, frame of reference and image of the export.
    Puts US.dcm into ``staging`` first (the DICOM original copied, or the picture converted), so the
    RT objects reference exactly the image that travels with them."""
    image_file = staging / ULTRASOUND_FILE
    if image.sop_instance_uid:
        reference, patient_study, frame_uid, header = read_image_identity(image.source_path, image.sop_instance_uid)
        _copy_original(Path(image.source_path), image_file, image.sop_instance_uid)
    else:
        _write_ultrasound(image_file, plan, image, calibrated, when, notes)
        written_uid = str(dcmread(image_file, stop_before_pixels=True).SOPInstanceUID)
        reference, patient_study, frame_uid, header = read_image_identity(str(image_file), written_uid)
    if patient_study.patient_id != plan.patient_id or patient_study.patient_name != plan.patient_name:
        raise ExportError(f"the plan's patient ({plan.patient_name}, {plan.patient_id}) is not the image's "
                          f"({patient_study.patient_name}, {patient_study.patient_id})")
    if frame_uid is None:
        frame_uid = new_uid()
        notes.append("the ultrasound declares no Frame of Reference: the RT objects define one and "
                     "reference the image by its SOP Instance UID")
    return ExportIdentity(patient_study, frame_uid, reference, when), header


def _copy_original(source: Path, target: Path, sop_instance_uid: str) -> None:
    """The DICOM planning image byte for byte (the object the PACS may already hold, not a re-encoding),
    checked once more to be the image the plan was drawn on."""
    try:
        shutil.copyfile(source, target)
        copied = str(dcmread(target, stop_before_pixels=True, specific_tags=["SOPInstanceUID"]).SOPInstanceUID)
    except (OSError, InvalidDicomError, AttributeError) as exc:
        raise IdentityError(f"cannot copy the planning image {source}: {getattr(exc, 'strerror', None) or exc}") \
            from exc
    if copied != sop_instance_uid:
        raise IdentityError(f"the planning image {source} changed while it was exported; export again")


def _write_ultrasound(path: Path, plan: Plan, image, calibrated, when: _dt.datetime, notes: list[str]) -> None:
    """The planning picture as a DICOM Ultrasound image (derived, 8-bit grey), with its mm scale."""
    pixels = np.asarray(image.frames[0])
    source_name = Path(image.source_path).name or "a picture"
    conversions = []
    if image.n_frames > 1:
        conversions.append(f"first of {image.n_frames} frames")
    if pixels.ndim == 3:  # RGB → grey luma (ITU-R BT.601): the writer stores grey B-mode
        pixels = np.clip(np.rint(pixels.astype(np.float64) @ np.array([0.299, 0.587, 0.114])), 0, 255)
        pixels = pixels.astype(np.uint8)
        conversions.append("colour converted to grey")
    elif pixels.dtype != np.uint8:  # e.g. a 16-bit PNG: stretched linearly to 8 bits
        low, high = float(np.min(pixels)), float(np.max(pixels))
        span = high - low if high > low else 1.0
        pixels = np.rint((pixels.astype(np.float64) - low) * (255.0 / span)).astype(np.uint8)
        conversions.append(f"values {low:g}–{high:g} scaled to 0–255")
    comment = f"Converted by Planner from {source_name}; scale: {calibrated.calibration.source}"
    if conversions:
        comment += "; " + ", ".join(conversions)
        notes.append(f"US.dcm: {', '.join(conversions)}")
    write_ultrasound_dicom(path, pixels, calibrated.calibration, plan.patient_name, plan.patient_id,
                           content_datetime=when, series_description="B-mode (converted picture)",
                           image_comments=comment, image_type=("DERIVED", "SECONDARY", "SMALL PARTS", "0001"))


# ----------------------------------------------------------------------------------------- commit

def move_into_place(staging: Path, folder: Path, names, replaced=ALL_FILES) -> None:
    """Replace the folder's files ``replaced`` by the staged ``names``; on any failure put the old
    files back. ``staging`` is a folder on the same file system (os.replace is then atomic)."""
    backups: list[tuple[Path, Path]] = []
    placed: list[Path] = []
    try:
        for name in replaced:  # an old export's files go aside, also a US.dcm this export does not write
            target = folder / name
            if target.exists():
                backup = staging / f".previous-{name}"
                os.replace(target, backup)
                backups.append((backup, target))
        for name in names:
            os.replace(staging / name, folder / name)
            placed.append(folder / name)
    except BaseException:
        for path in placed:
            path.unlink(missing_ok=True)
        for backup, target in backups:
            os.replace(backup, target)
        raise
    fsync_directory(folder)


@contextmanager
def staged_folder(folder: Path, names, overwrite: bool, what: str, error: type[Exception], prefix: str):
    """A hidden staging folder inside ``folder`` for an all-or-nothing write (finish it with
    move_into_place). Refuses a folder that already holds any of ``names`` unless ``overwrite``;
    a folder created here is removed again when the write fails."""
    existing = [name for name in names if (folder / name).exists()]
    if existing and not overwrite:
        raise error(f"{folder} already holds {what} ({', '.join(existing)}); choose another folder or replace it")
    created = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=prefix, dir=folder))
    except OSError as exc:
        raise error(f"cannot write to {folder}: {exc.strerror or exc}") from exc
    done = False
    try:
        yield staging
        done = True
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if created and not done:
            try:
                folder.rmdir()   # only if empty: never anything the user had there
            except OSError:
                pass


__all__ = ["ALL_FILES", "ExportError", "ExportedFiles", "export_plan", "move_into_place", "staged_folder"]
