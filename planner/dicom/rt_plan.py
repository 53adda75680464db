"""The RT Plan of a superficial kV cone plan or a surface electronic brachytherapy (eBx) plan.

The attribute sets are the ones verified against dciodvfy in shared/reference/dicom-notes.md §2.2
(kV) and §2.3 (eBx). Conventions a receiving system must know (they belong in the conformance
statement):

- kV: one STATIC PHOTON beam, ``PrimaryDosimeterUnit`` MINUTE, ``BeamMeterset`` = the timer setting
  per fraction in minutes (end effect included); the tube potential as ``NominalBeamEnergy`` in MV
  (100 kVp → 0.1, there is no kV attribute), kVp and HVL also in words in the beam description and a
  General Accessory item. The isocentre is where the cone's axis meets the skin, so
  ``SourceAxisDistance`` equals the SSD and the jaws (X, Y) are the cone's radius at that plane.
- eBx: one CONTACT HDR application setup (``ApplicationSetupName`` = the applicator id) with one
  FIXED channel; ``ChannelTotalTime`` = the dwell time per fraction in seconds. DICOM has no
  encoding for an X-ray source in brachytherapy, so the source is described in words
  (``SourceIsotopeName`` "X-RAY 69.5 kVp", no decay), with ``ReferenceAirKermaRate`` 0 and
  ``SourceStrength`` = the dose rate in water at the surface on the applicator axis in Gy/s
  (``SourceStrengthUnits`` DOSE_RATE_WATER). ``ChannelLength`` is empty and the channel has no
  Source Applicator Number (it would demand an applicator length a surface applicator lacks).
- Both: ``RTPlanGeometry`` PATIENT referencing the structure set; one dose reference: the point on
  the beam axis where the prescribed dose lands (COORDINATES in the structure set's frame) — the
  surface, the stated depth, or the depth of the prescription isodose — its description naming the
  isodose in percent of Dmax (planner.dose.coverage); the Prescription Description states the
  prescription with Dmax and the lesion's coverage in the words of the window and the report.
  Total dose in ``TargetPrescriptionDose``,
  per-fraction dose in the fraction group; ``ApprovalStatus`` UNAPPROVED (the physician's and the
  physicist's approval come later, signed).
"""

from __future__ import annotations

from dataclasses import dataclass

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import RTPlanStorage, RTStructureSetStorage

from planner.core.plan import Plan
from planner.dose.coverage import prescription_sentence
from planner.dose.plan_checks import WARN
from planner.dose.result import DoseResult
from planner.techniques.interface import Applicator, Energy, Machine

from .identity import ExportIdentity, dicom_date, dicom_time, ds_text, new_dataset, new_uid, referenced

SERIES_NUMBER = 902
BEAM_NUMBER = 1
APPLICATION_SETUP_NUMBER = 1
DOSE_REFERENCE_NUMBER = 1
PATIENT_SETUP_NUMBER = 1
# An X-ray tube does not decay; a half-life is Type 1, so a very long one (days) says "constant".
NO_DECAY_HALF_LIFE_DAYS = 1.0e9


@dataclass(frozen=True)
class TreatmentUnit:
    """The machine, beam quality and applicator that deliver the plan, as the technique offers them."""

    machine: Machine
    energy: Energy
    applicator: Applicator
    added_filtration_mm_al: float | None = None
    demo_commissioning: bool = False


@dataclass(frozen=True)
class BeamGeometry:
    """Where the beam meets the patient, in the structure set's frame (mm, z = 0 on the image plane).

    ``dose_at_depth_is_prescribed``: the prescribed dose lands exactly at ``prescription_depth_mm``
    on the axis (every prescription mode does); when it does not (a dose without a prescription
    depth), no point is claimed and the dose reference is a SITE described in words.
    """

    axis_x_mm: float
    skin_y_mm: float                     # depth of the skin where the beam axis crosses it
    prescription_depth_mm: float | None  # below the skin, on the axis
    dose_at_depth_is_prescribed: bool
    description: str                     # LO (64): what the dose reference is

    @property
    def entry_point_mm(self) -> tuple[float, float, float]:
        return (self.axis_x_mm, self.skin_y_mm, 0.0)

    @property
    def reference_point_mm(self) -> tuple[float, float, float] | None:
        if self.prescription_depth_mm is None or not self.dose_at_depth_is_prescribed:
            return None
        return (self.axis_x_mm, self.skin_y_mm + self.prescription_depth_mm, 0.0)


