"""Export of an IMRT plan, written all or nothing.

- On a patient's CT (a volume read with its RT Structure Set): the RT Plan and the RT Dose only,
  referencing that structure set and its ROI numbers, in the CT's study and frame of reference, so
  they open over the original series in a third-party system; nothing resampled is written back.
- On the phantom: the planning volume as a CT series with its structure set too, so the set
  references itself and can be sent on as it is.
- With a report's content (planner.report.imrt_report): ``report.pdf`` too, made in the same
  staging folder after the DICOM files (it prints the RT Plan's UID and the files' SHA-256), so a
  report that cannot be drawn or written leaves nothing at all.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from pydicom import dcmread

from planner.core.errors import PlannerError
from planner.core.mlc_beams import MlcPlan
from planner.core.volume import PlanningVolume
from planner.dicom.audit_anchor import add_audit_anchor
from planner.dicom.ct_series_writer import RT_STRUCTURE_SET_FILE, CtSeriesWriteError, ct_file_name, write_ct_series
from planner.dicom.export import move_into_place, staged_folder
from planner.dicom.identity import PatientStudy, new_uid
from planner.dicom.inverse_payload import InverseSource
from planner.dicom.rt_plan_mlc import MlcPlanError, volume_identity, write_rt_dose_3d, write_rt_plan_mlc
from planner.report.content import ReportError
from planner.report.imrt_report import ImrtReportContent, WrittenFile, write_imrt_report

RT_PLAN_FILE = "RTPLAN.dcm"
RT_DOSE_FILE = "RTDOSE.dcm"
REPORT_FILE = "report.pdf"


class ImrtExportError(PlannerError, ValueError):
    """The IMRT plan cannot be exported; the message says why and nothing was written."""


@dataclass(frozen=True)
class ImrtExport:
    folder: Path
    ct_files: tuple[Path, ...]      # none when the plan references the patient's own CT
    structure_set: Path | None      # None likewise: the RT Plan references the patient's own
    rt_plan: Path
    rt_dose: Path
    rt_plan_uid: str
    report: Path | None = None      # report.pdf, when the export was given a report's content


def export_imrt_plan(folder, volume: PlanningVolume, plan: MlcPlan, dose_gy: np.ndarray,
                     patient_name: str, patient_id: str, overwrite: bool = False,
                     created: _dt.datetime | None = None, report: ImrtReportContent | None = None,
                     dvh_curves=None, source: InverseSource | None = None,
                     predecessor_uid: str | None = None, audit_anchor=None) -> ImrtExport:
    """Write CT####.dcm, rtstruct.dcm, RTPLAN.dcm and RTDOSE.dcm (whole-course dose) into `folder`,
    and report.pdf when ``report`` is given (``dvh_curves``: structure → its deliverable DVH).
    With ``source`` (the IMRT plan it was optimised from) the RT Plan embeds that plan and its
    calculation record (planner.dicom.inverse_payload) with the dose figures of ``dose_gy``, so it
    can be opened, signed and reviewed (the review recomputes those figures from the segments).
    ``predecessor_uid``: the approved RT Plan this export revises (planner.review.revision), referenced
    as PREDECESSOR (PS3.3 C.8.8.9). ``audit_anchor``: as for planner.dicom.export.export_plan, called with
    the RT Plan's UID, the audit entry of this export, whose hash the RT Plan carries."""
    folder = Path(folder)
    if dose_gy.shape != volume.grid.shape:
        raise ImrtExportError(f"the dose grid {dose_gy.shape} is not the volume's {volume.grid.shape}")
    if plan.target_roi_name not in volume.masks:
        raise ImrtExportError(f"the plan's target {plan.target_roi_name!r} is not a structure of the volume")
    embed = _embedding(None if source is None else source.embedder(plan, patient_id, patient_name, volume, dose_gy),
                       audit_anchor)
    if report is not None:
        _check_report(report, plan)
    created = created or _dt.datetime.now()
    if volume.dicom_origin is not None:
        return _export_on_patient_ct(folder, volume, plan, dose_gy, overwrite, created, report, dvh_curves, embed,
                                     predecessor_uid)
    # one study and frame of reference for every object, made once for a phantom
    volume = replace(volume, study_instance_uid=volume.study_instance_uid or new_uid(),
                     frame_of_reference_uid=volume.frame_of_reference_uid or new_uid())
    n_slices = volume.grid.z_mm.size
    ct_names = [ct_file_name(k) for k in range(n_slices)]
    names = ct_names + [RT_STRUCTURE_SET_FILE, RT_PLAN_FILE, RT_DOSE_FILE] + ([REPORT_FILE] if report is not None else [])
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
                                         structure_set_uid=str(structure_set.SOPInstanceUID), embed=embed,
                                         predecessor_uid=predecessor_uid)
            write_rt_dose_3d(dose_gy, volume.grid, identity, plan_uid, staging / RT_DOSE_FILE,
                             comment=f"{plan.prescription_description}; whole course, Gy")
            if report is not None:
                files = [WrittenFile("CT*.dcm", f"CT series, {n_slices} slices ({ct_names[0]} … {ct_names[-1]})"),
                         *_fingerprinted(staging, ((RT_STRUCTURE_SET_FILE, "RT Structure Set"),
                                                   (RT_PLAN_FILE, "RT Plan"), (RT_DOSE_FILE, "RT Dose, whole course")))]
                _write_report(staging, report, identity, plan_uid, files, dvh_curves)
            move_into_place(staging, folder, names, replaced=names)
    except (CtSeriesWriteError, MlcPlanError) as err:
        raise ImrtExportError(str(err)) from None
    return ImrtExport(folder, tuple(folder / n for n in ct_names), folder / RT_STRUCTURE_SET_FILE,
                      folder / RT_PLAN_FILE, folder / RT_DOSE_FILE, plan_uid,
                      folder / REPORT_FILE if report is not None else None)


