"""A delivered fraction as the DICOM treatment record the standard has for it (issue 17, point 5).

- a superficial kV plan (an RT Plan with one beam, PrimaryDosimeterUnit MINUTE) → RT Beams Treatment
  Record (PS3.3 A.29, SOP Class 1.2.840.10008.5.1.4.1.1.481.4);
- a surface eBx plan (an RT Plan with one brachy application setup) → RT Brachy Treatment Record
  (A.30, 1.2.840.10008.5.1.4.1.1.481.6).

The record is made from two things: the RT Plan as exported (and signed) — what was to be delivered:
its UIDs, patient and study, machine, beam or channel, meterset — and the course's fraction record —
what was delivered: date, beam-on time, operator, remarks. Nothing clinical is assumed: the time of
day must be given (the record's control points are time-stamped, Type 1); what nobody recorded
(treatment verification by a record-and-verify system, the institution) is left empty where the
standard allows it (Type 2).

Conventions (for the conformance statement):
- The record belongs to the plan's patient and study (Patient and General Study copied from the RT
  Plan), in one series per RT Plan (its Series Instance UID derived from the RT Plan's SOP Instance
  UID, so every fraction of a plan lands in the same series), Instance Number = fraction number.
- Referenced RT Plan Sequence: the RT Plan's SOP Class and Instance UID; Referenced Fraction Group
  Number 1 (the RT Plan's one fraction group) in the session module.
- A re-planned course (planner.core.course phases): a fraction is recorded against the RT Plan of its phase,
  which must prescribe the fractions that were left when it was made, the phase's dose and time per fraction
  (and be the phase's RT Plan, by SOP Instance UID, once that is recorded). Fraction numbers: the session
  module's Number of Fractions Planned is the referenced fraction group's (PS3.3 C.8.8.21/22, copied from the
  RT Plan) and its Current Fraction Number "the fraction number for this beam administration" within it; so
  the revision's first fraction, the course's 3rd, is Current Fraction Number 1 of 3 planned — what a
  record-and-verify system checks against the RT Plan it delivers (fraction 3 of a group of 3 would claim the
  group complete; 5 of 3 is beyond it). The course's number stays in Instance Number and the file name
  (RTRECORD-F03.dcm), and the Treatment Summary Record stays the whole course's.
- Treatment Date / Time: the day of the fraction and the time of day the beam was switched on. The
  two control points of the beam (or channel) are stamped with the start and the start plus the
  delivered time.
- kV: Specified / Delivered Primary Meterset in the RT Plan's Primary Dosimeter Unit (MINUTE: the
  timer's minutes), and Specified / Delivered Treatment Time in seconds. eBx: Specified / Delivered
  Channel Total Time in seconds. Treatment Termination Status NORMAL (a fraction the course records
  was delivered; a shortened one still ended normally, its time says how long).
- Delivered dose: the fraction's dose by the course's rule (planner.core.course: dose ∝ beam-on time)
  as the Calculated Dose Reference Dose Value, referencing the RT Plan's dose reference; the course's
  dose up to and including this fraction in the Treatment Summary Record, whose Treatment Status
  Comment carries the fraction's remarks.
"""

from __future__ import annotations

import copy
import datetime as _dt
import math
from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import (UID, RTBeamsTreatmentRecordStorage, RTBrachyTreatmentRecordStorage, RTPlanStorage,
                         generate_uid)

from planner.core.atomic import atomic_write_bytes
from planner.core.course import PLANNED_TIME_TOLERANCE_S, Course, FractionRecord
from planner.core.errors import PlannerError
from planner.core.plan import Plan

from .identity import (ExportIdentity, dicom_date, dicom_time, ds_text, encode, new_dataset, new_uid, patient_study_of,
                       referenced)
from .inverse_payload import INVERSE_CREATOR
from .plan_payload import PRIVATE_CREATOR, PlanPayloadError, embedded_kind, first_item, read_plan_payload

