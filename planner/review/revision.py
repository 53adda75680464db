"""Lock and revision: an approved plan is never changed; editing it makes a new revision.

Why: the approved RT Plan is what the physicist signed and the record-and-verify system may already
hold (a PACS silently ignores a re-sent instance with the same SOP Instance UID, dicom-notes §1.9).
So ``new_revision`` hands out the embedded plan to edit together with the UID it revises, and
``write_revision`` exports it as a new package: a new SOP Instance UID (every export makes new UIDs),
Approval Status UNAPPROVED (every export starts as a draft), and a Referenced RT Plan Sequence item
pointing at the predecessor with RT Plan Relationship PREDECESSOR (PS3.3 C.8.8.9). The approved
file's folder is refused as the destination, so its bytes stay as they were.

One implementation for both techniques: a surface plan (planner.core.plan.Plan) and an IMRT plan
(planner.dicom.inverse_payload.EmbeddedInversePlan) are locked, revised and checked alike;
``export_revision`` makes the checks every revision passes and hands the predecessor's UID to the
technique's own writer (``write_revision`` is the surface plan's package).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TypeVar

from pydicom import dcmread

from planner.core.errors import PlannerError
from planner.core.plan import Plan
from planner.dicom.inverse_payload import EmbeddedInversePlan
from planner.dicom.package import PlanPackage, write_plan_package
from planner.dicom.signed_plan import SignedPlan

Written = TypeVar("Written")


class RevisionError(PlannerError, ValueError):
    """A revision that cannot be made or written; the message says why. Nothing was written."""


@dataclass(frozen=True)
class PlanRevision:
    """The plan to edit, and the approved (or signed) RT Plan it will revise."""

    plan: Plan | EmbeddedInversePlan
    predecessor_uid: str
    predecessor_path: Path | None
    predecessor_status: str        # the Approval Status of the predecessor when the revision was started


def is_locked(signed_plan: SignedPlan) -> bool:
    """An APPROVED RT Plan is locked: it is never edited in place, only revised."""
    return _approval_status(signed_plan) == "APPROVED"


def new_revision(signed_plan: SignedPlan) -> PlanRevision:
    """The embedded plan, to edit, and the RT Plan its next export revises."""
    if not signed_plan.rt_plan_uid:
        raise RevisionError("the RT Plan has no SOP Instance UID: a revision cannot reference it")
    return PlanRevision(plan=signed_plan.plan, predecessor_uid=signed_plan.rt_plan_uid,
                        predecessor_path=signed_plan.path, predecessor_status=_approval_status(signed_plan))


def write_revision(out_dir: str | os.PathLike, revision: PlanRevision, plan: Plan, dose_result, planning_image,
                   technique, *, beam_data=None, audit=None, who: str = "", audit_anchor=None) -> PlanPackage:
    """Export the edited ``plan`` as a new, unapproved package that references its predecessor.

    ``audit``: an AuditLog; records "revision" with ``who`` (the user editing), the new RT Plan's
    UID and the predecessor's. ``audit_anchor``: instead, the reserved entry whose hash the new RT Plan
    carries (planner.dicom.package). Raises RevisionError (PackageError's message) when nothing was written.
    """
    from planner.dicom.package import PackageError

    if audit is not None and not who.strip():
        raise RevisionError("the audit log needs who made the revision")

    def write(folder: Path, predecessor_uid: str) -> PlanPackage:
        try:
            return write_plan_package(folder, plan, dose_result, planning_image, technique, beam_data=beam_data,
                                      predecessor_uid=predecessor_uid, audit_anchor=audit_anchor)
        except PackageError as exc:
            raise RevisionError(str(exc)) from None

    folder = Path(out_dir).resolve()
    package = export_revision(folder, revision, plan, write)
    if audit is not None:
        audit.record("revision", who, package.rt_plan_uid,
                     {"predecessor_uid": revision.predecessor_uid, "predecessor_status": revision.predecessor_status,
                      "folder": str(folder)})
    return package


def export_revision(out_dir: str | os.PathLike, revision: PlanRevision, plan: Plan | EmbeddedInversePlan,
                    write: Callable[[Path, str], Written]) -> Written:
    """The checks every revision passes, then ``write(folder, predecessor_uid)``: the technique's own
    export, which must reference ``predecessor_uid`` (Referenced RT Plan Sequence, PREDECESSOR).
    RevisionError, nothing written: another patient or technique, or the predecessor's own folder."""
    check_same_patient_and_technique(revision, plan)
    folder = Path(out_dir).resolve()
    if revision.predecessor_path is not None and folder == Path(revision.predecessor_path).resolve().parent:
        raise RevisionError(f"{folder} holds the plan being revised; write the revision to another folder "
                            f"(the approved plan is never replaced)")
    return write(folder, revision.predecessor_uid)


def check_same_patient_and_technique(revision: PlanRevision, plan: Plan | EmbeddedInversePlan) -> None:
    """A revision replaces its predecessor for the same patient and technique, or it is no revision:
    another patient's plan must never be exported as a revision of this one's approved plan."""
    before, after = revision.plan, plan
    if (before.patient_id, before.patient_name) != (after.patient_id, after.patient_name):
        raise RevisionError(f"this plan is for {after.patient_name} ({after.patient_id}), the approved plan it would "
                            f"revise is for {before.patient_name} ({before.patient_id}): not a revision")
    if technique_of(before) != technique_of(after):
        raise RevisionError(f"this plan's technique is {technique_of(after)}, the approved plan's it would "
                            f"revise is {technique_of(before)}: not a revision")


def technique_of(plan: Plan | EmbeddedInversePlan) -> str:
    """The technique a plan of either kind is planned with."""
    return plan.technique_id if isinstance(plan, EmbeddedInversePlan) else plan.setup.technique_id


def predecessor_of(rt_plan_path: str | os.PathLike) -> str | None:
    """The SOP Instance UID an RT Plan names as its PREDECESSOR, or None."""
    ds = dcmread(rt_plan_path, stop_before_pixels=True)
    for item in ds.get("ReferencedRTPlanSequence", []) or []:
        if str(item.get("RTPlanRelationship", "")).strip() == "PREDECESSOR":
            return str(item.get("ReferencedSOPInstanceUID", "") or "") or None
    return None


def _approval_status(signed_plan: SignedPlan) -> str:
    if signed_plan.path is None:
        return "UNAPPROVED"
    ds = dcmread(signed_plan.path, stop_before_pixels=True)
    return str(ds.get("ApprovalStatus", "") or "UNAPPROVED").strip()


__all__ = ["PlanRevision", "RevisionError", "check_same_patient_and_technique", "export_revision", "is_locked",
           "new_revision", "predecessor_of", "technique_of", "write_revision"]
