"""RT Plan of a step-and-shoot MLC (IMRT) plan, and the 3-D RT Dose of a planning volume.

Encoding (conventions a receiving system must know; they belong in the conformance statement):

- One PHOTON beam per gantry angle, ``PrimaryDosimeterUnit`` MU, ``BeamType`` STATIC. The
  Standard (PS3.3 2024e, C.8.8.14, Table C.8-50) defines STATIC as "all Control Point Sequence
  attributes remain unchanged between consecutive pairs of control points with changing Cumulative
  Meterset Weight", and DYNAMIC as one or more of them changing between such a pair: step-and-shoot
  is STATIC under that text, because the leaves only move while the meterset stands still. Each
  segment is a pair of control points with the same leaf positions, the cumulative meterset weight
  rising between them; the next pair starts at the same cumulative weight with the new leaf
  positions (C.8.8.14.5: a change with the beam off is a non-irradiation segment, and a parameter
  that changes anywhere is given at every control point). The older wording ("all beam parameters
  remain unchanged during delivery") led pylinac's plan generator and matRad's exporter to write
  DYNAMIC for shaped segments; a receiving system that expects that must be told (conformance
  statement). What Eclipse or Monaco write was not checked.
- Beam limiting devices ASYMX, ASYMY (independent jaws, one pair each) and MLCX with the model's


- ``FinalCumulativeMetersetWeight`` 1; ``BeamMeterset`` = MU per fraction, ``BeamDose`` = the
  beam's share of the dose per fraction; one dose reference (TARGET, total dose), VOLUME with the
  ROI number when known, otherwise a SITE named after the target; ``PatientPosition`` HFS,
  ``ApprovalStatus`` UNAPPROVED. MU made with the DEMO calibration are said to be so in the label
  and description.

The 3-D RT Dose (``build_rt_dose_3d``) holds the plan dose on the planning volume's grid: one frame
per z slice, ``GridFrameOffsetVector`` relative to the first, 16-bit unsigned values × Dose Grid
Scaling (dciodvfy crashes on 32-bit RT Dose, dicom-notes §2.4). It lives here and not in
planner.dicom.rt_dose because that writer is built around the 2-D DoseResult of the ultrasound
plane; both share its quantisation and axis checks.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Callable

import numpy as np
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.tag import Tag
from pydicom.uid import RTDoseStorage, RTPlanStorage, RTStructureSetStorage

from planner.core.atomic import atomic_write_bytes
from planner.core.errors import PlannerError
from planner.core.mlc_beams import MlcBeam, MlcPlan, MlcSegment
from planner.core.volume import PlanningVolume, VoxelGrid

from .identity import (ExportIdentity, PatientStudy, dicom_date, dicom_time, ds_text, encode, new_dataset,
                       new_uid, referenced)
from .rt_dose import SERIES_NUMBER as DOSE_SERIES_NUMBER
from .rt_dose import grid_step_mm, quantise_dose
from .rt_plan import SERIES_NUMBER as PLAN_SERIES_NUMBER
from .rt_plan import predecessor_reference, set_first_control_point_geometry

DOSE_REFERENCE_NUMBER = 1
PATIENT_SETUP_NUMBER = 1
JAW_X, JAW_Y, MLC = "ASYMX", "ASYMY", "MLCX"
SHORT_STRING_MAX = 16  # SH (Treatment Machine Name, RT Plan Label)
GRID_FRAME_OFFSET_POINTER = Tag(0x3004, 0x000C)
DEMO_NOTICE = "NOT FOR CLINICAL USE: MU from the illustrative DEMO calibration."
DEMO_LABEL_PREFIX = "DEMO "


class MlcPlanError(PlannerError, ValueError):
    """The plan cannot be written as an RT Plan; the message says why."""


def volume_identity(volume: PlanningVolume, patient_study: PatientStudy | None = None,
                    created: _dt.datetime | None = None) -> ExportIdentity:
    """The identity of an export made on a planning volume: its CT's study and frame of reference
    when it came from DICOM, fresh UIDs for a phantom. There is no single image to reference, so
    ``image`` is None (ExportIdentity types it as required: only the structure set writer uses it)."""
    created = created or _dt.datetime.now()
    study_uid = volume.study_instance_uid or (patient_study.study_instance_uid if patient_study else new_uid())
    if patient_study is None:
        patient_study = PatientStudy(
            patient_name="PHANTOM^" + (volume.description.split(" ")[0] or "VOLUME"), patient_id="PHANTOM",
            patient_birth_date="", patient_sex="", study_instance_uid=study_uid,
            study_date=dicom_date(created), study_time=dicom_time(created), study_id="1", accession_number="",
            referring_physician_name="", study_description=volume.description[:64])
    elif patient_study.study_instance_uid != study_uid:
        raise MlcPlanError("the patient's study is not the planning volume's study")
    return ExportIdentity(patient_study, volume.frame_of_reference_uid or new_uid(), None, created)


# ---------------------------------------------------------------------------------------------- plan


def build_rt_plan_mlc(identity: ExportIdentity, sop_instance_uid: str, plan: MlcPlan,
                      structure_set_uid: str | None, predecessor_uid: str | None = None) -> Dataset:
    """RT Plan IOD (PS3.3 A.20) of a step-and-shoot plan; ``structure_set_uid`` None writes
    RTPlanGeometry TREATMENT_DEVICE (no structure set to reference), otherwise PATIENT.
    ``predecessor_uid``: the RT Plan this one revises, referenced as PREDECESSOR (C.8.8.9)."""
    _check_plan(plan)
    ds = new_dataset(identity, RTPlanStorage, sop_instance_uid, "RTPLAN", "Planner IMRT plan",
                     PLAN_SERIES_NUMBER)
    when = identity.created
    label = (DEMO_LABEL_PREFIX if plan.demo_calibration else "") + plan.label
    # RT General Plan (C.8.8.9)
    ds.InstanceNumber = 1
    ds.RTPlanLabel = label[:SHORT_STRING_MAX]
    ds.RTPlanName = label[:64]
    ds.RTPlanDescription = _plan_description(plan)
    ds.RTPlanDate, ds.RTPlanTime = dicom_date(when), dicom_time(when)
    if structure_set_uid:
        ds.RTPlanGeometry = "PATIENT"
        ds.ReferencedStructureSetSequence = Sequence([referenced(RTStructureSetStorage, structure_set_uid)])
    else:
        ds.RTPlanGeometry = "TREATMENT_DEVICE"
    if predecessor_uid:
        ds.ReferencedRTPlanSequence = Sequence([predecessor_reference(predecessor_uid)])
    # RT Prescription (C.8.8.10)
    ds.PrescriptionDescription = plan.prescription_description[:1024]
    ds.DoseReferenceSequence = Sequence([_dose_reference(plan)])
    # RT Patient Setup (C.8.8.12)
    setup = Dataset()
    setup.PatientSetupNumber = PATIENT_SETUP_NUMBER
    setup.PatientPosition = plan.patient_position
    setup.SetupTechnique = "ISOCENTRIC"
    ds.PatientSetupSequence = Sequence([setup])
    # RT Fraction Scheme (C.8.8.13)
    ds.FractionGroupSequence = Sequence([_fraction_group(plan)])
    # RT Beams (C.8.8.14)
    ds.BeamSequence = Sequence([_beam(number, beam, plan) for number, beam in enumerate(plan.beams, 1)])
    # Approval (C.8.8.16): a draft; approval is signed later
    ds.ApprovalStatus = "UNAPPROVED"
    return ds


def write_rt_plan_mlc(plan: MlcPlan, identity: ExportIdentity, path: str | os.PathLike, *,
                      structure_set_uid: str | None, sop_instance_uid: str | None = None,
                      embed: Callable[[Dataset], None] | None = None, predecessor_uid: str | None = None) -> str:
    """Build and write the RT Plan (atomically); returns its SOP Instance UID. ``embed(ds)`` adds
    what the plan carries of its own (planner.dicom.inverse_payload) before it is written;
    ``predecessor_uid`` is the RT Plan it revises (planner.review.revision)."""
    uid = sop_instance_uid or new_uid()
    ds = build_rt_plan_mlc(identity, uid, plan, structure_set_uid, predecessor_uid)
    if embed is not None:
        embed(ds)
    atomic_write_bytes(path, encode(ds))
    return uid


def _check_plan(plan: MlcPlan) -> None:
    if len(plan.machine_name) > SHORT_STRING_MAX:
        raise MlcPlanError(f"machine name {plan.machine_name!r} is longer than {SHORT_STRING_MAX} characters")
    for beam in plan.beams:
        (x1, x2), (y1, y2) = beam.jaws_x_mm, beam.jaws_y_mm
        b = beam.leaf_boundaries_mm
        for k, segment in enumerate(beam.segments):
            left, right = segment.leaf_positions_mm
            pairs = segment.open_pairs
            if pairs.size == 0:
                raise MlcPlanError(f"beam {beam.name}: segment {k + 1} has no open leaf pair")
            if (left[pairs].min() < x1 - 1e-6 or right[pairs].max() > x2 + 1e-6
                    or b[pairs[0]] < y1 - 1e-6 or b[pairs[-1] + 1] > y2 + 1e-6):
                raise MlcPlanError(f"beam {beam.name}: segment {k + 1} opens leaves outside the jaws")


def _plan_description(plan: MlcPlan) -> str:
    parts = []
    if plan.demo_calibration:
        parts.append(DEMO_NOTICE)
    segments = ", ".join(f"{b.name} {len(b.segments)}" for b in plan.beams)
    parts.append(f"Draft exported by Planner. Step-and-shoot IMRT, {plan.machine_name}, "
                 f"{len(plan.beams)} beams, {plan.total_mu_per_fraction:.1f} MU per fraction; "
                 f"segments per beam: {segments}.")
    parts.extend(plan.notes)
    return " ".join(parts)[:1024]


def _dose_reference(plan: MlcPlan) -> Dataset:
    item = Dataset()
    item.DoseReferenceNumber = DOSE_REFERENCE_NUMBER
    item.DoseReferenceUID = new_uid()
    if plan.target_roi_number is None:
        item.DoseReferenceStructureType = "SITE"
    else:
        item.DoseReferenceStructureType = "VOLUME"
        item.ReferencedROINumber = plan.target_roi_number
    item.DoseReferenceDescription = plan.target_roi_name[:64]
    item.DoseReferenceType = "TARGET"
    item.TargetPrescriptionDose = ds_text(plan.total_dose_gy)  # Gy, all fractions
    return item


def _fraction_group(plan: MlcPlan) -> Dataset:
    group = Dataset()
    group.FractionGroupNumber = 1
    group.NumberOfFractionsPlanned = plan.fractions
    reference = Dataset()
    reference.ReferencedDoseReferenceNumber = DOSE_REFERENCE_NUMBER
    reference.TargetPrescriptionDose = ds_text(plan.dose_per_fraction_gy)  # Gy per fraction
    group.ReferencedDoseReferenceSequence = Sequence([reference])
    group.NumberOfBeams = len(plan.beams)
    group.NumberOfBrachyApplicationSetups = 0
    items = []
    for number, beam in enumerate(plan.beams, 1):
        item = Dataset()
        item.ReferencedBeamNumber = number
        item.BeamDose = ds_text(beam.beam_dose_gy)
        item.BeamMeterset = ds_text(beam.meterset_mu)  # MU per fraction
        items.append(item)
    group.ReferencedBeamSequence = Sequence(items)
    return group


def _device(kind: str, pairs: int, boundaries: np.ndarray | None = None) -> Dataset:
    device = Dataset()
    device.RTBeamLimitingDeviceType = kind
    device.NumberOfLeafJawPairs = pairs
    if boundaries is not None:
        device.LeafPositionBoundaries = [ds_text(v) for v in boundaries]
    return device


def _position(kind: str, values) -> Dataset:
    position = Dataset()
    position.RTBeamLimitingDeviceType = kind
    position.LeafJawPositions = [ds_text(v) for v in values]
    return position


def _leaf_values(segment: MlcSegment) -> list[float]:
    return list(segment.leaf_positions_mm[0]) + list(segment.leaf_positions_mm[1])


def _beam(number: int, beam: MlcBeam, plan: MlcPlan) -> Dataset:
    item = Dataset()
    item.BeamNumber = number
    item.BeamName = beam.name[:64]
    item.BeamDescription = beam.description[:1024]
    item.BeamType = "STATIC"  # step-and-shoot: see the module docstring (PS3.3 C.8.8.14)
    item.RadiationType = "PHOTON"
    fluence = Dataset()
    fluence.FluenceMode = "STANDARD"
    item.PrimaryFluenceModeSequence = Sequence([fluence])
    item.TreatmentDeliveryType = "TREATMENT"
    item.TreatmentMachineName = plan.machine_name
    item.Manufacturer = ""
    item.PrimaryDosimeterUnit = "MU"
    item.SourceAxisDistance = ds_text(beam.sad_mm)
    item.ReferencedPatientSetupNumber = PATIENT_SETUP_NUMBER
    item.BeamLimitingDeviceSequence = Sequence([_device(JAW_X, 1), _device(JAW_Y, 1),
                                                _device(MLC, beam.n_pairs, beam.leaf_boundaries_mm)])
    item.NumberOfWedges = 0
    item.NumberOfCompensators = 0
    item.NumberOfBoli = 0
    item.NumberOfBlocks = 0
    cumulative = beam.cumulative_meterset_weights()
    points = [_first_control_point(beam)]
    for k, segment in enumerate(beam.segments):
        if k > 0:  # beam off: the leaves move to the next shape at the same cumulative weight
            cp = Dataset()
            cp.ControlPointIndex = len(points)
            cp.CumulativeMetersetWeight = ds_text(cumulative[k])
            cp.BeamLimitingDevicePositionSequence = Sequence([_position(MLC, _leaf_values(segment))])
            points.append(cp)
        cp = Dataset()  # beam on: same leaves, the weight rises by the segment's share
        cp.ControlPointIndex = len(points)
        cp.CumulativeMetersetWeight = ds_text(cumulative[k + 1])
        # C.8.8.14.5: what changes anywhere in the beam is given at every control point
        cp.BeamLimitingDevicePositionSequence = Sequence([_position(MLC, _leaf_values(segment))])
        points.append(cp)
    item.FinalCumulativeMetersetWeight = ds_text(cumulative[-1])
    item.NumberOfControlPoints = len(points)
    item.ControlPointSequence = Sequence(points)
    return item


def _first_control_point(beam: MlcBeam) -> Dataset:
    """Control point 0 carries every "required for the first control point" attribute (§2.4)."""
    cp = Dataset()
    cp.ControlPointIndex = 0
    cp.CumulativeMetersetWeight = "0"
    cp.NominalBeamEnergy = ds_text(beam.nominal_energy_mv)
    cp.BeamLimitingDevicePositionSequence = Sequence([
        _position(JAW_X, beam.jaws_x_mm), _position(JAW_Y, beam.jaws_y_mm),
        _position(MLC, _leaf_values(beam.segments[0]))])
    set_first_control_point_geometry(cp, isocentre_mm=beam.isocentre_mm, ssd_mm=beam.ssd_mm,
                                     gantry_deg=beam.gantry_deg, collimator_deg=beam.collimator_deg,
                                     couch_deg=beam.couch_deg)
    return cp


# ---------------------------------------------------------------------------------------------- reading


def read_mlc_plan(ds: Dataset) -> MlcPlan:
    """The step-and-shoot plan an RT Plan delivers, read back from its own attributes (beams,
    control points, jaw and leaf positions, cumulative meterset weights, Beam Meterset), so the
    review recomputes the dose of what the linac would deliver, not of what Planner remembers.

    Each pair of control points between which the cumulative weight rises is one segment; its leaves
    must stand still there (a leaf that moves with the beam on is a dynamic delivery, refused), and
    jaws are read from control point 0 and may not move. Segment weights come back as their share of
    the beam (the cumulative weights' steps), so ``segment_mu()`` is what the file says. The plan's
    ``notes`` stay empty: the file holds them only inside the free-text description. Raises
    MlcPlanError naming what cannot be read."""
    try:
        return _read_mlc_plan(ds)
    except MlcPlanError:
        raise
    except (AttributeError, KeyError, IndexError, TypeError, ValueError) as exc:
        raise MlcPlanError(f"the RT Plan's beams cannot be read: {type(exc).__name__}: {exc}") from None


def _read_mlc_plan(ds: Dataset) -> MlcPlan:
    group = ds.FractionGroupSequence[0]
    metersets = {int(item.ReferencedBeamNumber): item for item in group.ReferencedBeamSequence}
    reference = ds.DoseReferenceSequence[0]
    description = str(ds.get("RTPlanDescription", "") or "")
    demo = description.startswith(DEMO_NOTICE)
    label = str(ds.get("RTPlanName", "") or ds.get("RTPlanLabel", ""))
    if demo and label.startswith(DEMO_LABEL_PREFIX):
        label = label[len(DEMO_LABEL_PREFIX):]
    beams = tuple(_read_beam(item, metersets) for item in ds.BeamSequence)
    machines = {str(item.TreatmentMachineName) for item in ds.BeamSequence}
    if len(machines) != 1:
        raise MlcPlanError(f"the RT Plan's beams name {len(machines)} treatment machines, not one")
    roi = reference.get("ReferencedROINumber")
    return MlcPlan(
        label=label, beams=beams, fractions=int(group.NumberOfFractionsPlanned),
        dose_per_fraction_gy=float(group.ReferencedDoseReferenceSequence[0].TargetPrescriptionDose),
        prescription_description=str(ds.get("PrescriptionDescription", "") or ""), machine_name=machines.pop(),
        target_roi_name=str(reference.get("DoseReferenceDescription", "") or ""),
        target_roi_number=None if roi is None else int(roi),
        patient_position=str(ds.PatientSetupSequence[0].PatientPosition), demo_calibration=demo)


def _positions(point: Dataset) -> dict[str, np.ndarray]:
    return {str(p.RTBeamLimitingDeviceType): np.array([float(v) for v in p.LeafJawPositions])
            for p in point.get("BeamLimitingDevicePositionSequence") or ()}


def _read_beam(item: Dataset, metersets: dict[int, Dataset]) -> MlcBeam:
    name = str(item.BeamName)
    devices = {str(d.RTBeamLimitingDeviceType): d for d in item.BeamLimitingDeviceSequence}
    if MLC not in devices:
        raise MlcPlanError(f"beam {name} has no {MLC} leaves")
    boundaries = np.array([float(v) for v in devices[MLC].LeafPositionBoundaries])
    points = list(item.ControlPointSequence)
    first = points[0]
    current = _positions(first)
    for kind in (JAW_X, JAW_Y, MLC):
        if kind not in current:
            raise MlcPlanError(f"beam {name}: control point 0 gives no {kind} positions")
    jaws = {JAW_X: current[JAW_X], JAW_Y: current[JAW_Y]}
    final = float(item.get("FinalCumulativeMetersetWeight", 1.0) or 1.0)
    segments, weight = [], 0.0
    for k, point in enumerate(points[1:], 1):
        given = _positions(point)
        if any(kind in given and not np.array_equal(given[kind], jaws[kind]) for kind in jaws):
            raise MlcPlanError(f"beam {name}: the jaws move at control point {k}; only fixed jaws are read")
        cumulative = float(point.CumulativeMetersetWeight)
        leaves = given.get(MLC, current[MLC])
        if cumulative > weight:
            if not np.array_equal(leaves, current[MLC]):
                raise MlcPlanError(f"beam {name}: the leaves move with the beam on before control point {k}: "
                                   f"not a step-and-shoot delivery")
            segments.append(MlcSegment(leaves.reshape(2, -1), (cumulative - weight) / final))
        elif cumulative < weight:
            raise MlcPlanError(f"beam {name}: the cumulative meterset weight falls at control point {k}")
        current[MLC], weight = leaves, cumulative
    meterset = metersets[int(item.BeamNumber)]
    iso = tuple(float(v) for v in first.IsocenterPosition)
    return MlcBeam(
        name=name, gantry_deg=float(first.GantryAngle), isocentre_mm=iso,
        ssd_mm=float(first.SourceToSurfaceDistance), sad_mm=float(item.SourceAxisDistance),
        jaws_x_mm=tuple(float(v) for v in jaws[JAW_X]), jaws_y_mm=tuple(float(v) for v in jaws[JAW_Y]),
        leaf_boundaries_mm=boundaries,
        segments=tuple(segments), meterset_mu=float(meterset.BeamMeterset), beam_dose_gy=float(meterset.BeamDose),
        collimator_deg=float(first.get("BeamLimitingDeviceAngle", 0.0) or 0.0),
        couch_deg=float(first.get("PatientSupportAngle", 0.0) or 0.0),
        nominal_energy_mv=float(first.NominalBeamEnergy), description=str(item.get("BeamDescription", "") or ""))


# ---------------------------------------------------------------------------------------------- dose


def build_rt_dose_3d(identity: ExportIdentity, sop_instance_uid: str, dose_gy: np.ndarray, grid: VoxelGrid,
                     rt_plan_uid: str, comment: str = "") -> Dataset:
    """RT Dose IOD (PS3.3 A.18) of a plan dose in Gy on a planning grid, indexed [x, y, z]."""
    dose = np.asarray(dose_gy, dtype=np.float64)
    if dose.shape != grid.shape:
        raise MlcPlanError(f"the dose is {dose.shape}, the grid {grid.shape}")
    dx, dy = grid_step_mm(grid.x_mm, "x"), grid_step_mm(grid.y_mm, "y")
    z = np.asarray(grid.z_mm, dtype=np.float64)
    if z.size > 1:
        grid_step_mm(z, "z")
    quantised = quantise_dose(dose)
    frames = np.ascontiguousarray(quantised.pixels.transpose(2, 1, 0))  # (z, y rows, x columns)

    ds = new_dataset(identity, RTDoseStorage, sop_instance_uid, "RTDOSE", "Planner IMRT dose", DOSE_SERIES_NUMBER)
    when = identity.created
    # General Image (C.7.6.1)
    ds.InstanceNumber = 1
    ds.ContentDate, ds.ContentTime = dicom_date(when), dicom_time(when)
    # Image Plane (C.7.6.2): axial slices, rows along y, columns along x
    ds.PixelSpacing = [ds_text(dy), ds_text(dx)]
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.ImagePositionPatient = [ds_text(grid.x_mm[0]), ds_text(grid.y_mm[0]), ds_text(z[0])]
    ds.SliceThickness = ds_text(z[1] - z[0]) if z.size > 1 else ""
    # Image Pixel (C.7.6.3) as the RT Dose module constrains it (C.8.8.3.4)
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = frames.shape[1], frames.shape[2]
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    # Multi-frame (C.7.6.6) and the frame offsets (C.8.8.3.2), relative to the first frame
    if z.size > 1:
        ds.NumberOfFrames = z.size
        ds.FrameIncrementPointer = GRID_FRAME_OFFSET_POINTER
        ds.GridFrameOffsetVector = [ds_text(v) for v in z - z[0]]
    ds.PixelData = frames.astype("<u2").tobytes()
    # RT Dose (C.8.8.3)
    ds.DoseUnits = "GY"
    ds.DoseType = "PHYSICAL"
    ds.DoseComment = (comment or "plan dose, all fractions")[:64]
    ds.DoseSummationType = "PLAN"
    ds.ReferencedRTPlanSequence = Sequence([referenced(RTPlanStorage, rt_plan_uid)])
    ds.DoseGridScaling = quantised.scaling_text
    ds.TissueHeterogeneityCorrection = "IMAGE"  # the engine traces rays through the volume's densities
    return ds


def write_rt_dose_3d(dose_gy: np.ndarray, grid: VoxelGrid, identity: ExportIdentity, rt_plan_uid: str,
                     path: str | os.PathLike, *, sop_instance_uid: str | None = None, comment: str = "") -> str:
    """Build and write the 3-D RT Dose (plan dose in Gy, all fractions); returns its SOP Instance UID."""
    uid = sop_instance_uid or new_uid()
    atomic_write_bytes(path, encode(build_rt_dose_3d(identity, uid, dose_gy, grid, rt_plan_uid, comment)))
    return uid
