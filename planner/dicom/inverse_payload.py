"""The IMRT plan inside its RT Plan, so it travels the signed path like a surface plan (issue 16).

The same private block as a surface plan (planner.dicom.plan_payload: group 3259, the plan at xx00,
the calculation record at xx01, both UT JSON), under its own creator "PLANNER INVERSE PLAN 1": a
Planner that knows only surface plans finds no plan it can read instead of misreading one. The plan
is the IMRT plan file's JSON (planner.core.inverse_plan_file: prescription, beams, objectives and
where the planning volume came from, and with a clinical protocol its "plan_context": the protocol,
the structure mapping and the earlier course, each file's SHA-256, so Open Signed Plan… makes them
again as File ▸ Open does; an RT Plan exported before has none and opens as before); the record
says what produced the exported MU and dose.

The creator signature covers the block with everything else, so the objectives, the prescription,
the protocol and earlier course and the MU the physician signed are the ones the review reads. The
leaf positions are not repeated here: they are the RT Plan's own attributes, covered by the same
signature.

The record also holds the dose figures the exported plan was shown with (``DoseFigure``: the
reported DVH points of each structure and the dose at the isocentre, whole course): the physicist's
review recomputes the dose from the signed segments and must find these again (planner.review.
imrt_review). The exporter passes in the dose it writes and they are read from it with Planner's one
DVH (planner.dose.structure_dvh): this layer never needs the engine that made the dose.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from scipy.interpolate import RegularGridInterpolator

import planner
from planner.core.inverse_plan import InversePlan
from planner.core.inverse_plan_file import (InversePlanFileError, VolumeSource, inverse_plan_and_context_from_dict,
                                            inverse_plan_to_dict)
from planner.core.mlc_beams import MlcPlan
from planner.core.plan_context_file import PlanContextRecord
from planner.core.volume import PlanningVolume
from planner.dose.structure_dvh import sampled_structures

from .plan_payload import (PLANNER_CREATORS, Differences, PayloadDifference, PlanPayloadError, add_payload_block,
                           first_item, read_payload_block)

INVERSE_CREATOR = PLANNER_CREATORS[1]
TECHNIQUE = "imrt-photon"   # the technique's id in the registry (planner.techniques)
ISOCENTRE = "isocentre"
# The reported DVH points (planner.dose.structure_dvh.DvhPoints) the record keeps: the target's
# coverage, near-maximum and mean; every other structure's near-maximum, D10 and mean.
TARGET_POINTS = (("D95", "d95_gy"), ("D2", "d2_gy"), ("D0.03cc", "d0_03cc_gy"), ("Dmean", "mean_gy"))
OTHER_POINTS = (("D0.03cc", "d0_03cc_gy"), ("D10", "d10_gy"), ("Dmean", "mean_gy"))


@dataclass(frozen=True)
class DoseFigure:
    """One dose figure of the exported plan, whole course: a structure's DVH point, or the dose at
    the isocentre (structure ``ISOCENTRE``, point "D")."""

    structure: str
    point: str
    dose_gy: float

    @property
    def name(self) -> str:
        return "dose at the isocentre" if self.structure == ISOCENTRE else f"{self.structure} {self.point}"

    def as_dict(self) -> dict[str, Any]:
        return {"structure": self.structure, "point": self.point, "dose_gy": float(self.dose_gy)}


def dose_figures(volume: PlanningVolume, dose_gy: np.ndarray, target: str) -> tuple[DoseFigure, ...]:
    """The figures a whole-course dose on ``volume``'s grid is reviewed by: each structure's reported
    DVH points, read from the one sub-voxel DVH Planner shows (planner.dose.structure_dvh, as the IMRT
    window, report and command line read them), and the dose at the isocentre, interpolated
    trilinearly. The exporter records them from the dose it writes and the review computes them
    again from the recomputed dose, by this one function. A point a structure cannot have (NaN:
    smaller than 0.03 cc) is left out, so the record holds numbers only."""
    dose = np.asarray(dose_gy, dtype=float)
    figures = []
    dvhs = sampled_structures(volume).dvhs(dose)
    for structure in sorted(dvhs, key=lambda name: (name != target, name)):
        points = dvhs[structure].points()
        figures += [DoseFigure(structure, label, float(getattr(points, attribute)))
                    for label, attribute in (TARGET_POINTS if structure == target else OTHER_POINTS)]
    grid = volume.grid
    try:
        at_isocentre = RegularGridInterpolator((grid.x_mm, grid.y_mm, grid.z_mm), dose)(
            np.asarray(volume.isocentre_mm, dtype=float))[0]
        figures.append(DoseFigure(ISOCENTRE, "D", float(at_isocentre)))
    except ValueError:   # an isocentre off the dose grid has no dose figure
        pass
    return tuple(f for f in figures if math.isfinite(f.dose_gy))


def recorded_dose_figures(record: Mapping[str, Any]) -> tuple[DoseFigure, ...]:
    """The figures a calculation record holds (none: a record written before they were kept);
    PlanPayloadError when an entry is not a figure."""
    try:
        return tuple(DoseFigure(str(f["structure"]), str(f["point"]), float(f["dose_gy"]))
                     for f in record.get("dose_figures") or ())
    except (KeyError, TypeError, ValueError) as exc:
        raise PlanPayloadError(f"the record's dose figures cannot be read: {exc!r}") from None


@dataclass(frozen=True)
class EmbeddedInversePlan:
    """An IMRT plan as its RT Plan embeds it: the plan, the planning volume it names and its
    ``context`` (the protocol and earlier course to make again; None: planned without a protocol
    read from a file, or exported before the RT Plan carried it)."""

    plan: InversePlan
    volume_source: VolumeSource
    patient_id: str
    patient_name: str
    label: str
    context: PlanContextRecord | None = None

    @property
    def technique_id(self) -> str:
        return TECHNIQUE


@dataclass(frozen=True)
class InverseSource:
    """What an exported IMRT RT Plan embeds besides its segments: the plan it was optimised from,
    where its planning volume came from, the dose model and MU calibration in words (the
    technique's; the DICOM layer does not know the engine), and the protocol and earlier course
    it was planned with (None: none read from a file)."""

    plan: InversePlan
    volume_source: VolumeSource
    model: str
    mu_calibration: str
    context: PlanContextRecord | None = None

    def embedder(self, mlc_plan: MlcPlan, patient_id: str, patient_name: str, volume: PlanningVolume,
                 dose_gy: np.ndarray):
        """``embed(ds)`` for the RT Plan writer: adds this plan and the record of ``mlc_plan`` and of
        its exported whole-course ``dose_gy`` on ``volume``'s grid (its dose_figures)."""
        record = inverse_calculation_record(mlc_plan, patient_id, patient_name,
                                            dose_grid_mm=float(max(volume.grid.spacing_mm)), model=self.model,
                                            mu_calibration=self.mu_calibration,
                                            figures=dose_figures(volume, dose_gy, mlc_plan.target_roi_name))
        return lambda ds: add_inverse_payload(ds, self.plan, self.volume_source, record, self.context)


def inverse_calculation_record(mlc_plan: MlcPlan, patient_id: str, patient_name: str, *, dose_grid_mm: float,
                               model: str, mu_calibration: str,
                               figures: tuple[DoseFigure, ...] = ()) -> dict[str, Any]:
    """What produced the exported MU and dose, in numbers a reader checks against the RT Plan, and
    the dose figures the review must reproduce from the segments."""
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
        "dose_figures": [f.as_dict() for f in figures],
    }


