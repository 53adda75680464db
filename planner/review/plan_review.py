"""The physicist's review of a signed RT Plan: is it the plan the physician signed, does the dose
come out the same again, does an independent calculation agree, is everything consistent.

``review_plan`` opens the RT Plan (planner.dicom.signed_plan), recomputes the dose of the embedded
plan with the same engine on its own image, runs the independent second check on the SIGNED numbers
(the time on the RT Plan is what the unit delivers) and the consistency checks, and says whether the
plan may be approved, and if not, every reason.

Approval is refused (``can_approve`` False, each reason in ``reasons``) when:
1. there is no creator (physician's) signature;
2. a signature is broken (the signed bytes changed) or untrusted (its certificate is not one the
   clinic trusts, or was out of date): an untrusted key may say anything about who signed;
3. anything was added after the creator signature (an attribute it does not cover, other than the
   Approval module, group 300E, which it leaves out on purpose), or the embedded plan disagrees with
   the RT Plan's own attributes;
4. the signed numbers are not reproduced: the treatment time and the dose at the prescription point
   recomputed now differ from the signed calculation record by more than 0.1 % (other beam data,
   another engine, or a record altered before signing), or the dose cannot be recomputed at all; an
   IMRT plan's dose is recomputed from the RT Plan's own segments and every signed dose figure (DVH
   points, dose at the isocentre) must be reproduced (planner.review.imrt_review);
5. the second check's difference exceeds the clinic's stop level, or the check cannot be made (an
   IMRT plan's is an independent Monte Carlo point dose, planner.review.imrt_second_check, against
   the dose recomputed from its signed segments);
6. a consistency finding is "stop";
7. the plan is already approved or rejected (Approval Status, PS3.3 C.8.8.16), or already carries
   an authorization signature: a decision is made once; a changed plan is a new revision.
A "review" verdict or finding does not block: the physicist reads it and decides.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cryptography import x509
from pydicom import dcmread
from pydicom.dataset import Dataset

from planner.dicom.audit_anchor import anchors_signed_later, is_excused
from planner.dicom.inverse_payload import EmbeddedInversePlan
from planner.dicom.signatures import APPROVAL_GROUP, AUTHORIZATION, CREATOR, SignatureCheck
from planner.dicom.signed_plan import SignedPlan, open_signed_plan, plan_differences
from planner.dose.monte_carlo import CancelCheck, ProgressCallback
from planner.review.consistency import STOP as FINDING_STOP
from planner.review.imrt_review import IMRT_ACTION_LEVELS, imrt_second_check_of, recompute_imrt
from planner.review.imrt_second_check import ImrtSecondCheck
from planner.review.recomputation import (REPRODUCTION_TOLERANCE, FigureComparison, Recomputation,
                                          find_technique)
from planner.review.consistency import ReviewFinding, consistency_checks
from planner.review.second_check import STOP as CHECK_STOP
from planner.review.second_check import ActionLevels, SecondCheck, SecondCheckError, second_check

UNAPPROVED, APPROVED, REJECTED = "UNAPPROVED", "APPROVED", "REJECTED"
MC_WORDS = "independent Monte Carlo check of the signed segments (about a minute on 2 cores)"
# Why a plan was rejected: (0044,0003) Approval Status Further Description, LT. The RT Plan's own
# Approval module (C.8.8.16) has only Approval Status, Review Date, Review Time and Reviewer Name,
# and the SOP Common module no free text for it; the data dictionary's Approval Status Further
# Description (the free-text companion of an approval status in the standard's newer approval
# attributes) is added as a Standard Extended SOP Class attribute (PS3.2/PS3.4: additional Type 3
# standard attributes). Outside group 300E it is not covered by the creator signature, only by the
# authorization signature made with the rejection; the review accepts it only then.
DECISION_REASON_TAG = 0x00440003
DECISION_REASON_KEYWORD = "ApprovalStatusFurtherDescription"


@dataclass(frozen=True)
class ReviewSignature:
    """One signature as the physicist reads it."""

    label: str                     # "signature 1 (creator, Dr A. Oncologist, Test Clinic)"
    signer: str
    role: str                      # creator | authorization | the purpose in words
    signed_at: _dt.datetime | None
    status: str                    # "intact" | "BROKEN"
    trusted: bool
    test_certificate: bool
    fingerprint_sha256: str | None
    problem: str | None

    def describe(self) -> str:
        when = "at an unknown time" if self.signed_at is None else \
            f"{self.signed_at.astimezone(_dt.timezone.utc):%Y-%m-%d %H:%M:%S} UTC"
        trust = "trusted" if self.trusted else "NOT trusted"
        test = ", TEST certificate — not for clinical use" if self.test_certificate else ""
        problem = f" — {self.problem}" if self.problem else ""
        fingerprint = f", certificate SHA-256 {self.fingerprint_sha256 or 'unknown'}"
        return f"{self.role}: {self.signer}, signed {when}{fingerprint}, {self.status}, {trust}{test}{problem}"

    def as_dict(self) -> dict[str, Any]:
        return {"signer": self.signer, "role": self.role, "status": self.status, "trusted": self.trusted,
                "signed_at": None if self.signed_at is None else self.signed_at.isoformat(),
                "test_certificate": self.test_certificate, "fingerprint_sha256": self.fingerprint_sha256,
                "problem": self.problem}


@dataclass(frozen=True)
class ApprovalState:
    """The Approval module as written in the RT Plan (PS3.3 C.8.8.16), plus a rejection's reason."""

    status: str                    # UNAPPROVED | APPROVED | REJECTED | what the file says
    reviewer_name: str = ""
    review_date: str = ""          # DA, YYYYMMDD
    review_time: str = ""          # TM, HHMMSS
    reason: str = ""               # (0044,0003), rejections only

    def describe(self) -> str:
        if self.status == UNAPPROVED or not self.reviewer_name:
            return self.status
        words = f"{self.status} by {self.reviewer_name} on {self.review_date} {self.review_time}".rstrip()
        return words + (f": {self.reason}" if self.reason else "")


