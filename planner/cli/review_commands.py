"""``planner review``, ``planner approve`` and ``planner reject``: the physicist's review and decision
from the command line, with the same core functions as the window (planner.review.plan_review,
planner.review.approval).

Why the exit statuses: a script must tell "may be approved" / "decision written" (0) from "may not
be approved" / "decision refused, file unchanged" (1) from "you asked wrongly" (2: a file that is not
a Planner RT Plan, an unreadable certificate, a wrong passphrase). The passphrase is read as for
``planner sign``: from a file or the terminal, used once, never printed or logged.
"""

from __future__ import annotations

from datetime import timezone
from pathlib import Path

from planner.cli.audit_recording import add_audit_db_argument
from planner.cli.shared import (EXIT_FAILURE, EXIT_OK, CommandError, InputError, add_json_argument,
                                 add_trust_argument, identity_from_args, print_json, treatment_json, treatment_lines,
                                 trusted_certificates)


def register(commands) -> None:
    review = commands.add_parser(
        "review", help="the physicist's review of a signed RT Plan: signatures, dose recomputed, second check, "
                       "consistency; exit 0 only when it may be approved",
        description="Opens the RT Plan (or a package folder), verifies its signatures, recomputes the dose of the "
                    "embedded plan, runs the independent second check and the consistency checks. Exit 0 when "
                    "the plan may be approved, 1 when not (every reason printed), 2 for bad input.")
    review.add_argument("file", help="RTPLAN.dcm or a plan package folder")
    add_trust_argument(review)
    _add_levels(review)
    add_json_argument(review)
    review.set_defaults(run=run_review)

    approve = commands.add_parser(
        "approve", help="approve a reviewed RT Plan: Approval Status APPROVED and the physicist's authorization "
                        "signature",
        description="Runs the review and, only when it allows approval, writes Approval Status APPROVED with the "
                    "review date, time and reviewer name and adds the authorization signature over everything. "
                    "On any refusal the file is left unchanged (exit 1).")
    _add_decision_arguments(approve)
    approve.set_defaults(run=run_approve)

    reject = commands.add_parser(
        "reject", help="reject an RT Plan with the reason: Approval Status REJECTED, signed by the physicist",
        description="Writes Approval Status REJECTED with the review date, time, reviewer name and the reason "
                    "(Approval Status Further Description) and adds the authorization signature.")
    _add_decision_arguments(reject)
    reject.add_argument("--reason", required=True, help="why the plan is rejected (what must change)")
    reject.set_defaults(run=run_reject)


def _add_levels(parser) -> None:
    parser.add_argument("--review-level", type=float, default=None, metavar="PERCENT",
                        help="second-check difference that asks for a look (default 2 %% for kV and eBx plans, "
                             "3 %% for IMRT plans after AAPM TG-219)")
    parser.add_argument("--stop-level", type=float, default=None, metavar="PERCENT",
                        help="second-check difference that forbids approval (default 5 %%)")


def _add_decision_arguments(parser) -> None:
    parser.add_argument("file", help="RTPLAN.dcm or a plan package folder")
    parser.add_argument("--key", required=True, help="the physicist's private key: PEM or PKCS#12 (.p12)")
    parser.add_argument("--cert", default=None, help="the physicist's PEM certificate (not needed for PKCS#12)")
    parser.add_argument("--reviewer", required=True, metavar="NAME",
                        help='Reviewer Name as DICOM writes a person, e.g. "Physicist^Jo"')
    parser.add_argument("--passphrase-file", metavar="F", help="file whose first line is the key's passphrase")
    add_trust_argument(parser)
    _add_levels(parser)
    add_audit_db_argument(parser, "the decision")


# --------------------------------------------------------------------------------- review

