"""The Planner plan inside its RT Plan: a private data element block (PS3.5 §7.8.1).

Why: the RT Plan's standard attributes tell a record-and-verify system how to deliver the plan, not
everything Planner needs to show it again (outline, skin line, prescription point, course). With the
plan embedded the RT Plan describes itself, and because the creator signature covers every attribute
outside the Approval module (group 300E, planner.dicom.signatures), the embedded plan is signed with
it: what Planner shows after opening a signed RT Plan is what the physician signed.

The block (PS3.5 §7.8.1: the creator reserves elements xx00-xxFF of its group)::

    (3259,0010) LO  Private Creator "PLANNER PLAN 1"
    (3259,xx00) UT  the plan: plan_to_dict JSON, compact, sorted keys
    (3259,xx01) UT  the calculation record: what produced the dose (calculation_record)

Planner writes xx = 10; a reader looks the creator up in (3259,0010-00FF) as §7.8.1 requires.

- Group 3259: private groups are odd, above 0008, not 0001/3/5/7 or FFFF (§7.8.1); 3259 is in no
  vendor's block of pydicom 3's private dictionary (collected from dcmtk and GDCM), unlike 3253 and
  3273 nearby. The creator's "1" is the layout version: a new layout gets a new creator, so an older
  Planner finds no payload instead of misreading one.
- UT: text any DICOM viewer shows, without a length limit or backslash value splitting (§6.2). The
  JSON is UTF-8 restricted to ASCII (non-ASCII characters as \\u escapes), so its bytes mean the same
  whatever Specific Character Set a tool assumes.
- Transfer syntax: keep the file Explicit VR. Re-encoded as Implicit VR, a private element's VR is
  unknown (UN): dcmsign refuses the signature ("attribute that is not signable") and Planner, leaving
  it out of the MAC, reports the signed data changed (tested: the safe failure). Planner's C-STORE
  sends files in their own transfer syntax (planner.dicom.network).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from pydicom.dataset import Dataset

import planner
from planner.core.errors import PlannerError
from planner.core.plan import Plan
from planner.core.plan_file import PlanFileError, plan_from_dict, plan_to_dict
from planner.dose.result import DoseResult

PRIVATE_GROUP = 0x3259
PRIVATE_CREATOR = "PLANNER PLAN 1"
PLAN_ELEMENT = 0x00          # offset in the creator's block: (3259,xx00)
RECORD_ELEMENT = 0x01        # (3259,xx01)
PAYLOAD_VR = "UT"
TOLERANCE = 1e-9             # relative: DS values hold 16 characters, far finer than this
DEMO_COMMISSIONING_CODE = "demo-commissioning"


class PlanPayloadError(PlannerError, ValueError):
    """An RT Plan without a readable embedded Planner plan; the message says what is missing or wrong."""


def calculation_record(plan: Plan, dose: DoseResult) -> dict[str, Any]:
    """What produced the plan's dose, in words and numbers a reader checks against the RT Plan.

    Made from the plan and its DoseResult only, so anyone holding both can remake and compare it
    (planner.dicom.package does before re-rendering a signed report). No clock time: the RT Plan's
    own dates say when it was made.
    """
    setup = plan.setup
    return {
        "note": "what produced the dose of this plan when it was exported; the dose is recomputed from "
                "the plan, never read back",
        "planner_version": planner.__version__,
        "technique": setup.technique_id,
        "machine": setup.machine_id,
        "energy": setup.energy_id,
        "applicator": setup.applicator_id,
        "ssd_cm": _number(dose.ssd_cm),
        "time_name": dose.time_name,
        "treatment_time_min": _number(dose.treatment_time_min),
        "prescribed_dose_gy": _number(dose.prescribed_dose_gy),
        "prescription_point": dose.prescription_point.describe(),
        "prescription_depth_mm": _number(dose.prescription_depth_mm),
        "dose_at_prescription_depth_gy": _number(dose.dose_at_prescription_depth_gy),
        "surface_dose_gy": _number(dose.surface_dose_gy),
        "surface_dose_rate_gy_per_min": _number(dose.surface_dose_rate_gy_per_min),
        "model": dose.model_description,
        "data_sources": dict(dose.data_sources),
        "findings": [f"{f.severity}: {f.message}" for f in dose.findings],
        "demo_commissioning": any(f.code == DEMO_COMMISSIONING_CODE for f in dose.findings),
    }


def same_calculation(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Two records describe the same calculation (the Planner version that wrote them may differ)."""
    def physics(record):
        return json.loads(_json({k: v for k, v in record.items() if k != "planner_version"}))
    return physics(a) == physics(b)