def build_rt_plan(identity: ExportIdentity, sop_instance_uid: str, plan: Plan, dose: DoseResult,
                  unit: TreatmentUnit, geometry: BeamGeometry, structure_set_uid: str, *,
                  brachy: bool, predecessor_uid: str | None = None) -> Dataset:
    """RT Plan IOD (PS3.3 A.20): a kV cone beam, or (``brachy``) an eBx surface application.

    ``predecessor_uid``: the SOP Instance UID of the RT Plan this one revises (a locked, approved
    plan that was edited): referenced with RT Plan Relationship PREDECESSOR (C.8.8.9).
    """
    ds = new_dataset(identity, RTPlanStorage, sop_instance_uid, "RTPLAN", "Planner plan", SERIES_NUMBER)
    when = identity.created
    rx = plan.prescription
    label = ("DEMO " if unit.demo_commissioning else "") + plan.label
    # RT General Plan module (C.8.8.9)
    ds.InstanceNumber = 1
    ds.RTPlanLabel = label[:16]
    ds.RTPlanName = label[:64]
    ds.RTPlanDescription = _plan_description(plan, dose, unit)
    ds.RTPlanDate, ds.RTPlanTime = dicom_date(when), dicom_time(when)
    ds.RTPlanGeometry = "PATIENT"
    ds.ReferencedStructureSetSequence = Sequence([referenced(RTStructureSetStorage, structure_set_uid)])
    if predecessor_uid:
        ds.ReferencedRTPlanSequence = Sequence([predecessor_reference(predecessor_uid)])
    # RT Prescription module (C.8.8.10)
    ds.PrescriptionDescription = _prescription_description(rx, dose)
    ds.DoseReferenceSequence = Sequence([_dose_reference(rx.total_dose_gy, geometry)])
    # RT Patient Setup module (C.8.8.12)
    ds.PatientSetupSequence = Sequence([_patient_setup(brachy)])
    # RT Fraction Scheme module (C.8.8.13)
    ds.FractionGroupSequence = Sequence([_fraction_group(rx.fractions, rx.dose_per_fraction_gy,
                                                         dose.treatment_time_min, brachy)])
    if brachy:
        _brachy_application_setups(ds, dose, unit, when)
    else:
        ds.BeamSequence = Sequence([_kv_beam(dose, unit, geometry)])
    # Approval module (C.8.8.16): exported as a draft; approval is signed later (planner.dicom.signatures)
    ds.ApprovalStatus = "UNAPPROVED"
    return ds


def _prescription_description(rx, dose: DoseResult) -> str:
    """The prescription and the lesion's coverage, in the same sentences as the window and the report."""
    if dose.dmax_gy is None or dose.prescription_isodose_percent is None:
        return f"{rx.describe()} {rx.point.describe()}"[:1024]
    text = (f"{rx.describe()}: {prescription_sentence(rx.dose_per_fraction_gy, rx.point, dose.dmax_gy, dose.prescription_isodose_percent)}. "
            f"Isodose percentages are percent of Dmax, the central-axis maximum dose per fraction.")
    if dose.coverage is not None:
        text += f" {dose.coverage.sentence()}."
    return text[:1024]


def predecessor_reference(uid: str) -> Dataset:
    """Referenced RT Plan Sequence item (300C,0002), C.8.8.9: the plan this one is a revision of."""
    item = referenced(RTPlanStorage, uid)
    item.RTPlanRelationship = "PREDECESSOR"  # (300A,0055), defined term: the plan this one replaces
    return item