SERIES_NUMBER = 904          # RT Structure Set 901, RT Plan 902, RT Dose 903
MODALITY = "RTRECORD"
FRACTION_GROUP_NUMBER = 1    # the one fraction group of Planner's kV and eBx RT Plans (planner.dicom.rt_plan)
TIME_BASED_UNIT = "MINUTE"   # the kV RT Plan's Primary Dosimeter Unit: the meterset is the timer's minutes
PERSON_NAME_MAX = 64         # PN: 64 characters per component group (PS3.5 6.2)
SHORT_TEXT_MAX = 1024        # ST
RECORD_FILE = "RTRECORD-F{number:02d}.dcm"   # fraction N's record, beside the plan file (the course's number N)

# Control point 0 of the RT Plan's beam: the attributes the Control Point Delivery Sequence repeats
# (PS3.3 C.8.8.21; Type 1C "required for the first control point").
_FIRST_CONTROL_POINT = ("NominalBeamEnergy", "GantryAngle", "GantryRotationDirection", "BeamLimitingDeviceAngle",
                        "BeamLimitingDeviceRotationDirection", "PatientSupportAngle",
                        "PatientSupportRotationDirection", "TableTopEccentricAngle",
                        "TableTopEccentricRotationDirection", "TableTopPitchAngle", "TableTopPitchRotationDirection",
                        "TableTopRollAngle", "TableTopRollRotationDirection", "TableTopVerticalPosition",
                        "TableTopLongitudinalPosition", "TableTopLateralPosition", "BeamLimitingDevicePositionSequence")
# The RT Plan's source item: what the Recorded Source Sequence repeats (C.8.8.22).
_SOURCE = ("SourceNumber", "SourceType", "SourceManufacturer", "SourceIsotopeName", "SourceIsotopeHalfLife", "ReferenceAirKermaRate", "SourceStrengthUnits",
           "SourceStrength", "SourceStrengthReferenceDate", "SourceStrengthReferenceTime")


class TreatmentRecordError(PlannerError, ValueError):
    """A fraction that cannot be written as a treatment record; the message says which input and why."""


def write_fraction_record(rt_plan: Dataset, plan: Plan, record: FractionRecord, out_path, *,
                          delivered_time: _dt.time | None, overwrite: bool = False,
                          now: _dt.datetime | None = None) -> Path:
    """Write fraction ``record`` of ``plan``'s course as the treatment record of ``rt_plan``; its path.

    ``rt_plan``: the RT Plan Planner exported for ``plan`` (read from RTPLAN.dcm; it is not changed).
    ``plan``: the Planner plan whose course holds ``record`` (its technique, patient, setup and
    prescription must be the RT Plan's, its course started with the RT Plan's time per fraction).
    ``delivered_time``: the time of day the beam was switched on; required (None is refused), the
    course records only the date. ``out_path``: the file to write (atomically); an existing file is
    replaced only with ``overwrite``. ``now``: the record's creation time (default: the clock).
    Raises TreatmentRecordError, one line, nothing written.
    """
    out = Path(out_path)
    if out.exists() and not overwrite:
        raise TreatmentRecordError(f"{out} already exists; choose another file or replace it")
    ds = build_fraction_record(rt_plan, plan, record, delivered_time=delivered_time, now=now)
    try:
        atomic_write_bytes(out, encode(ds))
    except OSError as exc:
        raise TreatmentRecordError(f"cannot write the treatment record {out}: {exc.strerror or exc}") from exc
    return out


