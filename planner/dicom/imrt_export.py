"""Export of an IMRT plan, written all or nothing.

- On a patient's CT (a volume read with its RT Structure Set): the RT Plan and the RT Dose only,
  referencing that structure set and its ROI numbers, in the CT's study and frame of reference, so
  they open over the original series in a third-party system; nothing resampled is written back.
- On the phantom: the planning volume as a CT series with its structure set too, so the set
  references itself and can be sent on as it is.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from pydicom import dcmread

from planner.core.mlc_beams import MlcPlan
from planner.core.volume import PlanningVolume
from planner.dicom.ct_series_writer import RT_STRUCTURE_SET_FILE, CtSeriesWriteError, ct_file_name, write_ct_series
from planner.dicom.export import move_into_place, staged_folder
from planner.dicom.identity import PatientStudy, new_uid
from planner.dicom.rt_plan_mlc import MlcPlanError, volume_identity, write_rt_dose_3d, write_rt_plan_mlc

RT_PLAN_FILE = "RTPLAN.dcm"
RT_DOSE_FILE = "RTDOSE.dcm"


class ImrtExportError(ValueError):
    """The IMRT plan cannot be exported; the message says why and nothing was written."""


@dataclass(frozen=True)
class ImrtExport:
    folder: Path
    ct_files: tuple[Path, ...]      # none when the plan references the patient's own CT
    structure_set: Path | None      # None likewise: the RT Plan references the patient's own
    rt_plan: Path
    rt_dose: Path
    rt_plan_uid: str


def export_imrt_plan(folder, volume: PlanningVolume, plan: MlcPlan, dose_gy: np.ndarray,
                     patient_name: str, patient_id: str, overwrite: bool = False,
                     created: _dt.datetime | None = None) -> ImrtExport:
    """Write CT####.dcm, rtstruct.dcm, RTPLAN.dcm and RTDOSE.dcm (whole-course dose) into `folder`."""
    folder = Path(folder)
    if dose_gy.shape != volume.grid.shape:
        raise ImrtExportError(f"the dose grid {dose_gy.shape} is not the volume's {volume.grid.shape}")
    if plan.target_roi_name not in volume.masks:
        raise ImrtExportError(f"the plan's target {plan.target_roi_name!r} is not a structure of the volume")
    created = created or _dt.datetime.now()
    if volume.dicom_origin is not None:
        return _export_on_patient_ct(folder, volume, plan, dose_gy, overwrite, created)
    # one study and frame of reference for every object, made once for a phantom
    volume = replace(volume, study_instance_uid=volume.study_instance_uid or new_uid(),
                     frame_of_reference_uid=volume.frame_of_reference_uid or new_uid())
    n_slices = volume.grid.z_mm.size
    ct_names = [ct_file_name(k) for k in range(n_slices)]
    names = ct_names + [RT_STRUCTURE_SET_FILE, RT_PLAN_FILE, RT_DOSE_FILE]
    try:
        with staged_folder(folder, names, overwrite, "an exported plan", ImrtExportError, ".imrt-export-") as staging:
            written = write_ct_series(volume, staging, patient_name, patient_id, created=created)
            if [p.name for p in written[:-1]] != ct_names:
                raise ImrtExportError("the CT writer named its files unexpectedly: nothing was written")
            structure_set = dcmread(staging / RT_STRUCTURE_SET_FILE, stop_before_pixels=True)
            roi_numbers = {roi.ROIName: int(roi.ROINumber) for roi in structure_set.StructureSetROISequence}
            identity = volume_identity(volume, _patient_study(structure_set), created)
            plan = replace(plan, target_roi_number=roi_numbers.get(plan.target_roi_name))
            plan_uid = write_rt_plan_mlc(plan, identity, staging / RT_PLAN_FILE,
                                         structure_set_uid=str(structure_set.SOPInstanceUID))
            write_rt_dose_3d(dose_gy, volume.grid, identity, plan_uid, staging / RT_DOSE_FILE,
                             comment=f"{plan.prescription_description}; whole course, Gy")
            move_into_place(staging, folder, names, replaced=names)
    except (CtSeriesWriteError, MlcPlanError) as err:
        raise ImrtExportError(str(err)) from None
    return ImrtExport(folder, tuple(folder / n for n in ct_names), folder / RT_STRUCTURE_SET_FILE,
                      folder / RT_PLAN_FILE, folder / RT_DOSE_FILE, plan_uid)


def _export_on_patient_ct(folder: Path, volume: PlanningVolume, plan: MlcPlan, dose_gy: np.ndarray,
                          overwrite: bool, created: _dt.datetime) -> ImrtExport:
    origin = volume.dicom_origin
    roi_number = origin.roi_number(plan.target_roi_name)
    if roi_number is None:
        raise ImrtExportError(f"the plan's target {plan.target_roi_name!r} is not an ROI of the structure set "
                              f"{origin.structure_set_uid}")
    names = [RT_PLAN_FILE, RT_DOSE_FILE]
    try:
        with staged_folder(folder, names, overwrite, "an exported plan", ImrtExportError, ".imrt-export-") as staging:
            identity = volume_identity(volume, PatientStudy(**dict(origin.patient_study)), created)
            plan = replace(plan, target_roi_number=roi_number)
            plan_uid = write_rt_plan_mlc(plan, identity, staging / RT_PLAN_FILE,
                                         structure_set_uid=origin.structure_set_uid)
            write_rt_dose_3d(dose_gy, volume.grid, identity, plan_uid, staging / RT_DOSE_FILE,
                             comment=f"{plan.prescription_description}; whole course, Gy")
            move_into_place(staging, folder, names, replaced=names)
    except MlcPlanError as err:
        raise ImrtExportError(str(err)) from None
    return ImrtExport(folder, (), None, folder / RT_PLAN_FILE, folder / RT_DOSE_FILE, plan_uid)


def _patient_study(ds) -> PatientStudy:
    """The patient and study exactly as the CT and structure set carry them."""
    return PatientStudy(
        patient_name=str(ds.PatientName), patient_id=str(ds.PatientID),
        patient_birth_date=str(ds.get("PatientBirthDate", "")), patient_sex=str(ds.get("PatientSex", "")),
        study_instance_uid=str(ds.StudyInstanceUID), study_date=str(ds.get("StudyDate", "")),
        study_time=str(ds.get("StudyTime", "")), study_id=str(ds.get("StudyID", "")),
        accession_number=str(ds.get("AccessionNumber", "")),
        referring_physician_name=str(ds.get("ReferringPhysicianName", "")),
        study_description=str(ds.get("StudyDescription", "")))