def add_plan_payload(ds: Dataset, plan: Plan, record: dict[str, Any]) -> None:
    """Embed ``plan`` and its calculation ``record`` in the RT Plan ``ds`` (before it is signed)."""
    add_payload_block(ds, PRIVATE_CREATOR, plan_to_dict(plan), record)


def add_payload_block(ds: Dataset, creator: str, plan_data: dict[str, Any], record: dict[str, Any]) -> None:
    """The private block of one embedded plan of either kind (``creator``: PRIVATE_CREATOR for a
    surface plan, planner.dicom.inverse_payload's for an IMRT plan): its JSON and calculation record."""
    if planner_slots(ds):
        raise PlanPayloadError("the RT Plan already holds an embedded Planner plan")
    block = ds.private_block(PRIVATE_GROUP, creator, create=True)
    block.add_new(PLAN_ELEMENT, PAYLOAD_VR, _json(plan_data))
    block.add_new(RECORD_ELEMENT, PAYLOAD_VR, _json(record))


def read_plan_payload(ds: Dataset) -> tuple[Plan, dict[str, Any]]:
    """(plan, calculation record) embedded in an RT Plan; PlanPayloadError when missing or garbled.

    Reads the stored bytes without converting any element in place, so a signed dataset is left
    exactly as read (planner.dicom.signatures).
    """
    plan_data, record = read_payload_block(ds, PRIVATE_CREATOR)
    try:
        return plan_from_dict(plan_data), record
    except PlanFileError as exc:
        raise PlanPayloadError(f"the embedded plan cannot be read: {exc}") from None


def read_payload_block(ds: Dataset, creator: str) -> tuple[Any, dict[str, Any]]:
    """(plan JSON, calculation record) of the block ``creator`` reserved; PlanPayloadError when there
    is none, more than one, or it is garbled. Reads the stored bytes without converting any element."""
    slots = [slot for slot, name in planner_slots(ds) if name == creator]
    if not slots:
        raise PlanPayloadError(f"no embedded Planner plan (no private creator {creator!r} in group "
                               f"{PRIVATE_GROUP:04X})")
    if len(slots) > 1:
        raise PlanPayloadError(f"the private creator {creator!r} appears {len(slots)} times: "
                               f"which embedded plan is meant is ambiguous")
    base = (PRIVATE_GROUP << 16) | (slots[0] << 8)
    plan_data = _json_value(ds, base | PLAN_ELEMENT, "plan")
    record = _json_value(ds, base | RECORD_ELEMENT, "calculation record")
    if not isinstance(record, dict):
        raise PlanPayloadError("the embedded calculation record is not a JSON object")
    return plan_data, record


def embedded_kind(ds: Dataset) -> str | None:
    """The private creator of the one Planner plan block in ``ds`` (which kind of plan it embeds), or
    None when there is none or more than one."""
    slots = planner_slots(ds)
    return slots[0][1] if len(slots) == 1 else None


@dataclass(frozen=True)
class PayloadDifference:
    """One value the RT Plan's own attributes and the embedded plan give differently.

    ``dicom_path`` locates the RT Plan attribute (keywords and item indices), ``payload_path`` the
    value in the embedded JSON ("plan" or "record", then its keys); None where there is no simple
    place (planner.dicom.tamper_evidence uses them to tell which side was signed)."""

    what: str
    rt_plan: Any                 # None: the RT Plan has no such value
    embedded: Any                # None: the embedded plan has none
    number: bool = False
    dicom_path: tuple | None = None
    payload_path: tuple | None = None
    problem: str = ""            # a value that cannot be compared at all

    def text(self) -> str:
        """The words payload_disagreements uses: "patient name: RT Plan 'A', embedded plan 'B'"."""
        if self.problem:
            return self.problem
        if self.rt_plan is None:
            return f"the RT Plan has no {self.what}"
        if self.embedded is None:
            return f"the embedded plan has no {self.what}"
        if self.number:
            return f"{self.what}: RT Plan {float(self.rt_plan):g}, embedded plan {float(self.embedded):g}"
        return f"{self.what}: RT Plan {str(self.rt_plan)!r}, embedded plan {str(self.embedded)!r}"