def build_fraction_record(rt_plan: Dataset, plan: Plan, record: FractionRecord, *,
                          delivered_time: _dt.time | None, now: _dt.datetime | None = None) -> Dataset:
    """The treatment record dataset write_fraction_record writes (same arguments and refusals)."""
    rt_plan = copy.deepcopy(rt_plan)  # reading converts elements in place: the caller's (signed) dataset stays as read
    course = _check_course(plan, record)
    _check_phase_uid(rt_plan, course, record)
    plan_uid = _check_rt_plan(rt_plan, plan)
    brachy = "ApplicationSetupSequence" in rt_plan
    planned_s = _planned_seconds(rt_plan, brachy)
    _check_phase(rt_plan, course, record, planned_s)
    _check_plan_date(rt_plan, record)
    _check_time(record, delivered_time)
    operator = _operator(record)
    remarks = record.remarks.strip()
    if len(remarks) > SHORT_TEXT_MAX:
        raise TreatmentRecordError(f"fraction {record.number}: the remarks are {len(remarks)} characters long; a "
                                   f"treatment record holds at most {SHORT_TEXT_MAX}")
    started = _dt.datetime.combine(record.delivered_on, delivered_time.replace(microsecond=0))
    ended = started + _dt.timedelta(seconds=record.dwell_time_s)

    sop_class = RTBrachyTreatmentRecordStorage if brachy else RTBeamsTreatmentRecordStorage
    identity = ExportIdentity(patient_study_of(rt_plan), "", None, (now or _dt.datetime.now()).replace(microsecond=0))
    ds = new_dataset(identity, sop_class, new_uid(), MODALITY, "Planner treatment records", SERIES_NUMBER)
    del ds.FrameOfReferenceUID, ds.PositionReferenceIndicator   # no Frame of Reference module in A.29 / A.30
    # one series per RT Plan: the same UID for every fraction, from the same root as new_uid()
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=[plan_uid, "treatment records"])
    ds.OperatorsName = operator
    # RT General Treatment Record module (C.8.8.17)
    ds.InstanceNumber = record.number
    ds.TreatmentDate, ds.TreatmentTime = dicom_date(started), dicom_time(started)
    ds.ReferencedRTPlanSequence = Sequence([referenced(RTPlanStorage, plan_uid)])
    # RT Treatment Machine Record module (C.8.8.18)
    ds.TreatmentMachineSequence = Sequence([_machine(rt_plan, brachy)])
    # Calculated Dose Reference Record module (C.8.8.20): the fraction's dose
    dose_reference = _dose_reference_number(rt_plan)
    ds.CalculatedDoseReferenceSequence = Sequence([_calculated_dose(dose_reference, course.fraction_dose_gy(record))])
    stamps = (started, ended)
    if brachy:
        _brachy_session(ds, rt_plan, course, record, planned_s, stamps)
    else:
        _beams_session(ds, rt_plan, course, record, planned_s, stamps)
    # RT Treatment Summary Record module (C.8.8.23): the course up to and including this fraction
    _summary(ds, rt_plan, course, record)
    return ds


# ----------------------------------------------------------------------------------------- checks

def _check_course(plan: Plan, record: FractionRecord) -> Course:
    course = plan.course
    if course is None:
        raise TreatmentRecordError("the plan has no treatment course: start the course and record the fraction first")
    if record not in course.records:
        have = f"fractions 1–{len(course.records)}" if course.records else "no fraction yet"
        raise TreatmentRecordError(f"fraction {record.number} of {record.delivered_on.isoformat()} "
                                   f"({record.dwell_time_s:g} s, {record.delivered_by}) is not a fraction of the "
                                   f"course, which records {have}")
    return course