def add_inverse_payload(ds: Dataset, plan: InversePlan, source: VolumeSource, record: dict[str, Any],
                        context: PlanContextRecord | None = None) -> None:
    """Embed the IMRT ``plan`` (with its volume's ``source`` and its ``context``, as the plan file
    writes them) and its ``record`` in the RT Plan ``ds``."""
    add_payload_block(ds, INVERSE_CREATOR, inverse_plan_to_dict(plan, source, context), record)


def read_inverse_payload(ds: Dataset) -> tuple[EmbeddedInversePlan, dict[str, Any]]:
    """(plan, calculation record) embedded in an IMRT RT Plan; PlanPayloadError when missing or garbled."""
    plan_data, record = read_payload_block(ds, INVERSE_CREATOR)
    try:
        plan, source, context = inverse_plan_and_context_from_dict(plan_data)
    except InversePlanFileError as exc:
        raise PlanPayloadError(f"the embedded IMRT plan cannot be read: {exc}") from None
    return EmbeddedInversePlan(plan, source, str(record.get("patient_id", "")), str(record.get("patient_name", "")),
                               str(record.get("label", "")), context), record


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


__all__ = ["INVERSE_CREATOR", "ISOCENTRE", "DoseFigure", "EmbeddedInversePlan", "InverseSource", "add_inverse_payload",
           "dose_figures", "inverse_calculation_record", "inverse_payload_differences", "read_inverse_payload",
           "recorded_dose_figures"]