class Differences:
    """The differences found so far between an RT Plan's attributes and its embedded plan."""

    def __init__(self) -> None:
        self.items: list[PayloadDifference] = []

    def compare(self, what: str, dicom_value, planner_value, *, number: bool = False, dicom_path=None,
                payload_path=None) -> None:
        """Record a difference unless both values are there and equal (numbers to TOLERANCE)."""
        if dicom_value is not None and planner_value is not None:
            if number and math.isclose(float(dicom_value), float(planner_value), rel_tol=TOLERANCE):
                return
            if not number and str(dicom_value).strip() == str(planner_value).strip():
                return
        self.items.append(PayloadDifference(what, None if dicom_value is None else _plain(dicom_value),
                                            planner_value, number, dicom_path, payload_path))

    def compare_fractionation(self, ds: Dataset, fractions: int, dose_per_fraction_gy: float):
        """The RT Plan's fraction group against the embedded prescription (both kinds of plan store
        it at ("plan", "prescription", ...)); returns the fraction group item (None when absent)."""
        group = first_item(ds, "FractionGroupSequence")
        self.compare("number of fractions", None if group is None else group.get("NumberOfFractionsPlanned"),
                     fractions, number=True, dicom_path=("FractionGroupSequence", 0, "NumberOfFractionsPlanned"),
                     payload_path=("plan", "prescription", "fractions"))
        reference = first_item(group, "ReferencedDoseReferenceSequence")
        self.compare("dose per fraction (Gy)", None if reference is None else reference.get("TargetPrescriptionDose"),
                     dose_per_fraction_gy, number=True,
                     dicom_path=("FractionGroupSequence", 0, "ReferencedDoseReferenceSequence", 0,
                                 "TargetPrescriptionDose"),
                     payload_path=("plan", "prescription", "dose_per_fraction_gy"))
        return group


def first_item(container, keyword: str):
    """The first item of the sequence ``keyword`` in ``container`` (None when absent or empty)."""
    if container is None:
        return None
    items = container.get(keyword)
    return items[0] if items else None


def payload_disagreements(ds: Dataset, plan: Plan, record: dict[str, Any]) -> tuple[str, ...]:
    """Where the RT Plan's own attributes (what a record-and-verify system delivers) say something
    else than the embedded plan (what Planner shows): patient, fractions, dose per fraction, machine,
    applicator, beam-on time. Empty when they agree. Read after verifying: it converts elements."""
    return tuple(d.text() for d in payload_differences(ds, plan, record))


def payload_differences(ds: Dataset, plan: Plan, record: dict[str, Any]) -> tuple[PayloadDifference, ...]:
    """payload_disagreements, one PayloadDifference each. Read after verifying: it converts elements."""
    found = Differences()
    differ, problems = found.compare, found.items
    try:
        differ("patient ID", ds.get("PatientID"), plan.patient_id, dicom_path=("PatientID",),
               payload_path=("plan", "patient", "id"))
        differ("patient name", ds.get("PatientName"), plan.patient_name, dicom_path=("PatientName",),
               payload_path=("plan", "patient", "name"))
        group = found.compare_fractionation(ds, plan.prescription.fractions, plan.prescription.dose_per_fraction_gy)
        time_min = record.get("treatment_time_min")
        beam = first_item(ds, "BeamSequence")
        if beam is not None:  # kV: time-based meterset in minutes (planner.dicom.rt_plan)
            differ("machine", beam.get("TreatmentMachineName"), plan.setup.machine_id,
                   dicom_path=("BeamSequence", 0, "TreatmentMachineName"), payload_path=("plan", "setup", "machine"))
            applicator = first_item(beam, "ApplicatorSequence")
            differ("applicator", None if applicator is None else applicator.get("ApplicatorID"),
                   plan.setup.applicator_id, dicom_path=("BeamSequence", 0, "ApplicatorSequence", 0, "ApplicatorID"),
                   payload_path=("plan", "setup", "applicator"))
            meterset = first_item(group, "ReferencedBeamSequence")
            differ("beam-on time (min)", None if meterset is None else meterset.get("BeamMeterset"), time_min,
                   number=True, dicom_path=("FractionGroupSequence", 0, "ReferencedBeamSequence", 0, "BeamMeterset"),
                   payload_path=("record", "treatment_time_min"))
        else:  # eBx: dwell time in seconds on the one channel
            machine = first_item(ds, "TreatmentMachineSequence")
            differ("machine", None if machine is None else machine.get("TreatmentMachineName"),
                   plan.setup.machine_id, dicom_path=("TreatmentMachineSequence", 0, "TreatmentMachineName"),
                   payload_path=("plan", "setup", "machine"))
            setup = first_item(ds, "ApplicationSetupSequence")
            differ("applicator", None if setup is None else setup.get("ApplicationSetupName"),
                   plan.setup.applicator_id, dicom_path=("ApplicationSetupSequence", 0, "ApplicationSetupName"),
                   payload_path=("plan", "setup", "applicator"))
            channel = first_item(setup, "ChannelSequence")
            seconds = None if time_min is None else float(time_min) * 60.0
            differ("dwell time (s)", None if channel is None else channel.get("ChannelTotalTime"), seconds,
                   number=True, dicom_path=("ApplicationSetupSequence", 0, "ChannelSequence", 0, "ChannelTotalTime"))
    except (TypeError, ValueError) as exc:  # a value that is not a number where one must be
        problems.append(PayloadDifference("value", None, None, problem=f"a value cannot be compared: {exc}"))
    return tuple(problems)