def _check_rt_plan(ds: Dataset, plan: Plan) -> str:
    """The RT Plan's SOP Instance UID, after checking it is Planner's kV or eBx RT Plan of ``plan``."""
    sop_class = str(ds.get("SOPClassUID", "") or "")
    if sop_class != RTPlanStorage:
        kind = UID(sop_class).name if sop_class else "an object without a SOP Class UID"
        raise TreatmentRecordError(f"the plan file given is {kind}, not an RT Plan")
    uid = str(ds.get("SOPInstanceUID", "") or "").strip()
    if not uid:
        raise TreatmentRecordError("the RT Plan has no SOP Instance UID: a treatment record could not reference it")
    kind = embedded_kind(ds)
    if kind == INVERSE_CREATOR:
        raise TreatmentRecordError(f"RT Plan {uid} is an IMRT plan: treatment records are written for superficial "
                                   f"kV and surface eBx plans only")
    if kind != PRIVATE_CREATOR:
        raise TreatmentRecordError(f"RT Plan {uid} ({ds.get('RTPlanLabel', 'no label')}) was not exported by "
                                   f"Planner (it embeds no Planner plan): a treatment record is written only "
                                   f"against the RT Plan the course's plan was exported as")
    try:
        embedded, _ = read_plan_payload(ds)
    except PlanPayloadError as exc:
        raise TreatmentRecordError(f"RT Plan {uid}: {exc}") from None
    if embedded.setup.technique_id != plan.setup.technique_id:
        raise TreatmentRecordError(f"RT Plan {uid} is for technique {embedded.setup.technique_id!r}, the course's "
                                   f"plan for {plan.setup.technique_id!r}: record the fraction against its own RT Plan")
    for what, theirs, ours in (
            ("patient", (embedded.patient_name, embedded.patient_id), (plan.patient_name, plan.patient_id)),
            ("treatment unit", embedded.setup, plan.setup),
            ("prescription", embedded.prescription, plan.prescription)):
        if theirs != ours:
            raise TreatmentRecordError(f"RT Plan {uid} is not the course's plan: its {what} differs; record the "
                                       f"fraction against the RT Plan the course's plan was exported as")
    beams, setups = "BeamSequence" in ds, "ApplicationSetupSequence" in ds
    if beams == setups:
        raise TreatmentRecordError(f"RT Plan {uid} has {'both beams and' if beams else 'neither beams nor'} brachy "
                                   f"application setups: not a Planner kV or eBx RT Plan")
    return uid


def rt_plan_time_per_fraction_s(ds: Dataset) -> float:
    """The beam-on time per fraction a Planner kV or eBx RT Plan specifies, in seconds (kV: the meterset's
    minutes x 60; eBx: the channel's total time)."""
    return _planned_seconds(ds, "ApplicationSetupSequence" in ds)


def _planned_seconds(ds: Dataset, brachy: bool) -> float:
    """The beam-on time per fraction the RT Plan specifies, in seconds."""
    if brachy:
        channel = first_item(first_item(ds, "ApplicationSetupSequence"), "ChannelSequence")
        value, what = (None if channel is None else channel.get("ChannelTotalTime")), "Channel Total Time (s)"
        scale = 1.0
    else:
        unit = str(first_item(ds, "BeamSequence").get("PrimaryDosimeterUnit", "") or "")
        if unit != TIME_BASED_UNIT:
            raise TreatmentRecordError(f"RT Plan {ds.SOPInstanceUID}: its meterset is in {unit or 'no unit'}, not "
                                       f"{TIME_BASED_UNIT}: the kV beam-on time cannot be recorded against it")
        meterset = first_item(first_item(ds, "FractionGroupSequence"), "ReferencedBeamSequence")
        value, what = (None if meterset is None else meterset.get("BeamMeterset")), "Beam Meterset (min)"
        scale = 60.0
    try:
        seconds = float(value) * scale
    except (TypeError, ValueError):
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise TreatmentRecordError(f"RT Plan {ds.SOPInstanceUID} has no usable {what}: {value!r}")
    return seconds


def _check_phase_uid(ds: Dataset, course: Course, record: FractionRecord) -> None:
    """The RT Plan is the one the record's phase names, when it names one (module doc): checked first, so a fraction
    recorded against a superseded RT Plan is refused naming both, not for the prescription that differs."""
    phase = course.phase_at(record.number)
    uid = str(ds.get("SOPInstanceUID", "") or "").strip()
    if phase.rt_plan_uid and uid and phase.rt_plan_uid != uid:
        raise TreatmentRecordError(f"fraction {record.number} is given under RT Plan {phase.rt_plan_uid} (the course's "
                                   f"phase from fraction {phase.first_fraction}), not RT Plan {uid}: record it "
                                   f"against its own RT Plan")