def _export_on_patient_ct(folder: Path, volume: PlanningVolume, plan: MlcPlan, dose_gy: np.ndarray,
                          overwrite: bool, created: _dt.datetime, report: ImrtReportContent | None,
                          dvh_curves, embed, predecessor_uid: str | None) -> ImrtExport:
    origin = volume.dicom_origin
    roi_number = origin.roi_number(plan.target_roi_name)
    if roi_number is None:
        raise ImrtExportError(f"the plan's target {plan.target_roi_name!r} is not an ROI of the structure set "
                              f"{origin.structure_set_uid}")
    names = [RT_PLAN_FILE, RT_DOSE_FILE] + ([REPORT_FILE] if report is not None else [])
    try:
        with staged_folder(folder, names, overwrite, "an exported plan", ImrtExportError, ".imrt-export-") as staging:
            identity = volume_identity(volume, PatientStudy(**dict(origin.patient_study)), created)
            plan = replace(plan, target_roi_number=roi_number)
            plan_uid = write_rt_plan_mlc(plan, identity, staging / RT_PLAN_FILE,
                                         structure_set_uid=origin.structure_set_uid, embed=embed,
                                         predecessor_uid=predecessor_uid)
            write_rt_dose_3d(dose_gy, volume.grid, identity, plan_uid, staging / RT_DOSE_FILE,
                             comment=f"{plan.prescription_description}; whole course, Gy")
            if report is not None:
                files = _fingerprinted(staging, ((RT_PLAN_FILE, f"RT Plan, on the structure set "
                                                                f"{origin.structure_set_uid}"),
                                                 (RT_DOSE_FILE, "RT Dose, whole course")))
                _write_report(staging, report, identity, plan_uid, files, dvh_curves)
            move_into_place(staging, folder, names, replaced=names)
    except MlcPlanError as err:
        raise ImrtExportError(str(err)) from None
    return ImrtExport(folder, (), None, folder / RT_PLAN_FILE, folder / RT_DOSE_FILE, plan_uid,
                      folder / REPORT_FILE if report is not None else None)


def _embedding(embed, audit_anchor):
    """What the RT Plan carries of its own: the embedded plan, then this export's audit entry's hash."""
    if audit_anchor is None:
        return embed

    def with_anchor(ds) -> None:
        if embed is not None:
            embed(ds)
        add_audit_anchor(ds, audit_anchor(str(ds.SOPInstanceUID)))
    return with_anchor


def _check_report(report: ImrtReportContent, plan: MlcPlan) -> None:
    """The report must be this plan's: the same beams, segments and MU (never a stale report)."""
    mine = [(b.name, len(b.segments), b.meterset_mu) for b in plan.beams]
    its = [(b.name, b.segments, b.mu_per_fraction) for b in report.beams]
    if len(mine) != len(its) or any(a[:2] != b[:2] or not np.isclose(a[2], b[2], rtol=1e-9, atol=0)
                                    for a, b in zip(mine, its)):
        raise ImrtExportError("the report's beams, segments or MU are not the exported plan's: make the report "
                              "from this plan; nothing was written")


def _fingerprinted(staging: Path, files) -> list[WrittenFile]:
    return [WrittenFile(name, what, hashlib.sha256((staging / name).read_bytes()).hexdigest()) for name, what in files]


def _write_report(staging: Path, report: ImrtReportContent, identity, plan_uid: str, files, dvh_curves) -> None:
    """report.pdf into the staging folder, with the RT Plan's UID and the files written; a report
    for another patient than the files', or one that cannot be drawn, stops the whole export."""
    written_id = identity.patient_study.patient_id
    if report.patient_id != written_id:
        raise ImrtExportError(f"the report is for patient ID {report.patient_id!r}, the exported files for "
                              f"{written_id!r}; nothing was written")
    try:
        write_imrt_report(staging / REPORT_FILE, report.exported(plan_uid, (*files, WrittenFile(
            REPORT_FILE, "this report"))), dvh_curves)
    except ReportError as err:
        raise ImrtExportError(f"the report could not be made ({err}); nothing was written") from None


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
