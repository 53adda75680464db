"""An earlier course's RT Dose, and the RT Plan it references, fetched from the PACS (issue 18, point 4).

C-FIND the patient's studies and their instances; the candidates are the RT Dose instances. With a
SOP Instance UID that one is taken; without, the only one: several are refused in one line listing each,
because which of a patient's doses is the earlier course (a course, a phase, a beam's dose) is the user's
to say, never a guess on a re-irradiation. The chosen dose is C-GET, then the RT Plan its Referenced RT
Plan Sequence names, when the PACS holds it (its Number of Fractions Planned is the course's fraction
count; without it the user must give the fractions). Whether the dose is a whole-course Gy dose on the
CT's frame is planner.dicom.prior_dose_read's to judge, on the files as fetched.

All or nothing, as planner.dicom.course_fetch: staged in a hidden folder beside the target, moved in once
complete; the target must be empty or new. Written as RTDOSE_prior.dcm and RTPLAN_prior.dcm, the names
planner.dicom.prior_dose gives an earlier course.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pydicom import dcmread
from pydicom.errors import InvalidDicomError
from pydicom.uid import RTDoseStorage

from planner.core.errors import PlannerError

from .network import InstanceSummary, ProgressCallback, StudySummary, find_instances, find_studies, retrieve_instance
from .pacs_settings import PacsNode
from .prior_dose import PRIOR_RT_DOSE_FILE, PRIOR_RT_PLAN_FILE


class PriorDoseFetchError(PlannerError, ValueError):
    """The earlier course cannot be fetched as asked (patient, folder, which RT Dose); the message says why."""


@dataclass(frozen=True)
class FetchedPriorCourse:
    """The files written; ``rt_plan`` None when the PACS has no RT Plan of the dose, ``plan_note`` then why."""

    rt_dose: Path
    rt_plan: Path | None
    rt_dose_uid: str
    plan_note: str = ""


def fetch_prior_course(node: PacsNode, patient_id: str, out_dir, rt_dose_uid: str | None = None,
                       progress: ProgressCallback | None = None) -> FetchedPriorCourse:
    """Write the earlier course of ``patient_id`` (the RT Dose ``rt_dose_uid``, needed only when the patient
    has several) into the empty or new folder ``out_dir``. PriorDoseFetchError in one line, PacsError when
    the PACS fails; nothing is left in ``out_dir`` then."""
    out = Path(out_dir)
    if not patient_id.strip() or any(ch in patient_id for ch in "*?\\"):
        raise PriorDoseFetchError(f"the patient ID must be one exact ID (no wildcard), got {patient_id!r}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise PriorDoseFetchError(f"{out} is not an empty folder: an earlier course is fetched into an empty one")
    _say(progress, 0.0, "Querying the PACS")
    studies = {s.study_instance_uid: s for s in find_studies(node, patient_id=patient_id, modality=None)
               if s.patient_id == patient_id}
    instances = {i.sop_instance_uid: i for uid in studies for i in find_instances(node, uid)}
    dose = _chosen_dose(instances, studies, patient_id, rt_dose_uid)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.fetching-", dir=out.parent))
    try:
        folder = staging / "course"
        folder.mkdir()
        _say(progress, 0.3, "Retrieving the RT Dose")
        os.replace(retrieve_instance(node, dose, staging / "objects"), folder / PRIOR_RT_DOSE_FILE)
        plan_uid, plan_note = _referenced_plan(folder / PRIOR_RT_DOSE_FILE, dose.sop_instance_uid)
        if plan_uid is not None and plan_uid not in instances:
            plan_note = f"the RT Dose {dose.sop_instance_uid} references RT Plan {plan_uid}, which the PACS does not hold"
        elif plan_uid is not None:
            _say(progress, 0.6, "Retrieving the RT Plan")
            os.replace(retrieve_instance(node, instances[plan_uid], staging / "objects"), folder / PRIOR_RT_PLAN_FILE)
        fetched_plan = (folder / PRIOR_RT_PLAN_FILE).exists()
        if out.exists():
            out.rmdir()
        os.replace(folder, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _say(progress, 1.0, "Earlier course retrieved")
    return FetchedPriorCourse(out / PRIOR_RT_DOSE_FILE, out / PRIOR_RT_PLAN_FILE if fetched_plan else None,
                              dose.sop_instance_uid, plan_note)


def _chosen_dose(instances: dict[str, InstanceSummary], studies: dict[str, StudySummary], patient_id: str,
                 rt_dose_uid: str | None) -> InstanceSummary:
    """The RT Dose asked for, or the patient's only one; refused in one line otherwise."""
    doses = [i for i in instances.values() if i.sop_class_uid == RTDoseStorage]
    listed = "; ".join(_described(d, studies[d.study_instance_uid]) for d in doses)
    if rt_dose_uid is not None:
        chosen = [d for d in doses if d.sop_instance_uid == rt_dose_uid]
        if not chosen:
            raise PriorDoseFetchError(f"the PACS holds no RT Dose {rt_dose_uid} of patient ID {patient_id!r}"
                                      + (f" (its RT Doses: {listed})" if doses else ""))
        return chosen[0]
    if not doses:
        raise PriorDoseFetchError(f"the PACS holds no RT Dose of patient ID {patient_id!r}")
    if len(doses) > 1:
        raise PriorDoseFetchError(f"patient ID {patient_id!r} has {len(doses)} RT Doses on the PACS: {listed}; "
                                  f"name the earlier course's by its SOP Instance UID (--prior-dose-uid)")
    return doses[0]


def _described(dose: InstanceSummary, study: StudySummary) -> str:
    """An RT Dose as the query gives it: its UID, its study's date and description."""
    date = "date unknown" if study.study_date is None else study.study_date.isoformat()
    about = f", {study.description!r}" if study.description else ""
    return f"{dose.sop_instance_uid} (study of {date}{about})"


def _referenced_plan(dose_path: Path, dose_uid: str) -> tuple[str | None, str]:
    """The one RT Plan the fetched dose references, or None with why there is none."""
    try:
        ds = dcmread(dose_path, stop_before_pixels=True)
    except (InvalidDicomError, OSError) as exc:
        raise PriorDoseFetchError(f"the RT Dose {dose_uid} from the PACS cannot be read ({exc}); nothing was written") \
            from None
    referenced = list(dict.fromkeys(str(r.get("ReferencedSOPInstanceUID", "") or "")
                                    for r in ds.get("ReferencedRTPlanSequence", []) or []))
    referenced = [uid for uid in referenced if uid]
    if len(referenced) > 1:
        raise PriorDoseFetchError(f"the RT Dose {dose_uid} references {len(referenced)} RT Plans "
                                  f"({', '.join(referenced)}): an earlier course is the dose of one plan")
    if not referenced:
        return None, f"the RT Dose {dose_uid} references no RT Plan"
    return referenced[0], ""


def _say(progress: ProgressCallback | None, fraction: float, text: str) -> None:
    if progress is not None:
        progress(fraction, text)


__all__ = ["FetchedPriorCourse", "PriorDoseFetchError", "fetch_prior_course"]