def _check_phase(ds: Dataset, course: Course, record: FractionRecord, planned_s: float) -> None:
    """The RT Plan prescribes what the record's phase does (module doc): the fractions left when the phase's plan was
    made (the whole course for the first phase), the phase's dose and time per fraction."""
    phase = course.phase_at(record.number)
    uid = str(ds.SOPInstanceUID)
    planned = course.planned_fractions - phase.first_fraction + 1
    group = first_item(ds, "FractionGroupSequence")
    dose_reference = first_item(group, "ReferencedDoseReferenceSequence")
    fractions = None if group is None else group.get("NumberOfFractionsPlanned")
    dose = None if dose_reference is None else dose_reference.get("TargetPrescriptionDose")
    try:
        same = (fractions is not None and dose is not None and int(fractions) == planned
                and math.isclose(float(dose), phase.dose_per_fraction_gy, rel_tol=1e-9))
    except (TypeError, ValueError):
        same = False
    if not same:
        raise TreatmentRecordError(f"RT Plan {uid} prescribes {fractions} × {dose} Gy, the course "
                                   f"{planned} × {phase.dose_per_fraction_gy:g} Gy from fraction {phase.first_fraction}")
    if abs(planned_s - phase.planned_time_s) > PLANNED_TIME_TOLERANCE_S:
        raise TreatmentRecordError(f"RT Plan {uid} specifies {planned_s:.2f} s per fraction, the course "
                                   f"{phase.planned_time_s:.2f} s from fraction {phase.first_fraction}: record "
                                   f"against the RT Plan the course's fraction {record.number} is given under")


def _check_plan_date(ds: Dataset, record: FractionRecord) -> None:
    """A fraction cannot have been delivered from an RT Plan made after it (a revision's RT Plan does not
    cover the fractions given before it)."""
    made = str(ds.get("RTPlanDate", "") or "")
    try:
        made_on = _dt.datetime.strptime(made, "%Y%m%d").date()
    except ValueError:
        raise TreatmentRecordError(f"RT Plan {ds.SOPInstanceUID} has no readable RT Plan Date ({made!r}): "
                                   f"whether it covers fraction {record.number} cannot be told") from None
    if record.delivered_on < made_on:
        raise TreatmentRecordError(f"fraction {record.number} was delivered on {record.delivered_on.isoformat()}, "
                                   f"before RT Plan {ds.SOPInstanceUID} was made ({made_on.isoformat()}): record "
                                   f"it against the RT Plan it was delivered from")


def _check_time(record: FractionRecord, delivered_time) -> None:
    if delivered_time is None:
        raise TreatmentRecordError(f"fraction {record.number}: the time of day it was delivered is needed "
                                   f"(a treatment record's delivery is time-stamped)")
    if not isinstance(delivered_time, _dt.time) or delivered_time.tzinfo is not None:
        raise TreatmentRecordError(f"fraction {record.number}: the time of day must be a local clock time "
                                   f"(DICOM times are local), got {delivered_time!r}")


def _operator(record: FractionRecord) -> str:
    name = record.delivered_by.strip()
    if len(name) > PERSON_NAME_MAX or "\\" in name:
        raise TreatmentRecordError(f"fraction {record.number}: the operator's name {name!r} cannot be a DICOM "
                                   f"person name (at most {PERSON_NAME_MAX} characters, no backslash)")
    return name


# ----------------------------------------------------------------------------------------- modules

def _copy(source: Dataset, keywords, target: Dataset | None = None) -> Dataset:
    """``target`` (a new item by default) with those of ``keywords`` that ``source`` has, copied."""
    target = Dataset() if target is None else target
    for keyword in keywords:
        if keyword in source:
            setattr(target, keyword, copy.deepcopy(source[keyword].value))
    return target


def _machine(ds: Dataset, brachy: bool) -> Dataset:
    source = first_item(ds, "TreatmentMachineSequence") if brachy else first_item(ds, "BeamSequence")
    machine = _copy(source, ("TreatmentMachineName", "Manufacturer"))
    machine.TreatmentMachineName = str(machine.get("TreatmentMachineName", "") or "")
    machine.Manufacturer = str(machine.get("Manufacturer", "") or "")
    machine.InstitutionName = ""         # Type 2: the RT Plan does not say where it is treated
    machine.ManufacturerModelName = ""
    machine.DeviceSerialNumber = ""
    return machine