def _plan_description(plan: Plan, dose: DoseResult, unit: TreatmentUnit) -> str:
    parts = []
    if unit.demo_commissioning:
        parts.append("NOT FOR CLINICAL USE: made with the illustrative demo commissioning.")
    parts.append(f"Draft exported by Planner. {unit.machine.name}, {_beam_quality(unit)}, applicator "
                 f"{unit.applicator.id} ({unit.applicator.label}). {dose.time_name.capitalize()} "
                 f"{dose.treatment_time_min:.4f} min per fraction.")
    warnings = [f.message for f in dose.findings if f.severity == WARN]
    if warnings:
        parts.append("Warnings: " + "; ".join(warnings) + ".")
    parts.append(f"Dose model: {dose.model_description}.")
    if plan.notes.strip():
        parts.append(f"Notes: {plan.notes.strip()}")
    return " ".join(parts)[:1024]  # ST holds 1024 characters


def _dose_reference(total_dose_gy: float, geometry: BeamGeometry) -> Dataset:
    item = Dataset()
    item.DoseReferenceNumber = DOSE_REFERENCE_NUMBER
    item.DoseReferenceUID = new_uid()
    point = geometry.reference_point_mm
    if point is None:
        item.DoseReferenceStructureType = "SITE"
    else:
        item.DoseReferenceStructureType = "COORDINATES"
        item.DoseReferencePointCoordinates = [ds_text(v) for v in point]
    item.DoseReferenceDescription = geometry.description[:64]
    item.DoseReferenceType = "TARGET"
    item.TargetPrescriptionDose = ds_text(total_dose_gy)  # Gy, all fractions
    return item


def _patient_setup(brachy: bool) -> Dataset:
    item = Dataset()
    item.PatientSetupNumber = PATIENT_SETUP_NUMBER
    # The position on the couch is not part of a skin plan: describe it instead of guessing HFS.
    item.PatientAdditionalPosition = "as positioned for the ultrasound of the lesion"
    if not brachy:
        item.SetupTechnique = "FIXED_SSD"
        item.SetupTechniqueDescription = "cone end on the skin, centred on the planned beam axis"
    return item


def _fraction_group(fractions: int, dose_per_fraction_gy: float, time_min: float, brachy: bool) -> Dataset:
    group = Dataset()
    group.FractionGroupNumber = 1
    group.NumberOfFractionsPlanned = fractions
    reference = Dataset()
    reference.ReferencedDoseReferenceNumber = DOSE_REFERENCE_NUMBER
    reference.TargetPrescriptionDose = ds_text(dose_per_fraction_gy)  # Gy per fraction
    group.ReferencedDoseReferenceSequence = Sequence([reference])
    if brachy:
        group.NumberOfBeams = 0
        group.NumberOfBrachyApplicationSetups = 1
        setup = Dataset()
        setup.ReferencedBrachyApplicationSetupNumber = APPLICATION_SETUP_NUMBER
        setup.BrachyApplicationSetupDose = ds_text(dose_per_fraction_gy)
        group.ReferencedBrachyApplicationSetupSequence = Sequence([setup])
    else:
        group.NumberOfBeams = 1
        group.NumberOfBrachyApplicationSetups = 0
        beam = Dataset()
        beam.ReferencedBeamNumber = BEAM_NUMBER
        beam.BeamDose = ds_text(dose_per_fraction_gy)
        beam.BeamMeterset = ds_text(time_min)  # minutes per fraction (PrimaryDosimeterUnit MINUTE)
        group.ReferencedBeamSequence = Sequence([beam])
    return group


def _beam_quality(unit: TreatmentUnit) -> str:
    hvl = "HVL not commissioned" if unit.energy.hvl_mm_al is None else f"HVL {unit.energy.hvl_mm_al:.2f} mm Al"
    filtration = ("" if unit.added_filtration_mm_al is None
                  else f", added filtration {unit.added_filtration_mm_al:g} mm Al")
    return f"{unit.energy.kvp:g} kVp, {hvl}{filtration}"


