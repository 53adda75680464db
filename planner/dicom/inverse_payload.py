"""The IMRT plan inside its RT Plan, so it travels the signed path like a surface plan (issue 16).

The same private block as a surface plan (planner.dicom.plan_payload: group 3259, the plan at xx00,
the calculation record at xx01, both UT JSON), under its own creator "PLANNER INVERSE PLAN 1": a
Planner that knows only surface plans finds no plan it can read instead of misreading one. The plan
is the IMRT plan file's JSON (planner.core.inverse_plan_file: prescription, beams, objectives and
where the planning volume came from); the record says what produced the exported MU and dose.

The creator signature covers the block with everything else, so the objectives, the prescription
and the MU the physician signed are the ones the review reads. The leaf positions are not repeated
here: they are the RT Plan's own attributes, covered by the same signature.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydicom.dataset import Dataset

import planner
from planner.core.inverse_plan import InversePlan
from planner.core.inverse_plan_file import (InversePlanFileError, VolumeSource, inverse_plan_from_dict,
                                            inverse_plan_to_dict)
from planner.core.mlc_beams import MlcPlan
from planner.core.volume import PlanningVolume

from .plan_payload import (PLANNER_CREATORS, Differences, PayloadDifference, PlanPayloadError, add_payload_block,
                           first_item, read_payload_block)

INVERSE_CREATOR = PLANNER_CREATORS[1]
TECHNIQUE = "imrt_photon"


@dataclass(frozen=True)
class EmbeddedInversePlan:
    """An IMRT plan as its RT Plan embeds it: the plan and the planning volume it names."""

    plan: InversePlan
    volume_source: VolumeSource
    patient_id: str
    patient_name: str
    label: str

    @property
    def technique_id(self) -> str:
        return TECHNIQUE


@dataclass(frozen=True)
class InverseSource:
    """What an exported IMRT RT Plan embeds besides its segments: the plan it was optimised from,
    where its planning volume came from, and the dose model and MU calibration in words (the
    technique's; the DICOM layer does not know the engine)."""

    plan: InversePlan
    volume_source: VolumeSource
    model: str
    mu_calibration: str

    def embedder(self, mlc_plan: MlcPlan, patient_id: str, patient_name: str, volume: PlanningVolume):
        """``embed(ds)`` for the RT Plan writer: adds this plan and the record of ``mlc_plan``."""
        record = inverse_calculation_record(mlc_plan, patient_id, patient_name,
                                            dose_grid_mm=float(max(volume.grid.spacing_mm)), model=self.model,
                                            mu_calibration=self.mu_calibration)
        return lambda ds: add_inverse_payload(ds, self.plan, self.volume_source, record)


def inverse_calculation_record(mlc_plan: MlcPlan, patient_id: str, patient_name: str, *, dose_grid_mm: float,
                               model: str, mu_calibration: str) -> dict[str, Any]:
    """What produced the exported MU and dose, in numbers a reader checks against the RT Plan."""
    return {
        "note": "what produced the MU and dose of this IMRT plan when it was exported",
        "planner_version": planner.__version__,
        "technique": TECHNIQUE,
        "patient_id": patient_id,
        "patient_name": patient_name,
        "label": mlc_plan.label,
        "machine": mlc_plan.machine_name,
        "fractions": mlc_plan.fractions,
        "dose_per_fraction_gy": float(mlc_plan.dose_per_fraction_gy),
        "target": mlc_plan.target_roi_name,
        "beams": [{"name": b.name, "gantry_deg": float(b.gantry_deg), "segments": len(b.segments),
                   "mu_per_fraction": float(b.meterset_mu)} for b in mlc_plan.beams],
        "dose_grid_mm": float(dose_grid_mm),
        "model": model,
        "mu_calibration": mu_calibration,
        "demo_commissioning": bool(mlc_plan.demo_calibration),
    }


def add_inverse_payload(ds: Dataset, plan: InversePlan, source: VolumeSource, record: dict[str, Any]) -> None:
    """Embed the IMRT ``plan`` (with its volume's ``source``) and its ``record`` in the RT Plan ``ds``."""
    add_payload_block(ds, INVERSE_CREATOR, inverse_plan_to_dict(plan, source), record)


def read_inverse_payload(ds: Dataset) -> tuple[EmbeddedInversePlan, dict[str, Any]]:
    """(plan, calculation record) embedded in an IMRT RT Plan; PlanPayloadError when missing or garbled."""
    plan_data, record = read_payload_block(ds, INVERSE_CREATOR)
    try:
        plan, source = inverse_plan_from_dict(plan_data)
    except InversePlanFileError as exc:
        raise PlanPayloadError(f"the embedded IMRT plan cannot be read: {exc}") from None
    return EmbeddedInversePlan(plan, source, str(record.get("patient_id", "")), str(record.get("patient_name", "")),
                               str(record.get("label", ""))), record


def inverse_payload_differences(ds: Dataset, embedded: EmbeddedInversePlan,
                                record: dict[str, Any]) -> tuple[PayloadDifference, ...]:
    """Where the RT Plan's own attributes (what the linac delivers) say something else than the
    embedded IMRT plan: patient, fractions, dose per fraction, machine, and per beam its gantry angle
    and MU. Read after verifying: it converts elements."""
    found = Differences()
    differ, problems = found.compare, found.items
    rx = embedded.plan.prescription
    try:
        differ("patient ID", ds.get("PatientID"), embedded.patient_id, dicom_path=("PatientID",),
               payload_path=("record", "patient_id"))
        differ("patient name", ds.get("PatientName"), embedded.patient_name, dicom_path=("PatientName",),
               payload_path=("record", "patient_name"))
        group = found.compare_fractionation(ds, rx.fractions, rx.dose_per_fraction_gy)
        beams = list(ds.get("BeamSequence") or [])
        metersets = list((group.get("ReferencedBeamSequence") if group is not None else None) or [])
        recorded = list(record.get("beams") or [])
        if not (len(beams) == len(metersets) == len(recorded)):
            problems.append(PayloadDifference(
                "number of beams", len(beams), len(recorded), True,
                problem=f"number of beams: RT Plan {len(beams)} (with {len(metersets)} metersets), "
                        f"embedded plan {len(recorded)}"))
            return tuple(problems)
        for k, (beam, meterset, entry) in enumerate(zip(beams, metersets, recorded)):
            name = entry.get("name", k + 1)
            differ(f"beam {name} machine", beam.get("TreatmentMachineName"), record.get("machine"),
                   dicom_path=("BeamSequence", k, "TreatmentMachineName"), payload_path=("record", "machine"))
            first = first_item(beam, "ControlPointSequence")
            differ(f"beam {name} gantry angle (deg)", None if first is None else first.get("GantryAngle"),
                   entry.get("gantry_deg"), number=True,
                   dicom_path=("BeamSequence", k, "ControlPointSequence", 0, "GantryAngle"),
                   payload_path=("record", "beams", k, "gantry_deg"))
            differ(f"beam {name} MU per fraction", meterset.get("BeamMeterset"), entry.get("mu_per_fraction"),
                   number=True, dicom_path=("FractionGroupSequence", 0, "ReferencedBeamSequence", k, "BeamMeterset"),
                   payload_path=("record", "beams", k, "mu_per_fraction"))
    except (TypeError, ValueError) as exc:  # a value that is not a number where one must be
        problems.append(PayloadDifference("value", None, None, problem=f"a value cannot be compared: {exc}"))
    return tuple(problems)


__all__ = ["INVERSE_CREATOR", "EmbeddedInversePlan", "InverseSource", "add_inverse_payload", "inverse_calculation_record",
           "inverse_payload_differences", "read_inverse_payload"]