def _dose_reference_number(ds: Dataset) -> int:
    """The number of the RT Plan's dose reference, the point the recorded doses are doses to."""
    reference = first_item(ds, "DoseReferenceSequence")
    number = None if reference is None else reference.get("DoseReferenceNumber")
    if number is None:
        raise TreatmentRecordError(f"RT Plan {ds.SOPInstanceUID} has no dose reference: the delivered dose "
                                   f"cannot be recorded against it")
    return int(number)


def _calculated_dose(dose_reference: int, dose_gy: float) -> Dataset:
    item = Dataset()
    item.ReferencedDoseReferenceNumber = dose_reference
    item.CalculatedDoseReferenceDescription = "fraction dose: planned dose x delivered / planned beam-on time"
    item.CalculatedDoseReferenceDoseValue = ds_text(dose_gy)
    return item


def _session_dose(dose_reference: int, dose_gy: float) -> Sequence:
    item = Dataset()
    item.ReferencedDoseReferenceNumber = dose_reference
    item.CalculatedDoseReferenceDoseValue = ds_text(dose_gy)
    return Sequence([item])


def _delivered_status(item: Dataset, course: Course, record: FractionRecord) -> None:
    # within the RT Plan's fraction group: the phase's 1st, 2nd, ... (module doc)
    item.CurrentFractionNumber = record.number - course.phase_at(record.number).first_fraction + 1
    item.TreatmentDeliveryType = "TREATMENT"
    item.TreatmentTerminationStatus = "NORMAL"
    item.TreatmentVerificationStatus = ""   # Type 2: whether a record-and-verify system checked it is not recorded


def _session_header(target: Dataset, ds: Dataset) -> None:
    group = first_item(ds, "FractionGroupSequence")
    target.ReferencedFractionGroupNumber = FRACTION_GROUP_NUMBER
    target.NumberOfFractionsPlanned = group.NumberOfFractionsPlanned


def _beams_session(target: Dataset, ds: Dataset, course: Course, record: FractionRecord, planned_s: float,
                   stamps: tuple[_dt.datetime, _dt.datetime]) -> None:
    """RT Beams Session Record module (C.8.8.21): the one cone beam, delivered once."""
    beam = first_item(ds, "BeamSequence")
    _session_header(target, ds)
    target.PrimaryDosimeterUnit = beam.PrimaryDosimeterUnit
    session = _copy(beam, ("BeamName", "BeamDescription", "BeamType", "RadiationType", "NumberOfWedges",
                           "NumberOfCompensators", "NumberOfBoli", "NumberOfBlocks", "ApplicatorSequence",
                           "GeneralAccessorySequence"))
    session.ReferencedBeamNumber = beam.BeamNumber
    session.BeamLimitingDeviceLeafPairsSequence = Sequence(
        [_copy(device, ("RTBeamLimitingDeviceType", "NumberOfLeafJawPairs")) for device in beam.BeamLimitingDeviceSequence])
    session.ReferencedCalculatedDoseReferenceSequence = _session_dose(_dose_reference_number(ds), course.fraction_dose_gy(record))
    _delivered_status(session, course, record)
    planned_min, delivered_min = planned_s / 60.0, record.dwell_time_s / 60.0   # the unit is MINUTE (checked)
    session.SpecifiedPrimaryMeterset = ds_text(planned_min)
    session.DeliveredPrimaryMeterset = ds_text(delivered_min)
    session.SpecifiedTreatmentTime = ds_text(planned_s)
    session.DeliveredTreatmentTime = ds_text(record.dwell_time_s)
    first = beam.ControlPointSequence[0]
    points = []
    for index, (when, specified, delivered) in enumerate(zip(stamps, (0.0, planned_min), (0.0, delivered_min))):
        point = Dataset()
        point.ReferencedControlPointIndex = index
        point.TreatmentControlPointDate, point.TreatmentControlPointTime = dicom_date(when), dicom_time(when)
        point.SpecifiedMeterset = ds_text(specified)
        point.DeliveredMeterset = ds_text(delivered)
        point.DoseRateSet = ""          # Type 2: a kV unit's timer sets no dose rate
        point.DoseRateDelivered = ""
        if index == 0:
            _copy(first, _FIRST_CONTROL_POINT, point)
            if "NominalBeamEnergy" in point:
                point.NominalBeamEnergyUnit = "MV"   # the RT Plan's energy is in MV (100 kVp → 0.1)
        points.append(point)
    session.NumberOfControlPoints = len(points)
    session.ControlPointDeliverySequence = Sequence(points)
    target.TreatmentSessionBeamSequence = Sequence([session])