def _kv_beam(dose: DoseResult, unit: TreatmentUnit, geometry: BeamGeometry) -> Dataset:
    """RT Beams module (C.8.8.14): one static cone beam, time-based meterset."""
    radius_mm = unit.applicator.diameter_mm / 2.0
    ssd_mm = dose.ssd_cm * 10.0
    beam = Dataset()
    beam.BeamNumber = BEAM_NUMBER
    beam.BeamName = f"{unit.energy.kvp:g} kV {unit.applicator.label}"
    beam.BeamDescription = (f"{unit.machine.name}: {_beam_quality(unit)}; cone {unit.applicator.id} "
                            f"({unit.applicator.label}); SSD {dose.ssd_cm:g} cm; {dose.time_name} "
                            f"{dose.treatment_time_min:.4f} min per fraction")[:1024]
    beam.BeamType = "STATIC"
    beam.RadiationType = "PHOTON"
    beam.TreatmentDeliveryType = "TREATMENT"
    beam.TreatmentMachineName = unit.machine.id
    beam.Manufacturer = ""
    beam.PrimaryDosimeterUnit = "MINUTE"
    beam.SourceAxisDistance = ds_text(ssd_mm)  # isocentre on the skin
    beam.ReferencedPatientSetupNumber = PATIENT_SETUP_NUMBER
    beam.BeamLimitingDeviceSequence = Sequence([_jaw_device("X"), _jaw_device("Y")])
    beam.NumberOfWedges = 0
    beam.NumberOfCompensators = 0
    beam.NumberOfBoli = 0
    beam.NumberOfBlocks = 0
    applicator = Dataset()
    applicator.ApplicatorID = unit.applicator.id
    applicator.ApplicatorType = "PHOTON_CIRC"
    applicator.ApplicatorDescription = f"{unit.applicator.label} cone"
    opening = Dataset()
    opening.ApplicatorApertureShape = "SYM_CIRCULAR"
    opening.ApplicatorOpening = unit.applicator.diameter_mm  # mm, FL
    applicator.ApplicatorGeometrySequence = Sequence([opening])
    beam.ApplicatorSequence = Sequence([applicator])
    accessory = Dataset()
    accessory.GeneralAccessoryNumber = 1
    accessory.GeneralAccessoryID = unit.energy.id
    accessory.GeneralAccessoryDescription = f"beam quality {_beam_quality(unit)}"
    beam.GeneralAccessorySequence = Sequence([accessory])
    beam.FinalCumulativeMetersetWeight = "1"
    beam.NumberOfControlPoints = 2
    beam.ControlPointSequence = Sequence([_first_control_point(unit, geometry, radius_mm, ssd_mm),
                                          _last_control_point()])
    return beam


def _jaw_device(axis: str) -> Dataset:
    device = Dataset()
    device.RTBeamLimitingDeviceType = axis
    device.NumberOfLeafJawPairs = 1
    return device


def _first_control_point(unit: TreatmentUnit, geometry: BeamGeometry, radius_mm: float, ssd_mm: float) -> Dataset:
    """Control point 0 carries every 1C "required for the first control point" attribute (§2.4)."""
    cp = Dataset()
    cp.ControlPointIndex = 0
    cp.CumulativeMetersetWeight = "0"
    cp.NominalBeamEnergy = ds_text(unit.energy.kvp / 1000.0)  # MV
    positions = []
    for axis in ("X", "Y"):
        position = Dataset()
        position.RTBeamLimitingDeviceType = axis
        position.LeafJawPositions = [ds_text(-radius_mm), ds_text(radius_mm)]
        positions.append(position)
    cp.BeamLimitingDevicePositionSequence = Sequence(positions)
    set_first_control_point_geometry(cp, isocentre_mm=geometry.entry_point_mm, ssd_mm=ssd_mm)
    return cp


