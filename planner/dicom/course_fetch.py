"""Rebuild a patient's course from the PACS alone, on a workstation that has nothing of it (issue 17, point 5).

C-FIND the patient's studies and their instances, C-GET the Planner course objects among them
(planner.dicom.course_objects), take the newest of the patient's current plan (a re-planned course's
earlier RT Plans are phases of the revision's course; several current plans are asked about), check the
PACS lists every object it names, then C-GET those and write a folder `planner course show` reads as the
original:

    plan.json        the plan embedded in the RT Plan, with the course object's course; its image paths
                     point into this folder. The RT Plan is opened as `planner review` opens it
                     (planner.dicom.signed_plan, with the workstation's trusted certificates): its
                     signature status and verdict are returned, and a broken signature is refused
    RTPLAN.dcm  RTSTRUCT.dcm  RTDOSE.dcm  US.dcm      the plan package, as stored
    SESSION-<when>.dcm                                each session's image ("SESSION-after-2.dcm")
    RTRECORD-Fnn.dcm                                  each fraction's treatment record
    COURSE.dcm                                        the course object itself

All or nothing: a missing object is named in one line before anything is retrieved, nothing is skipped;
everything is staged in a hidden folder beside the target and moved in once complete. The target must be
empty: a fetch never mixes with, or overwrites, what a workstation holds.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pydicom import dcmread
from pydicom.errors import InvalidDicomError
from pydicom.uid import RawDataStorage

from planner.core.course import CourseError, course_from_dict
from planner.core.errors import PlannerError
from planner.core.plan import Plan
from planner.core.plan_file import save_plan

from .course_objects import COURSE_FILE, CourseObjectError, CoursePayload, InstanceRef, read_course_object, session_file
from .export import RT_PLAN_FILE, ULTRASOUND_FILE
from .network import InstanceSummary, find_instances, find_studies, retrieve_instance
from .pacs_settings import PacsNode
from .signatures import SignatureStatus
from .signed_plan import ClinicPolicyError, SignedPlan, SignedPlanError, open_signed_plan
from .treatment_record import RECORD_FILE

PLAN_FILE = "plan.json"


class CourseFetchError(PlannerError, ValueError):
    """The request cannot be met as asked (patient ID, folder, which plan); the message says why."""


class CourseNotOnPacs(CourseFetchError):
    """The PACS lacks the course, or an object the course names; the message names it."""


class BrokenPlanNotFetched(CourseFetchError):
    """The course's RT Plan on the PACS has a broken signature, or cannot be opened: no plan file is built
    from what nobody signed."""


@dataclass(frozen=True)
class FetchedCourse:
    """What was written; ``signed``: the RT Plan as opened (signature status and treatment verdict), the plan
    file's source; ``earlier_rt_plans``: the RT Plans of the course's earlier phases (a re-planned course), those
    the PACS does not list in ``earlier_not_on_pacs`` (their fractions' records reference them: said, not fetched)."""

    plan_path: Path
    files: tuple[Path, ...]
    rt_plan_uid: str
    course_object_uid: str
    sent_at: str
    signed: SignedPlan
    earlier_rt_plans: tuple[str, ...]
    earlier_not_on_pacs: tuple[str, ...]


def fetch_course(node: PacsNode, patient_id: str, out_dir, *, rt_plan_uid: str | None = None,
                 trusted_certificates=()) -> FetchedCourse:
    """Write the course of ``patient_id`` (the plan ``rt_plan_uid``, needed only when the patient has
    courses of several plans) into the empty or new folder ``out_dir``; its RT Plan's signatures judged
    against ``trusted_certificates``. CourseFetchError in one line (BrokenPlanNotFetched for a broken
    signature), PacsError when the PACS fails; nothing is left in ``out_dir`` then."""
    out = Path(out_dir)
    if not patient_id.strip() or any(ch in patient_id for ch in "*?\\"):
        raise CourseFetchError(f"the patient ID must be one exact ID (no wildcard), got {patient_id!r}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise CourseFetchError(f"{out} is not an empty folder: a course is fetched into an empty one")
    studies = [s for s in find_studies(node, patient_id=patient_id, modality=None) if s.patient_id == patient_id]
    instances = {i.sop_instance_uid: i for s in studies for i in find_instances(node, s.study_instance_uid)}
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.fetching-", dir=out.parent))
    try:
        payload = _chosen_course(node, patient_id, instances, staging / "objects", rt_plan_uid)
        wanted = _wanted(payload)
        missing = [f"{what} (SOP Instance UID {ref.sop_instance})" for name, (ref, what) in wanted.items()
                   if ref.sop_instance not in instances]
        if missing:
            raise CourseNotOnPacs(f"the PACS lacks what course object {payload.sop_instance_uid} references: "
                                   f"{'; '.join(missing)}; nothing was written")
        folder = staging / "course"
        folder.mkdir()
        for name, (ref, _) in wanted.items():
            got = retrieve_instance(node, instances[ref.sop_instance], staging / "objects")
            os.replace(got, folder / name)
        signed = _signed_plan(folder, payload, tuple(trusted_certificates))
        save_plan(folder / PLAN_FILE, _plan(signed, payload, out), calculation_record=signed.calculation_record)
        if out.exists():
            out.rmdir()
        os.replace(folder, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    files = tuple(sorted(out / name for name in (*wanted, PLAN_FILE)))
    earlier = tuple(dict.fromkeys(phase.rt_plan_uid for phase in _phases(payload)
                                  if phase.rt_plan_uid not in ("", payload.rt_plan.sop_instance)))
    return FetchedCourse(out / PLAN_FILE, files, payload.rt_plan.sop_instance, payload.sop_instance_uid,
                         payload.sent_at, signed, earlier, tuple(uid for uid in earlier if uid not in instances))


def _chosen_course(node: PacsNode, patient_id: str, instances: dict[str, InstanceSummary], folder: Path,
                   rt_plan_uid: str | None) -> CoursePayload:
    """The patient's course objects retrieved and read, and the one that is the course (choose_course)."""
    found = []
    for instance in instances.values():
        if instance.sop_class_uid != RawDataStorage:
            continue
        path = retrieve_instance(node, instance, folder)
        try:
            payload = read_course_object(dcmread(path))
        except CourseObjectError:
            continue   # another maker's raw data: not a course object
        except (InvalidDicomError, OSError) as exc:
            raise CourseFetchError(f"the raw data object {instance.sop_instance_uid} cannot be read ({exc})") from None
        if payload.patient_id == patient_id:
            found.append(payload)
    return choose_course(found, patient_id, rt_plan_uid)


def choose_course(found: list[CoursePayload], patient_id: str, rt_plan_uid: str | None) -> CoursePayload:
    """The newest course object of the RT Plan ``rt_plan_uid``, or, without it, of the patient's one current
    plan: a plan whose course a later plan's course holds as an earlier phase (re-planned) is not current.
    CourseNotOnPacs when there is none; CourseFetchError when several plans are current or two objects of
    the plan were sent at the same time."""
    if not found:
        raise CourseNotOnPacs(f"the PACS holds no Planner course of patient ID {patient_id!r}")
    plans = sorted({c.rt_plan.sop_instance for c in found})
    if rt_plan_uid is not None:
        found = [c for c in found if c.rt_plan.sop_instance == rt_plan_uid]
        if not found:
            raise CourseNotOnPacs(f"the PACS holds no course of RT Plan {rt_plan_uid} for patient ID {patient_id!r} "
                                  f"(courses of: {', '.join(plans)})")
    else:
        earlier = {phase.rt_plan_uid for c in found for phase in _phases(c)
                   if phase.rt_plan_uid not in ("", c.rt_plan.sop_instance)}
        found = [c for c in found if c.rt_plan.sop_instance not in earlier]
        current = sorted({c.rt_plan.sop_instance for c in found})
        if len(current) != 1:
            raise CourseFetchError(f"patient ID {patient_id!r} has courses of {len(current)} RT Plans "
                                   f"({', '.join(current or plans)}): say which")
    newest = max(found, key=lambda c: c.sent_at)
    if sum(c.sent_at == newest.sent_at for c in found) > 1:
        raise CourseFetchError(f"two course objects of RT Plan {newest.rt_plan.sop_instance} were sent at "
                               f"{newest.sent_at}: which is the course cannot be told")
    return newest


def _phases(payload: CoursePayload):
    try:
        return course_from_dict(payload.course).phases
    except CourseError as err:
        raise CourseFetchError(f"the course in course object {payload.sop_instance_uid}: {err}") from None


def _wanted(chosen: CoursePayload) -> dict[str, tuple[InstanceRef, str]]:
    """File name → (instance, what it is in words) of everything the course object names, itself too."""
    course_object = InstanceRef("", "", chosen.sop_instance_uid, RawDataStorage)
    wanted = {name: (ref, f"the plan package's {name}") for name, ref in chosen.package.items()}
    wanted.update({session_file(when): (ref, f"the image of the session at {when}")
                   for when, ref in chosen.session_images.items()})
    wanted.update({RECORD_FILE.format(number=n): (ref, f"fraction {n}'s treatment record")
                   for n, ref in chosen.records.items()})
    wanted[COURSE_FILE] = (course_object, "the course object")
    return wanted


def _signed_plan(folder: Path, chosen: CoursePayload, trusted: tuple) -> SignedPlan:
    """The fetched RT Plan opened as `planner review` opens it; refused when a signature is broken or the
    plan is not a surface plan (a course's). Messages name the RT Plan, not the hidden staging folder."""
    file, name = folder / RT_PLAN_FILE, f"{RT_PLAN_FILE} (RT Plan {chosen.rt_plan.sop_instance}) from the PACS"
    try:
        signed = open_signed_plan(file, trusted)
    except ClinicPolicyError as err:   # this workstation's settings: the user's to mend
        raise CourseFetchError(f"{str(err).replace(str(file), name)}; nothing was written") from None
    except SignedPlanError as err:     # damaged or garbled on the PACS: as refused as a broken signature
        raise BrokenPlanNotFetched(f"{str(err).replace(str(file), name)}; nothing was written") from None
    if signed.status is SignatureStatus.BROKEN:
        raise BrokenPlanNotFetched(f"{name}: {signed.message}; the course is not rebuilt from a broken plan, "
                                   f"nothing was written")
    if not isinstance(signed.plan, Plan):
        raise CourseFetchError(f"{name} holds an IMRT plan, not a plan with a treatment course; nothing was written")
    return signed


def _plan(signed: SignedPlan, chosen: CoursePayload, out: Path) -> Plan:
    """The plan embedded in the RT Plan, with the course object's course, its images in ``out``."""
    course = dict(chosen.course)
    sessions = [dict(s) for s in course.get("sessions", [])]
    for session in sessions:
        if session.get("when") not in chosen.session_images:
            raise CourseFetchError(f"course object {chosen.sop_instance_uid} names no image for its session at "
                                   f"{session.get('when')!r}")
        session["image_path"] = str(out / session_file(session["when"]))
    course["sessions"] = sessions
    try:
        return dataclasses.replace(signed.plan, image_path=str(out / ULTRASOUND_FILE), course=course_from_dict(course))
    except CourseError as err:
        raise CourseFetchError(f"the course in course object {chosen.sop_instance_uid}: {err}") from None


__all__ = ["BrokenPlanNotFetched", "CourseFetchError", "CourseNotOnPacs", "FetchedCourse", "choose_course",
           "fetch_course"]
