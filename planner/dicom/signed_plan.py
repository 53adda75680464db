"""Opening a plan from its RT Plan: every signature verified, the embedded plan read, one verdict.

``open_signed_plan`` is what the window and the command line show a plan from. It never repairs
anything: a plan whose signature is broken is returned so it can be looked at, marked refused.

When is a plan ``treatable``? When its signatures allow it to go to treatment:
1. it is signed, and every signature is intact (integrity, PS3.15 C.3);
2. every signature is trusted: its certificate is one of ``trusted_certificates`` or issued by one
   of them, in date at signing and now. Anyone can make a self-signed certificate that says
   "Dr A. Oncologist"; only the clinic's trust list says that key is hers. So an untrusted
   signature, however intact, blocks treatment, and a self-signed TEST certificate counts only when
   the clinic trusts it explicitly (the message then still says TEST, not for clinical use);
3. one of them is a creator signature (the physician's, purpose "Author's Signature");
4. every signature covers every attribute present, except the Approval module (group 300E) for a
   creator signature: an attribute added after signing is content nobody signed;
5. the embedded plan (what Planner shows) agrees with the RT Plan's own attributes (what the
   record-and-verify system delivers): patient, fractions, dose, machine, applicator, time;
6. it was approved after the physics review (issue 15, point 5): Approval Status APPROVED, covered
   by an authorization signature, intact and trusted (rules 1-4), made by another person than the
   creator (another certificate and another subject). Such a plan is ``reviewed``. A plan signed by
   the physician alone is "signed, awaiting review", not treatable — unless the clinic treats before
   the physics review (``treat_before_review`` in its settings, planner.core.clinic_settings): it is
   then treatable, not reviewed, and its message says UNREVIEWED.
DEMO commissioning is named in the message; it is not a clinical go-ahead either.

This is the one place that rule is applied: the window (status bar, Review tab) and the command line
(verify, review) all open plans here, and the clinic's settings are read here, once per opening, so
no view can keep a rule of its own.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID, RTPlanStorage

from planner.core.clinic_settings import ClinicSettings, ClinicSettingsError, load_clinic_settings
from planner.core.errors import PlannerError
from planner.core.plan import Plan

from .export import RT_PLAN_FILE
from .inverse_payload import INVERSE_CREATOR, EmbeddedInversePlan, inverse_payload_differences, read_inverse_payload
from .plan_payload import PayloadDifference, PlanPayloadError, embedded_kind, payload_differences, read_plan_payload
from .audit_anchor import anchors_signed_later, is_excused
from .signatures import (APPROVAL_GROUP, AUTHORIZATION, CREATOR, DAMAGE_ERRORS, SignatureCheck, SignatureError,
                         SignatureStatus, damaged_file_message, verify_dataset)
from .tamper_evidence import TamperEvidence, tamper_evidence

DRAFT_MESSAGE = "draft: not signed"
REFUSED = "refused for treatment"
AWAITING_REVIEW = "signed, awaiting review"
TEST_WORDS = "TEST certificate — not for clinical use"
DEMO_WORDS = "DEMO commissioning — not for clinical use"
_APPROVAL_PREFIX = f"({APPROVAL_GROUP:04X},"   # how SignatureCheck names an Approval module attribute
_REASON_PREFIX = "(0044,0003)"                 # Approval Status Further Description: a rejection's reason


class SignedPlanError(PlannerError, ValueError):
    """A file that cannot be opened as a Planner plan; the one-line message says why."""


class ClinicPolicyError(SignedPlanError):
    """The clinic's settings cannot be read, so whether a plan is treatable cannot be said: never
    judged by a default the clinic may not have chosen."""


@dataclass(frozen=True, eq=False)
class SignedPlan:
    """A plan as opened from its RT Plan, with the verdict on its signatures (module docstring)."""

    plan: Plan | EmbeddedInversePlan     # a surface plan, or an IMRT plan (planner.dicom.inverse_payload)
    calculation_record: dict[str, Any]
    checks: tuple[SignatureCheck, ...]
    status: SignatureStatus
    treatable: bool
    message: str
    path: Path | None = None
    rt_plan_uid: str = ""
    # A signed plan changed after signing, or disagreeing with itself: the values side by side
    # (planner.dicom.tamper_evidence); None when unsigned or whole.
    evidence: TamperEvidence | None = None
    # Approved after the physics review by another trusted person (rule 6); a treatable plan that is
    # not reviewed is treated on the physician's signature alone, as ``clinic`` allows.
    reviewed: bool = False
    clinic: ClinicSettings = ClinicSettings()   # the policy the verdict was made under


def open_signed_plan(path: str | os.PathLike, trusted_certificates: Iterable[x509.Certificate] = (), *,
                     at: _dt.datetime | None = None, clinic: ClinicSettings | None = None) -> SignedPlan:
    """Open an RTPLAN.dcm (or a package folder holding one); ``at``: when to judge validity (now);
    ``clinic``: the policy to judge by (None: the clinic's settings, read now).

    Raises SignedPlanError for what is not a Planner RT Plan: not DICOM, damaged, another kind of
    object, or no readable embedded plan; ClinicPolicyError when the clinic's settings cannot be read.
    """
    if clinic is None:
        try:
            clinic = load_clinic_settings()
        except ClinicSettingsError as exc:
            raise ClinicPolicyError(f"{path}: whether it is treatable cannot be said: {exc}") from None
    file = _rt_plan_file(Path(path))
    try:
        return _open(file, tuple(trusted_certificates), at, clinic)
    except SignedPlanError:
        raise
    except DAMAGE_ERRORS as exc:  # pydicom reads elements lazily: damage shows wherever one is first used
        raise SignedPlanError(damaged_file_message(file, exc)) from exc


def _open(file: Path, trusted_certificates: tuple[x509.Certificate, ...], at: _dt.datetime | None,
          clinic: ClinicSettings) -> SignedPlan:
    ds = _read(file)
    try:
        checks = verify_dataset(ds, trusted_certificates, at=at)  # first: nothing converted yet
    except SignatureError as exc:
        raise SignedPlanError(f"{file}: the signatures cannot be checked: {exc}") from None
    status = SignatureStatus.of(checks)
    _check_is_rt_plan(ds, file)
    try:
        plan, record = read_inverse_payload(ds) if embedded_kind(ds) == INVERSE_CREATOR else read_plan_payload(ds)
    except PlanPayloadError as exc:
        signed = "" if status is SignatureStatus.UNSIGNED else f" — {status.value}"
        raise SignedPlanError(f"{file} is an RT Plan Planner cannot open: {exc}{signed}") from None
    differences = plan_differences(ds, plan, record)
    treatable, reviewed, message = _verdict(ds, record, differences, checks, status, clinic)
    evidence = tamper_evidence(ds, checks, differences)
    return SignedPlan(plan=plan, calculation_record=record, checks=checks, status=status, treatable=treatable,
                      message=message, path=file, rt_plan_uid=str(ds.get("SOPInstanceUID", "") or ""),
                      evidence=evidence, reviewed=reviewed, clinic=clinic)


def plan_differences(ds: Dataset, plan: Plan | EmbeddedInversePlan,
                     record: dict[str, Any]) -> tuple[PayloadDifference, ...]:
    """Where the RT Plan's own attributes and its embedded plan, of either kind, disagree (rule 5).
    Read after verifying: it converts elements."""
    if isinstance(plan, EmbeddedInversePlan):
        return inverse_payload_differences(ds, plan, record)
    return payload_differences(ds, plan, record)


def _verdict(ds: Dataset, record: dict, differences: tuple[PayloadDifference, ...],
             checks: tuple[SignatureCheck, ...], status: SignatureStatus,
             clinic: ClinicSettings) -> tuple[bool, bool, str]:
    """(treatable, reviewed, message)."""
    if status is SignatureStatus.UNSIGNED:
        return False, False, DRAFT_MESSAGE
    if status is SignatureStatus.BROKEN:
        return False, False, "; ".join(check.problem for check in checks if not check.valid) + f" — {REFUSED}"
    refusals = [check.problem for check in checks if not check.trusted]
    if not any(check.role == CREATOR for check in checks):
        refusals.append("no creator (physician's) signature")
    # What the physicist's decision adds after the physician signed: the Approval module and, for a
    # rejection, its reason (0044,0003) — both covered by the physicist's authorization signature.
    reason_signed = any(check.role == AUTHORIZATION and check.valid
                        and not any(n.startswith(_REASON_PREFIX) for n in check.attributes_not_signed)
                        for check in checks)
    excused = anchors_signed_later(ds, checks)  # audit anchors a later signing added and signed
    for check, anchors in zip(checks, excused):
        unsigned = [name for name in check.attributes_not_signed
                    if not (check.role == CREATOR and (name.startswith(_APPROVAL_PREFIX)
                                                       or (name.startswith(_REASON_PREFIX) and reason_signed)))
                    and not is_excused(name, anchors)]
        if unsigned:
            refusals.append(f"{check.label} does not cover {', '.join(unsigned)} (added after signing)")
    if str(ds.get("ApprovalStatus", "")).strip().upper() == "REJECTED":
        reason = str(ds.get((0x0044, 0x0003)).value if (0x0044, 0x0003) in ds else "").strip()
        refusals.insert(0, f"REJECTED by {ds.get('ReviewerName', '') or 'the reviewer'}"
                           + (f": {reason}" if reason else ""))
    disagreements = [d.text() for d in differences]
    if disagreements:
        refusals.append("the embedded plan disagrees with the RT Plan: " + "; ".join(disagreements))
    message = "signed by " + "; ".join(_signed_words(check) for check in checks)
    treatable = reviewed = not refusals
    if refusals:
        message += f" — {REFUSED}: " + "; ".join(refusals)
    else:
        unreviewed = _not_approved(ds, checks)
        reviewed = unreviewed is None
        if unreviewed and clinic.treat_before_review:
            message += f" — {clinic.unreviewed_text}: {unreviewed}"
        elif unreviewed:
            treatable = False
            message += f" — {AWAITING_REVIEW}, not treatable: {unreviewed}"
    if record.get("demo_commissioning"):
        message += f" — {DEMO_WORDS}"
    return treatable, reviewed, message


def _not_approved(ds: Dataset, checks: tuple[SignatureCheck, ...]) -> str | None:
    """Why the plan is not approved after the physics review (rule 6), or None. The signatures
    are intact, trusted and cover what they must (rules 1-4) when this is asked."""
    status = str(ds.get("ApprovalStatus", "") or "").strip().upper() or "UNAPPROVED"
    if status != "APPROVED":
        return f"the physicist has not approved it (Approval Status {status})"
    creators = [c for c in checks if c.role == CREATOR]
    authorizations = [c for c in checks if c.role == AUTHORIZATION]
    if not authorizations:
        return "Approval Status says APPROVED but no authorization signature covers it"
    for a in authorizations:
        same = [c for c in creators if c.certificate_fingerprint_sha256 == a.certificate_fingerprint_sha256
                or (c.certificate is not None and a.certificate is not None
                    and c.certificate.subject == a.certificate.subject)]
        if not same:
            return None
    return (f"approved by its own creator ({authorizations[0].signer}): another person must review and "
            f"approve it")


def _signed_words(check: SignatureCheck) -> str:
    when = "at an unknown time" if check.signed_at is None else \
        f"on {check.signed_at.astimezone(_dt.timezone.utc):%Y-%m-%d %H:%M} UTC"
    words = f"{check.signer} ({check.role or check.purpose or 'purpose not given'}) {when}"
    if check.certificate_fingerprint_sha256:
        words += f", certificate SHA-256 {check.certificate_fingerprint_sha256}"
    return words + (f", {TEST_WORDS}" if check.is_test_certificate else "")


def _rt_plan_file(path: Path) -> Path:
    if path.is_dir():
        file = path / RT_PLAN_FILE
        if not file.is_file():
            raise SignedPlanError(f"{path} holds no {RT_PLAN_FILE}: not a plan package")
        return file
    return path


def _read(file: Path) -> Dataset:
    try:
        return dcmread(file)
    except InvalidDicomError:
        raise SignedPlanError(f"{file} is not a DICOM file") from None
    except OSError as exc:
        if exc.errno is None:  # pydicom's, on damaged content
            raise
        raise SignedPlanError(f"cannot read {file}: {exc.strerror or exc}") from None


def _check_is_rt_plan(ds: Dataset, file: Path) -> None:
    sop_class = str(ds.get("SOPClassUID", "") or "")
    if sop_class != RTPlanStorage:
        kind = UID(sop_class).name if sop_class else "an object without a SOP Class UID"
        raise SignedPlanError(f"{file} is {kind}, not an RT Plan")


__all__ = ["ClinicPolicyError", "SignedPlan", "SignedPlanError", "open_signed_plan", "plan_differences"]
