"""An earlier course as another system would have left it: its RT Dose and an RT Plan stating its
prescription and fractionation (issue 18, re-irradiation).

Why an RT Plan: the RT Dose object has no fraction count (PS3.3 C.8.8.3), and EQD2 needs one.
Where a course's fractionation is recorded is its RT Plan's RT Fraction Scheme (C.8.8.13, Number of
Fractions Planned), which the RT Dose references (Referenced RT Plan Sequence). The plan written
here carries the prescription and the fraction scheme only, NUMBER OF BEAMS 0: the beams of the
course are not known to whoever made its dose (a test dose, or an archive's), and inventing them
would state meterset numbers nobody planned. The plan is written UNAPPROVED; both objects are
written all or nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import RTPlanStorage, RTStructureSetStorage

from planner.core.atomic import atomic_write_bytes
from planner.core.errors import PlannerError
from planner.core.volume import VoxelGrid

from planner.imaging.dicom_writer import seeded_uid

from .export import move_into_place, staged_folder
from .identity import ExportIdentity, dicom_date, dicom_time, ds_text, encode, new_dataset, referenced
from .rt_plan import SERIES_NUMBER as PLAN_SERIES_NUMBER
from .rt_plan_mlc import build_rt_dose_3d

__all__ = ["PriorCourse", "PriorDoseWriteError", "PRIOR_RT_PLAN_FILE", "PRIOR_RT_DOSE_FILE",
           "build_prior_rt_plan", "write_prior_course"]

PRIOR_RT_PLAN_FILE = "RTPLAN_prior.dcm"
PRIOR_RT_DOSE_FILE = "RTDOSE_prior.dcm"
_DOSE_REFERENCE_NUMBER = 1


class PriorDoseWriteError(PlannerError, ValueError):
    """The earlier course cannot be written; the message says why and nothing was written."""


@dataclass(frozen=True)
class PriorCourse:
    """What an earlier course states: its label, total prescribed dose (Gy) and fractions."""

    label: str
    total_dose_gy: float
    fractions: int
    description: str = ""

    def __post_init__(self) -> None:
        if not (isinstance(self.fractions, int) and self.fractions >= 1):
            raise PriorDoseWriteError(f"an earlier course needs a whole number of fractions ≥ 1, got {self.fractions!r}")
        if not (np.isfinite(self.total_dose_gy) and self.total_dose_gy > 0):
            raise PriorDoseWriteError(f"an earlier course needs a positive total dose, got {self.total_dose_gy!r} Gy")

    @property
    def summary(self) -> str:
        return f"{self.total_dose_gy:g} Gy in {self.fractions} fractions"


def build_prior_rt_plan(identity: ExportIdentity, sop_instance_uid: str, course: PriorCourse,
                        structure_set_uid: str | None) -> Dataset:
    """RT Plan IOD (PS3.3 A.20) with RT General Plan, RT Prescription and RT Fraction Scheme only."""
    ds = new_dataset(identity, RTPlanStorage, sop_instance_uid, "RTPLAN", "Earlier course", PLAN_SERIES_NUMBER)
    when = identity.created
    # RT General Plan (C.8.8.9)
    ds.InstanceNumber = 1
    ds.RTPlanLabel = course.label[:16]
    ds.RTPlanName = course.label[:64]
    ds.RTPlanDescription = (f"Earlier course, {course.summary}. {course.description} "
                            "Prescription and fractionation only; its beams are not recorded here.")[:1024]
    ds.RTPlanDate, ds.RTPlanTime = dicom_date(when), dicom_time(when)
    if structure_set_uid:
        ds.RTPlanGeometry = "PATIENT"
        ds.ReferencedStructureSetSequence = Sequence([referenced(RTStructureSetStorage, structure_set_uid)])
    else:
        ds.RTPlanGeometry = "TREATMENT_DEVICE"
    # RT Prescription (C.8.8.10)
    ds.PrescriptionDescription = course.summary
    reference = Dataset()
    reference.DoseReferenceNumber = _DOSE_REFERENCE_NUMBER
    reference.DoseReferenceStructureType = "SITE"
    reference.DoseReferenceDescription = course.label[:64]
    reference.DoseReferenceType = "TARGET"
    reference.TargetPrescriptionDose = ds_text(course.total_dose_gy)      # Gy, all fractions
    ds.DoseReferenceSequence = Sequence([reference])
    # RT Fraction Scheme (C.8.8.13): where the fraction count lives
    group = Dataset()
    group.FractionGroupNumber = 1
    group.NumberOfFractionsPlanned = course.fractions
    per_fraction = Dataset()
    per_fraction.ReferencedDoseReferenceNumber = _DOSE_REFERENCE_NUMBER
    per_fraction.TargetPrescriptionDose = ds_text(course.total_dose_gy / course.fractions)   # Gy per fraction
    group.ReferencedDoseReferenceSequence = Sequence([per_fraction])
    group.NumberOfBeams = 0
    group.NumberOfBrachyApplicationSetups = 0
    ds.FractionGroupSequence = Sequence([group])
    ds.ApprovalStatus = "UNAPPROVED"
    return ds


def write_prior_course(folder, course: PriorCourse, dose_gy: np.ndarray, grid: VoxelGrid,
                       identity: ExportIdentity, *, plan_uid: str, dose_uid: str,
                       heterogeneity_correction: str, structure_set_uid: str | None = None,
                       overwrite: bool = False) -> tuple[Path, Path]:
    """Write RTPLAN_prior.dcm and RTDOSE_prior.dcm (the course's whole dose in Gy on ``grid``,
    indexed [x, y, z], in ``identity``'s frame of reference) into ``folder``; their paths.
    ``heterogeneity_correction``: how the dose was computed (C.8.8.3: IMAGE, ROI_OVERRIDE or WATER).
    Raises PriorDoseWriteError."""
    folder = Path(folder)
    dose = np.asarray(dose_gy, dtype=np.float64)
    if dose.shape != grid.shape:
        raise PriorDoseWriteError(f"the dose is {dose.shape}, the grid {grid.shape}")
    if heterogeneity_correction not in ("IMAGE", "ROI_OVERRIDE", "WATER"):
        raise PriorDoseWriteError(f"unknown tissue heterogeneity correction {heterogeneity_correction!r}")
    names = [PRIOR_RT_PLAN_FILE, PRIOR_RT_DOSE_FILE]
    plan = build_prior_rt_plan(identity, plan_uid, course, structure_set_uid)
    rt_dose = build_rt_dose_3d(identity, dose_uid, dose, grid, plan_uid,
                               comment=f"earlier course, {course.summary}")
    rt_dose.SeriesDescription = "Earlier course dose"
    # series UIDs derived from the instances' (new_dataset draws random ones): same inputs, same bytes
    plan.SeriesInstanceUID = seeded_uid(plan_uid, "series")
    rt_dose.SeriesInstanceUID = seeded_uid(dose_uid, "series")
    rt_dose.TissueHeterogeneityCorrection = heterogeneity_correction
    with staged_folder(folder, names, overwrite, "an earlier course", PriorDoseWriteError, ".prior-") as staging:
        atomic_write_bytes(staging / PRIOR_RT_PLAN_FILE, encode(plan))
        atomic_write_bytes(staging / PRIOR_RT_DOSE_FILE, encode(rt_dose))
        move_into_place(staging, folder, names, replaced=names)
    return folder / PRIOR_RT_PLAN_FILE, folder / PRIOR_RT_DOSE_FILE