@dataclass(frozen=True, eq=False)
class PlanReview:
    """What the physicist sees before deciding (module docstring for the rules)."""

    signed_plan: SignedPlan
    signatures: tuple[ReviewSignature, ...]
    approval: ApprovalState
    recomputation: Recomputation | None
    second_check: SecondCheck | ImrtSecondCheck | None   # surface: planner.review.second_check; IMRT: Monte Carlo
    findings: tuple[ReviewFinding, ...]
    second_check_difference_percent: float | None
    can_approve: bool
    reasons: tuple[str, ...]
    # What the recomputation used: the report is redrawn from these after a decision.
    dose_result: Any = field(default=None, repr=False)
    planning_image: Any = field(default=None, repr=False)
    technique: Any = field(default=None, repr=False)
    beam_data: Any = field(default=None, repr=False)
    # An IMRT plan's dose recomputed from its signed segments (the technique's SegmentDose: volume,
    # dose_grid_gy whole course on the volume's grid [x, y, z], dose_rows_gy, metrics, influence);
    # a surface plan's is dose_result.
    imrt_dose: Any = field(default=None, repr=False)

    @property
    def planning_volume(self) -> Any:
        """The planning volume an IMRT plan's dose was recomputed on (None: not recomputed)."""
        return None if self.imrt_dose is None else self.imrt_dose.volume

    @property
    def path(self) -> Path | None:
        return self.signed_plan.path

    @property
    def rt_plan_uid(self) -> str:
        return self.signed_plan.rt_plan_uid

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON values, for ``planner review --json``."""
        check = self.second_check
        return {
            "file": str(self.path), "rt_plan_uid": self.rt_plan_uid, "patient_id": self.signed_plan.plan.patient_id,
            "plan_label": self.signed_plan.plan.label, "signature_status": self.signed_plan.status.value,
            "signatures": [s.as_dict() for s in self.signatures],
            "approval": {"status": self.approval.status, "reviewer_name": self.approval.reviewer_name,
                         "review_date": self.approval.review_date, "review_time": self.approval.review_time,
                         "reason": self.approval.reason},
            "recomputation": None if self.recomputation is None else self.recomputation.as_dict(),
            "second_check": None if check is None else check.as_dict(),
            "second_check_difference_percent": self.second_check_difference_percent,
            "findings": [{"severity": f.severity, "code": f.code, "message": f.message} for f in self.findings],
            "can_approve": self.can_approve, "reasons": list(self.reasons),
        }


def review_plan(path: str | os.PathLike, trusted_certificates: Iterable[x509.Certificate] = (), *,
                action_levels: ActionLevels | None = None, registry=None, today: _dt.date | None = None,
                progress: ProgressCallback | None = None, is_cancelled: CancelCheck | None = None,
                mc_cache_path: Path | None = None) -> PlanReview:
    """Review the RT Plan at ``path`` (a file or a package folder). Raises SignedPlanError when it is
    not a Planner RT Plan; everything else that is wrong is a reason in the result.

    ``action_levels``: the clinic's levels for the second check; None gives the technique's default
    (surface: ActionLevels(); IMRT: AAPM TG-219's 3 % / 5 %). ``progress`` and ``is_cancelled`` follow
    the long part, an IMRT plan's recomputation and Monte Carlo check (a cancel raises Cancelled).
    ``mc_cache_path``: where the Monte Carlo's answers are kept (default: the workstation's data folder)."""
    trusted = tuple(trusted_certificates)
    signed = open_signed_plan(path, trusted)
    ds = dcmread(signed.path)  # our own copy: reading values below converts elements, never saved
    approval = approval_state(ds)
    reasons = [*_signature_reasons(signed.checks, approval, anchors_signed_later(ds, signed.checks)),
               *_decision_reasons(approval, signed.checks)]
    disagreements = [d.text() for d in plan_differences(ds, signed.plan, signed.calculation_record)]
    if disagreements:
        reasons.append("the embedded plan disagrees with the RT Plan: " + "; ".join(disagreements))
    if isinstance(signed.plan, EmbeddedInversePlan):
        # Its signatures, trust and the agreement of what it embeds with what it delivers are judged
        # above by the same rules as any plan; its dose is recomputed from the signed segments
        # (planner.review.imrt_review); the independent check is not yet part of the review.
        imrt = recompute_imrt(signed, registry, _part(progress, 0.0, 0.2), is_cancelled)
        reasons += imrt.reasons
        check = None
        if imrt.recomputation is None or not imrt.recomputation.reproduced:
            reasons.append("the independent second check was not made: it compares with the plan's dose, which "
                           "is not reproduced from the signed segments")
        else:
            check, why = imrt_second_check_of(signed, imrt.segment_dose, action_levels or IMRT_ACTION_LEVELS,
                                              mc_cache_path, _part(progress, 0.2, 1.0, MC_WORDS), is_cancelled)
            if why:
                reasons.append(why)
        return PlanReview(signed_plan=signed, signatures=tuple(_signature(c) for c in signed.checks),
                          approval=approval, recomputation=imrt.recomputation, second_check=check, findings=(),
                          second_check_difference_percent=None if check is None else check.difference_percent,
                          can_approve=not reasons, reasons=tuple(reasons), technique=imrt.technique,
                          imrt_dose=imrt.segment_dose)

    context = _recompute(signed, registry)
    reasons += context.reasons
    check, findings = None, ()
    if context.dose is not None:
        check, why = _second_check(signed, context, action_levels or ActionLevels())
        if why:
            reasons.append(why)
        findings = consistency_checks(context.plan, context.dose, context.technique, context.commissioning,
                                      today=today, plan_date=_plan_date(ds), beam_data=context.beam)
        reasons += [f"consistency ({f.code}): {f.message}" for f in findings if f.severity == FINDING_STOP]
    return PlanReview(
        signed_plan=signed, signatures=tuple(_signature(c) for c in signed.checks), approval=approval,
        recomputation=context.recomputation, second_check=check, findings=tuple(findings),
        second_check_difference_percent=None if check is None else float(check.difference_percent),
        can_approve=not reasons, reasons=tuple(reasons), dose_result=context.dose,
        planning_image=context.planning_image, technique=context.technique, beam_data=context.beam)


def approval_state(ds: Dataset) -> ApprovalState:
    """The Approval module's values (and a rejection's reason) as the RT Plan holds them."""
    def text(keyword):
        return str(ds.get(keyword, "") or "").strip()
    return ApprovalState(status=text("ApprovalStatus") or UNAPPROVED, reviewer_name=text("ReviewerName"),
                         review_date=text("ReviewDate"), review_time=text("ReviewTime"),
                         reason=text(DECISION_REASON_KEYWORD))


# ----------------------------------------------------------------------------------------- signatures

def _signature(check: SignatureCheck) -> ReviewSignature:
    return ReviewSignature(label=check.label, signer=check.signer, role=check.role or check.purpose or "purpose not given",
                           signed_at=check.signed_at, status="intact" if check.valid else "BROKEN",
                           trusted=check.trusted, test_certificate=check.is_test_certificate,
                           fingerprint_sha256=check.certificate_fingerprint_sha256, problem=check.problem)


def _signature_reasons(checks: tuple[SignatureCheck, ...], approval: ApprovalState,
                       excused: tuple[frozenset[str], ...] = ()) -> list[str]:
    reasons = []
    if not any(c.role == CREATOR for c in checks):
        reasons.append("no creator (physician's) signature: the plan is a draft" if not checks
                       else "no creator (physician's) signature")
    for check in checks:
        if not check.valid:
            reasons.append(f"{check.problem} (altered after signing)")
        elif not check.trusted:
            reasons.append(str(check.problem))
    reason_signed = any(c.valid and c.role == AUTHORIZATION and not _uncovered(c, ()) for c in checks)
    excused = excused or (frozenset(),) * len(checks)
    for check, anchors in zip(checks, excused):  # anchors: audit anchors a later signing added and signed
        if not check.valid:
            continue
        allowed = (APPROVAL_GROUP,) if check.role == CREATOR else ()
        extra = [name for name in _uncovered(check, allowed)
                 if not (reason_signed and name.startswith("(0044,0003)")) and not is_excused(name, anchors)]
        if extra:
            reasons.append(f"{check.label} does not cover {', '.join(extra)}: added after signing")
    return reasons


def _uncovered(check: SignatureCheck, allowed_groups: tuple[int, ...]) -> list[str]:
    prefixes = tuple(f"({group:04X}," for group in allowed_groups)
    return [name for name in check.attributes_not_signed if not (prefixes and name.startswith(prefixes))]


def _decision_reasons(approval: ApprovalState, checks: tuple[SignatureCheck, ...]) -> list[str]:
    if approval.status == APPROVED:
        return [f"already approved ({approval.describe()}); edit it as a new revision"]
    if approval.status == REJECTED:
        return [f"already rejected ({approval.describe()}); make a new revision"]
    reasons = [] if approval.status == UNAPPROVED else [f"Approval Status is {approval.status!r}, not UNAPPROVED"]
    if any(c.role == AUTHORIZATION for c in checks):
        reasons.append("the plan already carries an authorization signature")
    return reasons


# ----------------------------------------------------------------------------------------- dose

@dataclass
class _Context:
    plan: Any = None
    planning_image: Any = None
    technique: Any = None
    commissioning: Any = None
    entry: Any = None
    beam: Any = None
    dose: Any = None
    recomputation: Recomputation | None = None
    reasons: list[str] = field(default_factory=list)


def _recompute(signed: SignedPlan, registry) -> _Context:
    """The embedded plan's dose computed again with its technique's engine on its own image."""
    from planner.dicom.planning_image import locate_planning_image
    from planner.dose.grid_axes import dose_grid_axes
    from planner.imaging.planning_image import calibrated_image, complete_plan, load_planning_image
    from planner.techniques.beam_lookup import beam_key, machine_commissioning

    context, plan = _Context(), signed.plan
    context.technique, engine, why = find_technique(plan.setup.technique_id, registry,
                                                    lambda technique: technique.dose_engine, "dose engine")
    if engine is None:
        context.reasons.append(why)
        return context
    if not plan.image_path:
        context.reasons.append("the plan names no planning image: the dose cannot be recomputed")
        return context
    image_path, how = locate_planning_image(signed)   # its recorded path, or the referenced US beside it
    if image_path is None:
        context.reasons.append(f"{how}: the dose cannot be recomputed")
        return context
    plan = replace(plan, image_path=image_path)
    try:
        context.planning_image = load_planning_image(image_path)
    except Exception as exc:  # ImageLoadError and OS errors: the review says so, never crashes
        context.reasons.append(f"the planning image {image_path} cannot be loaded ({exc}): the dose cannot "
                               f"be recomputed")
        return context
    try:
        context.plan = complete_plan(plan, context.planning_image)
        image = calibrated_image(context.planning_image.image, context.plan)
        context.commissioning = machine_commissioning(context.technique, plan.setup.machine_id)
        key = beam_key(context.technique, context.plan)
        if key is not None:
            context.beam = engine.beam_data(*key)
            context.entry = context.commissioning.entry(plan.setup.energy_id, plan.setup.applicator_id)
        dose = engine.compute(context.plan, dose_grid_axes(image), context.commissioning)
    except Exception as exc:  # noqa: BLE001 - whatever fails, the plan is not approvable and the reason shown
        context.reasons.append(f"the dose cannot be recomputed: {type(exc).__name__}: {exc}")
        return context
    if getattr(dose, "refused", False):
        context.reasons.append("the dose engine refuses the plan now: "
                               + "; ".join(f.message for f in dose.findings if f.severity == "refuse"))
        return context
    context.dose = dose
    context.recomputation = _compare(signed.calculation_record, dose)
    if not context.recomputation.reproduced:
        context.reasons.append(context.recomputation.message)
    return context


def _compare(record: dict[str, Any], dose) -> Recomputation:
    pairs = (("treatment_time_min", "treatment_time_min", getattr(dose, "time_name", "time"), "min"),
             ("dose_at_prescription_depth_gy", "dose_at_prescription_depth_gy", "dose at the prescription point",
              "Gy"))
    values, problems = {}, []
    for key, attribute, what, unit in pairs:
        signed, now = _number(record.get(key)), _number(getattr(dose, attribute, None))
        values[key] = (signed, now)
        if signed is None or now is None:
            if signed != now:
                problems.append(f"{what}: signed {_fmt(signed)}, recomputed {_fmt(now)}")
        elif not math.isclose(signed, now, rel_tol=REPRODUCTION_TOLERANCE, abs_tol=1e-12):
            problems.append(f"{what} signed {signed:.4f} {unit}, recomputed {now:.4f} {unit} "
                            f"({(signed - now) / now * 100:+.2f} %)")
    message = ("the signed numbers are reproduced within 0.1 % (time and dose at the prescription point)"
               if not problems else
               "the signed numbers are not reproduced (more than 0.1 % apart): " + "; ".join(problems))
    return Recomputation(signed_time_min=values["treatment_time_min"][0],
                         recomputed_time_min=values["treatment_time_min"][1],
                         signed_dose_gy=values["dose_at_prescription_depth_gy"][0],
                         recomputed_dose_gy=values["dose_at_prescription_depth_gy"][1],
                         reproduced=not problems, message=message)


@dataclass(frozen=True)
class SignedNumbers:
    """The time and dose the RT Plan was signed with, as the second check reads a dose result: the
    physicist checks what the unit will deliver, not what the engine gives today."""

    time_name: str
    treatment_time_min: float | None
    dose_at_prescription_depth_gy: float | None
    treatment_time_reason: str | None = None


def _second_check(signed: SignedPlan, context: _Context, levels: ActionLevels) -> tuple[SecondCheck | None, str]:
    record = signed.calculation_record
    numbers = SignedNumbers(time_name=str(record.get("time_name") or context.dose.time_name),
                            treatment_time_min=_number(record.get("treatment_time_min")),
                            dose_at_prescription_depth_gy=_number(record.get("dose_at_prescription_depth_gy")),
                            treatment_time_reason="the signed record states no time")
    if context.beam is None or context.entry is None:
        return None, "the second check cannot be made: the machine's commissioning has no entry (SSD) for the " \
                     "plan's energy and applicator"
    try:
        check = second_check(context.plan, numbers, context.beam, context.entry, action_levels=levels)
    except SecondCheckError as exc:
        return None, f"the second check cannot be made: {exc}"
    if check.verdict == CHECK_STOP:
        return check, (f"second check difference {check.difference_percent:+.2f} % exceeds the stop level "
                       f"{levels.stop_percent:g} % ({check.message})")
    return check, ""


def _part(progress: ProgressCallback | None, start: float, stop: float, words: str = ""):
    """``progress`` of a step that spans ``start`` ... ``stop`` of the whole review; the step may say
    what it does or leave it to ``words``."""
    if progress is None:
        return None
    return lambda fraction, message=words: progress(start + (stop - start) * fraction, message)


def _plan_date(ds: Dataset) -> _dt.date | None:
    text = str(ds.get("RTPlanDate", "") or "").strip()
    try:
        return _dt.datetime.strptime(text, "%Y%m%d").date() if text else None
    except ValueError:
        return None


def _number(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _fmt(value: float | None) -> str:
    return "none" if value is None else f"{value:.4f}"


__all__ = ["APPROVED", "DECISION_REASON_TAG", "REJECTED",
           "UNAPPROVED", "ApprovalState", "FigureComparison", "PlanReview", "Recomputation", "ReviewSignature",
           "SignedNumbers", "approval_state", "find_technique", "review_plan"]