def set_first_control_point_geometry(cp: Dataset, *, isocentre_mm, ssd_mm: float, gantry_deg: float = 0.0,
                                     collimator_deg: float = 0.0, couch_deg: float = 0.0) -> None:
    """The angles, their (fixed) rotation directions, the table and the isocentre that control point 0
    must carry (Type 1C "required for the first control point", dicom-notes §2.2 and §2.4)."""
    cp.GantryAngle = ds_text(gantry_deg % 360.0)
    cp.GantryRotationDirection = "NONE"
    cp.BeamLimitingDeviceAngle = ds_text(collimator_deg % 360.0)
    cp.BeamLimitingDeviceRotationDirection = "NONE"
    cp.PatientSupportAngle = ds_text(couch_deg % 360.0)
    cp.PatientSupportRotationDirection = "NONE"
    cp.TableTopEccentricAngle = "0"
    cp.TableTopEccentricRotationDirection = "NONE"
    cp.TableTopPitchAngle = 0.0
    cp.TableTopPitchRotationDirection = "NONE"
    cp.TableTopRollAngle = 0.0
    cp.TableTopRollRotationDirection = "NONE"
    cp.TableTopVerticalPosition = ""
    cp.TableTopLongitudinalPosition = ""
    cp.TableTopLateralPosition = ""
    cp.IsocenterPosition = [ds_text(v) for v in isocentre_mm]
    cp.SourceToSurfaceDistance = ds_text(ssd_mm)


def _last_control_point() -> Dataset:
    cp = Dataset()
    cp.ControlPointIndex = 1
    cp.CumulativeMetersetWeight = "1"
    return cp


def _brachy_application_setups(ds: Dataset, dose: DoseResult, unit: TreatmentUnit, when) -> None:
    """RT Brachy Application Setups module (C.8.8.15), the eBx convention of the module docstring."""
    ds.BrachyTreatmentTechnique = "CONTACT"
    ds.BrachyTreatmentType = "HDR"
    machine = Dataset()
    machine.TreatmentMachineName = unit.machine.id
    machine.Manufacturer = ""
    ds.TreatmentMachineSequence = Sequence([machine])

    source = Dataset()
    source.SourceNumber = 1
    source.SourceType = "POINT"
    source.SourceManufacturer = ""
    source.SourceModelID = unit.machine.id
    source.SourceDescription = "X-ray tube; strength = Gy/s in water at surface on axis"  # LO: 64
    source.SourceIsotopeName = f"X-RAY {unit.energy.kvp:g} kVp"
    source.SourceIsotopeHalfLife = ds_text(NO_DECAY_HALF_LIFE_DAYS)
    source.ReferenceAirKermaRate = "0"  # not a gamma emitter: Source Strength carries the output
    source.SourceStrengthUnits = "DOSE_RATE_WATER"
    source.SourceStrength = ds_text(dose.surface_dose_rate_gy_per_min / 60.0)
    source.SourceStrengthReferenceDate, source.SourceStrengthReferenceTime = dicom_date(when), dicom_time(when)
    ds.SourceSequence = Sequence([source])

    channel = Dataset()
    channel.ChannelNumber = 1
    channel.ChannelLength = ""
    channel.ChannelTotalTime = ds_text(dose.treatment_time_min * 60.0)  # s
    channel.SourceMovementType = "FIXED"
    # No Source Applicator Number: it makes a Source Applicator Length (connector to the distal-most
    # source position, Type 1C) mandatory, which a surface applicator does not have and we would have
    # to invent. The applicator is named by the application setup instead.
    channel.TransferTubeNumber = ""
    channel.ReferencedSourceNumber = 1
    channel.NumberOfControlPoints = 2
    channel.FinalCumulativeTimeWeight = "1"
    points = []
    for index, weight in enumerate(("0", "1")):
        point = Dataset()
        point.ControlPointIndex = index
        point.CumulativeTimeWeight = weight
        point.ControlPointRelativePosition = "0"  # one dwell position, the source never moves
        points.append(point)
    channel.BrachyControlPointSequence = Sequence(points)

    setup = Dataset()
    setup.ApplicationSetupType = "SURFACE"  # not a Defined Term (dciodvfy warns); none describes a skin applicator
    setup.ApplicationSetupNumber = APPLICATION_SETUP_NUMBER
    setup.ApplicationSetupName = unit.applicator.id  # exactly the id the unit knows the applicator by
    setup.TotalReferenceAirKerma = "0"
    setup.ChannelSequence = Sequence([channel])
    ds.ApplicationSetupSequence = Sequence([setup])