def run_review(args) -> int:
    from planner.dicom.signed_plan import SignedPlanError
    from planner.review.plan_review import review_plan

    trusted, levels = trusted_certificates(args.trust), _levels(args)
    try:
        result = review_plan(_existing(args.file), trusted, action_levels=levels)
    except SignedPlanError as err:
        raise InputError(str(err)) from None
    if args.json:
        print_json({**result.as_dict(), **treatment_json(result.signed_plan)})
    else:
        _print_review(result)
    return EXIT_OK if result.can_approve else EXIT_FAILURE


def _print_review(result) -> None:
    plan = result.signed_plan.plan
    print(f"{result.path}: {plan.label!r}, patient {plan.patient_id}, RT Plan {result.rt_plan_uid}")
    print(f"  approval        {result.approval.describe()}")
    print(f"  signatures      {result.signed_plan.status.value}")
    for line in result.signatures:
        print(f"    {line.describe()}")
    print(*treatment_lines(result.signed_plan), sep="\n")
    if result.recomputation is not None:
        print(f"  recomputation   {result.recomputation.message}")
    if result.second_check is not None:
        print(f"  second check    {result.second_check.verdict.upper()}, difference "
              f"{result.second_check_difference_percent:+.2f} %")
        print(f"    {result.second_check.message}")
    print("  findings")
    for finding in result.findings:
        print(f"    {finding.severity:<6} {finding.code}: {finding.message}")
    print(f"  can approve     {'yes' if result.can_approve else 'NO'}")
    for reason in result.reasons:
        print(f"    - {reason}")


# --------------------------------------------------------------------------------- approve / reject

def run_approve(args) -> int:
    return _decide(args, None)


def run_reject(args) -> int:
    if not args.reason.strip():
        raise InputError("--reason is empty: say why the plan is rejected")
    return _decide(args, args.reason)


def _decide(args, reason: str | None) -> int:
    from planner.review.approval import ApprovalError, approve_plan, reject_plan
    from planner.review.audit import AuditError, open_audit_log

    file = _existing(args.file)
    trusted, levels = trusted_certificates(args.trust), _levels(args)
    identity = identity_from_args(args)
    try:
        audit = open_audit_log(args.audit_db)
    except AuditError as err:
        raise InputError(str(err)) from None
    try:
        if reason is None:
            decision = approve_plan(file, identity, args.reviewer, trusted_certificates=trusted,
                                    action_levels=levels, audit=audit)
        else:
            decision = reject_plan(file, identity, args.reviewer, reason, trusted_certificates=trusted,
                                   action_levels=levels, audit=audit)
    except ApprovalError as err:
        raise CommandError(str(err)) from None
    finally:
        audit.close()
    when = decision.reviewed_at.astimezone(timezone.utc)
    print(f"{decision.status} {decision.path} by {decision.reviewer_name} at {when:%Y-%m-%d %H:%M:%S} UTC")
    print(f"  {decision.signature.label}, certificate SHA-256 {decision.signature.certificate_fingerprint_sha256}")
    difference = decision.review.second_check_difference_percent
    if difference is not None:
        print(f"  second check difference {difference:+.2f} %")
    if decision.reason:
        print(f"  reason: {decision.reason}")
    print("  report.pdf redrawn" if decision.report_redrawn else "  report.pdf not redrawn")
    print(f"  audit entry {decision.audit_hash} in {audit.location}")
    return EXIT_OK


# --------------------------------------------------------------------------------- helpers

def _existing(path: str) -> Path:
    file = Path(path)
    if not file.exists():
        raise InputError(f"{file} does not exist")
    return file


def _levels(args):
    from planner.review.second_check import ActionLevels

    if args.review_level is None and args.stop_level is None:
        return None   # the technique's own (planner.review.plan_review.review_plan)
    defaults = ActionLevels()
    try:
        return ActionLevels(review_percent=defaults.review_percent if args.review_level is None else args.review_level,
                            stop_percent=defaults.stop_percent if args.stop_level is None else args.stop_level)
    except ValueError as err:
        raise InputError(str(err)) from None


__all__ = ["register", "run_approve", "run_reject", "run_review"]