def payload_json(ds: Dataset) -> tuple[int, dict[str, Any], dict[str, Any]] | None:
    """(tag of the plan element, plan JSON, record JSON) as stored, or None (planner.dicom.tamper_evidence)."""
    slots = planner_slots(ds)
    if len(slots) != 1:
        return None
    base = (PRIVATE_GROUP << 16) | (slots[0][0] << 8)
    try:
        return base, _json_value(ds, base | PLAN_ELEMENT, "plan"), _json_value(ds, base | RECORD_ELEMENT, "record")
    except PlanPayloadError:
        return None


def payload_text(data: Any) -> str:
    """The JSON text Planner embeds (compact, sorted keys, ASCII): what add_plan_payload writes."""
    return _json(data)


def _plain(value) -> Any:
    """A DICOM value as a plain str or number (PersonName, DSfloat and IS become str / float / int)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value) if isinstance(value, float) else int(value)
    return str(value)


# ----------------------------------------------------------------------------------------- helpers

def _json(data: Any) -> str:
    return json.dumps(data, ensure_ascii=True, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _number(value) -> float | None:
    return None if value is None or not math.isfinite(float(value)) else float(value)


# Every layout of an embedded plan Planner writes: a surface plan's and an IMRT plan's
# (planner.dicom.inverse_payload). Both put the plan at xx00 and the record at xx01.
PLANNER_CREATORS = (PRIVATE_CREATOR, "PLANNER INVERSE PLAN 1")


def planner_slots(ds: Dataset) -> list[tuple[int, str]]:
    """(xx, creator) of each (3259,00xx) that holds one of Planner's private creators."""
    slots = []
    for slot in range(0x10, 0x100):
        element = ds.get_item((PRIVATE_GROUP << 16) | slot)
        name = None if element is None else _text(element.value).strip(" \0")
        if name in PLANNER_CREATORS:
            slots.append((slot, name))
    return slots


def _json_value(ds: Dataset, tag: int, what: str) -> Any:
    element = ds.get_item(tag)
    if element is None or element.value in (None, b"", ""):
        raise PlanPayloadError(f"the embedded {what} is missing ({tag >> 16:04X},{tag & 0xFFFF:04X})")
    try:
        text = _text(element.value, strict=True)
        return json.loads(text.rstrip(" \0"))
    except UnicodeDecodeError:
        raise PlanPayloadError(f"the embedded {what} is not UTF-8 text") from None
    except ValueError as exc:
        raise PlanPayloadError(f"the embedded {what} is garbled (not JSON: {exc})") from None


def _text(value, strict: bool = False) -> str:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", errors="strict" if strict else "replace")
    return "" if value is None else str(value)


__all__ = ["PLANNER_CREATORS", "PRIVATE_CREATOR", "PRIVATE_GROUP", "Differences", "PayloadDifference", "PlanPayloadError",
           "add_payload_block", "add_plan_payload", "calculation_record", "embedded_kind", "first_item", "payload_differences",
           "payload_disagreements", "payload_json", "payload_text", "planner_slots", "read_payload_block",
           "read_plan_payload", "same_calculation"]