def _brachy_session(target: Dataset, ds: Dataset, course: Course, record: FractionRecord, planned_s: float,
                    stamps: tuple[_dt.datetime, _dt.datetime]) -> None:
    """RT Brachy Session Record module (C.8.8.22): the one applicator, its one channel, one dwell."""
    _session_header(target, ds)
    target.BrachyTreatmentTechnique = ds.BrachyTreatmentTechnique
    target.BrachyTreatmentType = ds.BrachyTreatmentType
    target.RecordedSourceSequence = Sequence([_recorded_source(item) for item in ds.SourceSequence])
    setup = first_item(ds, "ApplicationSetupSequence")
    channel = first_item(setup, "ChannelSequence")
    session = _copy(setup, ("ApplicationSetupType", "ApplicationSetupName", "TotalReferenceAirKerma"))
    session.ReferencedBrachyApplicationSetupNumber = setup.ApplicationSetupNumber
    session.ReferencedCalculatedDoseReferenceSequence = _session_dose(_dose_reference_number(ds), course.fraction_dose_gy(record))
    _delivered_status(session, course, record)
    recorded = _copy(channel, ("ChannelNumber", "ChannelLength", "SourceMovementType", "TransferTubeNumber",
                               "ReferencedSourceNumber"))
    recorded.SpecifiedChannelTotalTime = ds_text(planned_s)
    recorded.DeliveredChannelTotalTime = ds_text(record.dwell_time_s)
    points = []
    for index, (when, plan_point) in enumerate(zip(stamps, channel.BrachyControlPointSequence)):
        point = Dataset()
        point.ReferencedControlPointIndex = index
        point.TreatmentControlPointDate, point.TreatmentControlPointTime = dicom_date(when), dicom_time(when)
        _copy(plan_point, ("ControlPointRelativePosition",), point)
        points.append(point)
    recorded.NumberOfControlPoints = len(points)
    recorded.BrachyControlPointDeliveredSequence = Sequence(points)
    session.RecordedChannelSequence = Sequence([recorded])
    target.TreatmentSessionApplicationSetupSequence = Sequence([session])


def _recorded_source(source: Dataset) -> Dataset:
    item = _copy(source, _SOURCE)
    item.SourceSerialNumber = ""   # Type 2: the RT Plan names the unit, not the serial number of its tube
    return item


def _summary(target: Dataset, ds: Dataset, course: Course, record: FractionRecord) -> None:
    """RT Treatment Summary Record module (C.8.8.23), as of this fraction."""
    given = course.records[:record.number]
    target.CurrentTreatmentStatus = "COMPLETED" if record.number == course.planned_fractions else "ON_TREATMENT"
    if record.remarks.strip():
        target.TreatmentStatusComment = record.remarks.strip()   # at most SHORT_TEXT_MAX (checked)
    target.FirstTreatmentDate = given[0].delivered_on.strftime("%Y%m%d")
    target.MostRecentTreatmentDate = record.delivered_on.strftime("%Y%m%d")
    cumulative = Dataset()
    cumulative.ReferencedDoseReferenceNumber = _dose_reference_number(ds)
    cumulative.CumulativeDoseToDoseReference = ds_text(sum(course.fraction_dose_gy(r) for r in given))
    target.TreatmentSummaryCalculatedDoseReferenceSequence = Sequence([cumulative])


__all__ = ["RECORD_FILE", "TreatmentRecordError", "build_fraction_record", "write_fraction_record"]
