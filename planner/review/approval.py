"""The physicist's decision on a signed RT Plan: approve or reject, signed, written once.

Approving writes the Approval module (PS3.3 C.8.8.16: Approval Status APPROVED, Review Date, Review
Time, Reviewer Name) and adds the authorization signature (PS3.15 Authorization RSA profile, over
every attribute, the approval included; planner.dicom.signatures). The creator signature leaves
group 300E out, so it stays valid (shared dicom-notes §1.8). Rejecting writes Approval Status
REJECTED with the same review attributes, the reason as Approval Status Further Description
(0044,0003) (planner.review.plan_review), and the same authorization signature.

Why so careful:
* approval happens only when ``review_plan`` says it may (its rules); a refusal lists every reason;
* the approver must not be the creator (four eyes: the same certificate cannot check itself);
* the file is replaced atomically, only if it is byte for byte the one reviewed, and only after the
  written bytes were read back with every signature intact; on any refusal nothing is written;
* the audit log (when given) records who decided, on which plan, with the second check's difference
  and the reasons.
The package's report.pdf is redrawn with both signatures after an approval (status APPROVED) when
the review could recompute the dose; a rejection never redraws it (the report derives APPROVED from
any authorization signature), signatures.txt says REJECTED instead.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import io
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from pydicom import dcmread
from pydicom.uid import generate_uid

from planner.core.atomic import atomic_write_bytes
from planner.core.errors import PlannerError
from planner.dicom.audit_anchor import AuditAnchorError, add_audit_anchor, audit_head_text
from planner.dicom.export import RT_PLAN_FILE
from planner.dicom.inverse_payload import EmbeddedInversePlan
from planner.dicom.keys import SigningIdentity, certificate_fingerprint_sha256, describe_certificate
from planner.dicom.package import REPORT_FILE, SIGNATURES_FILE, signature_lines, signatures_text
from planner.dicom.signatures import AUTHORIZATION, CREATOR, SignatureCheck, SignatureError, sign_dataset, \
    verify_dataset
from planner.dicom.signed_plan import SignedPlanError
from planner.review.actor import actor
from planner.review.audit import AuditError
from planner.review.plan_review import (APPROVED, DECISION_REASON_TAG, REJECTED, PlanReview, approval_state,
                                        review_plan)
from planner.review.second_check import ActionLevels

REASON_MAX_CHARS = 10240   # LT holds 10240 characters (PS3.5 6.2)


class ApprovalError(PlannerError, ValueError):
    """The decision was not written; the message gives every reason. The file is unchanged."""


@dataclass(frozen=True)
class Decision:
    """A written approval or rejection."""

    path: Path
    status: str                        # APPROVED | REJECTED
    rt_plan_uid: str
    reviewer_name: str
    reviewed_at: _dt.datetime
    signature: SignatureCheck
    review: PlanReview = field(repr=False)
    reason: str = ""
    report_redrawn: bool = False
    audit_hash: str | None = None


def approve_plan(path: str | os.PathLike, identity: SigningIdentity, reviewer_name: str, *,
                 trusted_certificates: Iterable[x509.Certificate] = (), action_levels: ActionLevels | None = None,
                 now: _dt.datetime | None = None, audit=None, registry=None, today: _dt.date | None = None) -> Decision:
    """Approve the RT Plan at ``path`` (file or package folder): refused with ApprovalError unless the
    review allows it (planner.review.plan_review rules) and the approver is not the creator."""
    return _decide(path, identity, reviewer_name, APPROVED, "", tuple(trusted_certificates), action_levels, now,
                   audit, registry, today)


def reject_plan(path: str | os.PathLike, identity: SigningIdentity, reviewer_name: str, reason: str, *,
                trusted_certificates: Iterable[x509.Certificate] = (), action_levels: ActionLevels | None = None,
                now: _dt.datetime | None = None, audit=None, registry=None, today: _dt.date | None = None) -> Decision:
    """Reject the RT Plan at ``path`` with ``reason`` (required): a plan may be rejected whatever its
    review found, but not one already decided, nor one whose signatures are broken (nothing to sign)."""
    reason = (reason or "").strip()
    if not reason:
        raise ApprovalError("a rejection needs its reason (what must change)")
    if len(reason) > REASON_MAX_CHARS:
        raise ApprovalError(f"the reason has {len(reason)} characters; at most {REASON_MAX_CHARS} fit")
    return _decide(path, identity, reviewer_name, REJECTED, reason, tuple(trusted_certificates), action_levels, now,
                   audit, registry, today)


def _decide(path, identity, reviewer_name, status, reason, trusted, levels, now, audit, registry, today) -> Decision:
    reviewer_name = (reviewer_name or "").strip()
    if not reviewer_name:
        raise ApprovalError("the reviewer's name is required (Reviewer Name, PS3.3 C.8.8.16)")
    if "\\" in reviewer_name or len(reviewer_name) > 64:
        raise ApprovalError("the reviewer's name must be at most 64 characters without a backslash")
    when = (now or _dt.datetime.now(_dt.timezone.utc)).astimezone(_dt.timezone.utc)
    file = _rt_plan_file(Path(path))
    try:
        before = file.read_bytes()
        review = _review_bytes(before, file, trusted, levels, registry, today)
    except SignedPlanError as exc:
        raise ApprovalError(str(exc).replace(_PRIVATE_COPY, str(file))) from None
    except OSError as exc:
        raise ApprovalError(f"cannot read {file}: {exc.strerror or exc}") from None
    verb = "approve" if status == APPROVED else "reject"
    refusals = list(review.reasons) if status == APPROVED else _rejection_refusals(review)
    refusals += _four_eyes(review, identity)
    if refusals:
        _record_refusal(audit, verb, identity, review, refusals)
        raise ApprovalError(f"cannot {verb} {file}: " + "; ".join(refusals))

    ds = dcmread(io.BytesIO(before))
    ds.ApprovalStatus = status
    local = when.astimezone()  # DA/TM are local time (PS3.5 6.2); the signature carries UTC
    ds.ReviewDate = local.strftime("%Y%m%d")
    ds.ReviewTime = local.strftime("%H%M%S")
    ds.ReviewerName = reviewer_name
    if reason:
        ds.add_new(DECISION_REASON_TAG, "LT", reason)
    signature_uid = generate_uid()
    written = False
    try:
        # A decision nobody can trace is not made: its audit entry is reserved first, its hash signed
        # into the plan (planner.dicom.audit_anchor), and stored only once the files are written;
        # if it cannot be stored everything is put back.
        with _reserved(audit) as reservation:
            entry = None
            if reservation is not None:
                entry = _entry(reservation, status, identity, review, reviewer_name, reason, signature_uid)
                add_audit_anchor(ds, entry)
            data, check, reread = _signed(ds, identity, when, signature_uid, status, verb, file)
            outputs = (_package_outputs(file.parent, review, reread, status, reviewer_name, reason)
                       if file.name == RT_PLAN_FILE else {})
            previous = {target: target.read_bytes() for target in outputs if target.exists()}
            if file.read_bytes() != before:
                raise ApprovalError(f"{file} changed while it was reviewed; nothing was written, review it again")
            written = True
            atomic_write_bytes(file, data)
            for target, payload in outputs.items():
                if payload is None:
                    target.unlink(missing_ok=True)
                else:
                    atomic_write_bytes(target, payload)
    except BaseException as exc:
        if written:
            atomic_write_bytes(file, before)   # the report must not contradict the RT Plan
            for target in outputs:
                if target in previous:
                    atomic_write_bytes(target, previous[target])
                else:
                    target.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise ApprovalError(f"writing {file} failed, it was left unchanged: {exc.strerror or exc}") from None
        if isinstance(exc, AuditError):
            raise ApprovalError(f"the audit log cannot record the decision, {file} was left unchanged: {exc}") \
                from None
        raise
    return Decision(path=file, status=status, rt_plan_uid=review.rt_plan_uid, reviewer_name=reviewer_name,
                    reviewed_at=when, signature=check, review=review, reason=reason,
                    report_redrawn=outputs.get(file.parent / REPORT_FILE) is not None,
                    audit_hash=None if entry is None else entry.entry_hash)


def _signed(ds, identity, when, signature_uid, status, verb, file):
    """(bytes, check, dataset read back) of ``ds`` with the authorization signature; ApprovalError if not."""
    try:
        check = sign_dataset(ds, identity, AUTHORIZATION, now=when, signature_uid=signature_uid)
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        data = buffer.getvalue()
        reread = dcmread(io.BytesIO(data))
        broken = [c.problem for c in verify_dataset(reread, at=when) if not c.valid]
        if broken or approval_state(reread).status != status:
            raise ApprovalError(f"cannot {verb} {file}: after writing, " + ("; ".join(broken) or "the status differs")
                                + "; nothing was written")
    except (SignatureError, AuditAnchorError) as exc:
        raise ApprovalError(f"cannot {verb} {file}: {exc}") from None
    return data, check, reread


@contextlib.contextmanager
def _reserved(audit):
    if audit is None:
        yield None
    else:
        with audit.reserve() as reservation:
            yield reservation


_PRIVATE_COPY = "<private copy>"


def _review_bytes(data: bytes, file: Path, trusted, levels, registry, today) -> PlanReview:
    """The review of exactly ``data`` (a private copy): what is signed is byte for byte what was reviewed,
    even if someone rewrites the file meanwhile (that is caught again before writing)."""
    with tempfile.TemporaryDirectory(prefix="planner-review-") as folder:
        copy = Path(folder) / RT_PLAN_FILE
        copy.write_bytes(data)
        try:
            review = review_plan(copy, trusted, action_levels=levels, registry=registry, today=today)
        except SignedPlanError as exc:
            raise SignedPlanError(str(exc).replace(str(copy), _PRIVATE_COPY)) from None
    return dataclasses.replace(review, signed_plan=dataclasses.replace(review.signed_plan, path=file))


def _rejection_refusals(review: PlanReview) -> list[str]:
    """A rejection needs only an undecided plan with intact signatures (the authorization signature
    cannot vouch for altered data, planner.dicom.signatures)."""
    from planner.review.plan_review import UNAPPROVED

    refusals = [s.problem or s.label for s in review.signatures if s.status != "intact"]
    if review.approval.status != UNAPPROVED:
        refusals.append(f"already decided ({review.approval.describe()})")
    if any(s.role == AUTHORIZATION for s in review.signatures):
        refusals.append("the plan already carries an authorization signature")
    return refusals


def _four_eyes(review: PlanReview, identity: SigningIdentity) -> list[str]:
    mine = certificate_fingerprint_sha256(identity.certificate)
    if any(c.role == CREATOR and c.certificate_fingerprint_sha256 == mine for c in review.signed_plan.checks):
        return [f"the reviewer's certificate ({describe_certificate(identity.certificate).signer()}) made the creator "
                f"signature: the physicist's review must be by another person"]
    return []


def _package_outputs(folder: Path, review: PlanReview, ds, status: str, reviewer: str, reason: str) -> dict:
    """report.pdf redrawn (approval, the review's dose at hand) or signatures.txt, for a package folder."""
    if not (folder / REPORT_FILE).exists():
        return {}
    checks = verify_dataset(ds)
    uid = str(ds.SOPInstanceUID)
    # An IMRT plan's report is drawn from the optimiser's objects, which the review does not have:
    # its report stays as exported (it says so) and signatures.txt holds the decision.
    surface = not isinstance(review.signed_plan.plan, EmbeddedInversePlan)
    if surface and review.dose_result is not None and review.planning_image is not None:
        from planner.report import PlanStatus, ReportError, render_plan_report, report_content

        try:
            content = report_content(review.signed_plan.plan, review.dose_result, review.planning_image,
                                     review.technique, beam_data=review.beam_data, signatures=signature_lines(checks),
                                     audit_head=audit_head_text(ds),
                                     status=PlanStatus.REJECTED if status == REJECTED else None)
            return {folder / REPORT_FILE: render_plan_report(content), folder / SIGNATURES_FILE: None}
        except ReportError:
            pass  # the RT Plan is the record: fall back to signatures.txt below
    text = signatures_text(checks, uid)
    text += f"Approval Status {status}, Reviewer Name {reviewer}" + (f"; reason: {reason}" if reason else "") + "\n"
    if status == REJECTED:
        text += "This plan was REJECTED by the physicist and must not be treated.\n"
    return {folder / SIGNATURES_FILE: text.encode("utf-8")}


def _entry(reservation, status, identity: SigningIdentity, review: PlanReview, reviewer: str, reason: str,
           signature_uid: str):
    details = {"reviewer_name": reviewer, "file": str(review.path),
               "second_check_difference_percent": review.second_check_difference_percent,
               "second_check_verdict": None if review.second_check is None else review.second_check.verdict,
               "review_reasons": list(review.reasons),
               "certificate_sha256": certificate_fingerprint_sha256(identity.certificate),
               "digital_signature_uid": signature_uid}
    if reason:
        details["reason"] = reason
    who = actor(identity.certificate)
    return reservation.entry("approve" if status == APPROVED else "reject", who.who, review.rt_plan_uid, details,
                             os_user=who.os_user)


def _record_refusal(audit, verb: str, identity: SigningIdentity, review: PlanReview, refusals: list[str]) -> None:
    """A refused approval or rejection is logged too: who tried, on which plan, and why it was refused."""
    if audit is None:
        return
    who = actor(identity.certificate)
    try:
        audit.record("refused", who.who, review.rt_plan_uid or "unknown",
                     {"attempted": verb, "file": str(review.path), "reasons": refusals,
                      "certificate_sha256": certificate_fingerprint_sha256(identity.certificate)},
                     os_user=who.os_user)
    except AuditError as exc:
        refusals.append(f"the refusal could not be logged either: {exc}")


def _rt_plan_file(path: Path) -> Path:
    return path / RT_PLAN_FILE if path.is_dir() else path


__all__ = ["ApprovalError", "Decision", "approve_plan", "reject_plan"]
