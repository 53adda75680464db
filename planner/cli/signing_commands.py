"""``planner sign``, ``planner verify`` and ``planner make-test-certificate``: PS3.15 signatures from
the command line, with the same core functions as the window (planner.dicom.package, signatures,
signed_plan, keys).

A plan package (a folder holding RTPLAN.dcm, report.pdf and plan.json, or its RTPLAN.dcm) is signed
in place by sign_plan_package: the command cannot give the dose and image the report was drawn
from, so report.pdf stays DRAFT and signatures.txt says who signed. Any other file is signed alone.

Why the exit statuses: a script must be able to tell "treat" (verify exit 0: every signature
intact and trusted and, for an RT Plan made by Planner, treatable as open_signed_plan judges) from
"do not treat" (exit 1) and from "you asked wrongly" (exit 2). The passphrase is read from a file
or the terminal, used once, and never printed or logged.
"""

from __future__ import annotations

from datetime import timezone
from pathlib import Path

from planner.cli.audit_recording import add_audit_db_argument, recording
from planner.cli.shared import (EXIT_FAILURE, EXIT_OK, TREATMENT_KEYS, CommandError, InputError, add_json_argument,
                                 add_trust_argument, identity_from_args, print_json, read_passphrase, trusted_certificates,
                                 treatment_json, treatment_lines)

TEST_MARK = "TEST certificate — not for clinical use"


def register(commands) -> None:
    sign = commands.add_parser(
        "sign", help="add a DICOM digital signature (PS3.15) to a plan package or file, in place or to --out",
        description="Sign a DICOM file with an RSA key and its X.509 certificate. The file is replaced "
                    "atomically (or --out written) only when the new signature verifies; on any error it is "
                    "left unchanged. A plan package (its folder or its RTPLAN.dcm) is signed in place and gets "
                    "signatures.txt beside its DRAFT report.pdf. Without --passphrase-file the passphrase is "
                    "asked on the terminal.")
    sign.add_argument("file", help="the plan package folder or DICOM file to sign (e.g. RTPLAN.dcm)")
    sign.add_argument("--key", required=True, help="private key: PEM (encrypted or not) or PKCS#12 (.p12)")
    sign.add_argument("--cert", default=None, help="the signer's PEM certificate (not needed for PKCS#12)")
    sign.add_argument("--role", choices=("creator", "authorization"), default="creator",
                      help="creator: the physician's signature, approval excluded (the only role `sign` makes); "
                           "an authorization signature is made by `planner approve` or `planner reject` after "
                           "a review, never here")
    sign.add_argument("--passphrase-file", metavar="F", help="file whose first line is the key's passphrase")
    sign.add_argument("--out", default=None, help="write the signed file here instead of replacing FILE (not "
                                                   "for a plan package, which is signed in place)")
    add_audit_db_argument(sign)
    sign.set_defaults(run=run_sign)

    verify = commands.add_parser(
        "verify", help="check every DICOM digital signature of a file; exit 0 only when all hold",
        description="Exit 0 only when the file is signed and every signature is intact and made with a "
                    "trusted certificate valid at signing and now, and, for an RT Plan made by Planner, the "
                    "plan is treatable as opening it in Planner says; 1 when unsigned (draft), broken, "
                    "untrusted, damaged or not treatable; 2 when the file, a certificate or the clinic's settings "
                    "(clinic.toml) cannot be read. A plan signed by the physician alone is treatable only where "
                    "the clinic treats before the physics review (treat_before_review), and is then said UNREVIEWED.")
    verify.add_argument("file")
    add_trust_argument(verify)
    add_json_argument(verify)
    verify.set_defaults(run=run_verify)

    make = commands.add_parser(
        "make-test-certificate", help="create an RSA key and a self-signed TEST certificate to try signing",
        description="Writes an RSA-3072 key (PEM, encrypted with the passphrase, mode 0600) and a self-signed "
                    "certificate marked TEST, never for clinical use. Existing files are never overwritten.")
    make.add_argument("--key-out", required=True, metavar="K")
    make.add_argument("--cert-out", required=True, metavar="C")
    make.add_argument("--name", required=True, help='the signer\'s name, e.g. "Dr A. Oncologist"')
    make.add_argument("--organisation", default="", help="clinic or department")
    make.add_argument("--days", type=int, default=365, help="validity in days (default: %(default)s)")
    make.add_argument("--passphrase-file", metavar="F", help="file whose first line is the new key's passphrase")
    make.set_defaults(run=run_make_test_certificate)


# --------------------------------------------------------------------------------- sign

def run_sign(args) -> int:
    from planner.dicom.keys import describe_certificate

    if args.role == "authorization":
        raise InputError("an authorization signature is made only by `planner approve` or `planner reject` after "
                         "the physicist's review (planner review FILE), so the review cannot be skipped")
    source = Path(args.file)
    folder = _package_folder(source)
    if folder is None and source.is_dir():
        raise InputError(f"{source} is a folder but not a plan package (RTPLAN.dcm, report.pdf, plan.json)")
    if folder is None and not source.is_file():
        raise InputError(f"{source} does not exist or is not a file")
    if folder is not None and args.out:
        raise InputError(f"{source} is a plan package, signed in place with its report; --out is for a single file")
    identity = identity_from_args(args)
    description = describe_certificate(identity.certificate)
    written = Path(args.out) if args.out else source
    details = {"role": args.role, "file": str(written), "certificate_sha256": description.fingerprint_sha256}
    with recording(args.audit_db, "sign", details, identity.certificate, what=str(written)) as anchor:
        if folder is not None:
            target, label, note = _sign_package(folder, identity, args.role, anchor)
        else:
            target, label, note = _sign_file(source, written, identity, args.role, anchor)
    print(f"signed {target}: {label}")
    print(f"  certificate SHA-256 {description.fingerprint_sha256}")
    for entry in anchor.entries:
        print(f"  audit entry seq {entry.seq} {entry.entry_hash} (in the signed plan)")
    if description.is_test:
        print(f"  {TEST_MARK}")
    if note:
        print(f"  {note}")
    return EXIT_OK


def _package_folder(path: Path) -> Path | None:
    """The plan package ``path`` is, or whose RT Plan it is; None for anything else."""
    from planner.dicom.export import RT_PLAN_FILE
    from planner.dicom.package import PLAN_FILE, REPORT_FILE

    folder = path if path.is_dir() else path.parent if path.name == RT_PLAN_FILE else None
    if folder is None or not all((folder / name).is_file() for name in (RT_PLAN_FILE, REPORT_FILE, PLAN_FILE)):
        return None
    return folder


def _sign_file(source: Path, target: Path, identity, role: str, anchor=None) -> tuple[Path, str, str]:
    from planner.dicom.audit_anchor import sign_with_audit_anchor
    from planner.dicom.signatures import SignatureError

    try:
        check = sign_with_audit_anchor(source, target, identity, role, anchor)
    except SignatureError as err:
        raise _not_signed(source, err) from None
    except OSError as err:
        raise CommandError(f"writing {target} failed, it was left unchanged: {err.strerror or err}") from None
    return target, check.label, ""


def _sign_package(folder: Path, identity, role: str, anchor=None) -> tuple[Path, str, str]:
    """sign_plan_package without the report inputs: report.pdf stays as printed, signatures.txt is written."""
    from planner.dicom.export import RT_PLAN_FILE
    from planner.dicom.package import PackageError, sign_plan_package
    from planner.dicom.signatures import SignatureError, verify_file

    try:
        package = sign_plan_package(folder, identity, role, audit_anchor=anchor)
    except PackageError as err:
        cause = err.__cause__
        if isinstance(cause, OSError):
            raise CommandError(str(err)) from None
        if isinstance(cause, SignatureError):
            raise _not_signed(folder / RT_PLAN_FILE, cause) from None
        raise InputError(str(err)) from None
    label = verify_file(package.rt_plan, (identity.certificate,))[-1].label
    return package.rt_plan, label, (f"{package.report.name} still shows the plan as DRAFT (the command line cannot "
                                    f"redraw it; sign in the window for that); {package.signatures_file} says who "
                                    f"signed")


def _not_signed(source: Path, err) -> InputError:
    from planner.dicom.signatures import DamagedFileError

    if isinstance(err, DamagedFileError):  # it names the file already
        return InputError(f"{err}; it was not signed")
    return InputError(f"{source} was not signed: {err}")


# --------------------------------------------------------------------------------- verify

def run_verify(args) -> int:
    from planner.dicom.signatures import DamagedFileError, SignatureError, SignatureStatus, verify_file

    trusted = trusted_certificates(args.trust)
    if not Path(args.file).is_file():
        raise InputError(f"{args.file} does not exist or is not a file")
    try:
        checks = verify_file(args.file, trusted)
    except DamagedFileError as err:  # a damaged file cannot vouch for anything: "do not treat", not a usage error
        raise CommandError(str(err)) from None
    except SignatureError as err:
        raise InputError(str(err)) from None
    opened = _planner_plan(args.file, trusted)
    status = SignatureStatus.of(checks)
    problems = [check.problem for check in checks if check.problem]
    holds = bool(checks) and not problems
    if args.json:
        print_json({"file": str(args.file), "status": status.value, "all_signatures_hold": holds,
                    **(dict.fromkeys(TREATMENT_KEYS) if opened is None else treatment_json(opened)),
                    "trusted_certificates": len(trusted), "trusted": [_trusted_json(c) for c in trusted],
                    "signatures": [_check_json(c) for c in checks]})
    else:
        _print_checks(args.file, status, checks)
        if opened is not None:
            print(*treatment_lines(opened), sep="\n")
    if not checks:
        raise CommandError(f"{args.file} is {SignatureStatus.UNSIGNED.value}: it carries no digital signature")
    if problems:
        raise CommandError("; ".join(problems))
    if opened is not None and not opened.treatable:
        raise CommandError(f"{args.file}: {opened.message}")
    return EXIT_OK if holds else EXIT_FAILURE


def _trusted_json(certificate) -> dict:
    from planner.dicom.keys import describe_certificate

    d = describe_certificate(certificate)
    return {"signer": d.signer(), "subject": certificate.subject.rfc4514_string(),
            "fingerprint_sha256": d.fingerprint_sha256}


def _planner_plan(path, trusted):
    """The file opened as Planner opens a plan (SignedPlan: treatable and why), or None when it is
    not an RT Plan made by Planner. Unreadable clinic settings are an input error: never judged by default."""
    from planner.dicom.signed_plan import ClinicPolicyError, SignedPlanError, open_signed_plan

    try:
        return open_signed_plan(path, trusted)
    except ClinicPolicyError as err:
        raise InputError(str(err)) from None
    except SignedPlanError:
        return None


def _check_json(check) -> dict:
    return {
        "index": check.index, "role": check.role, "purpose": check.purpose, "signer": check.signer,
        "signed_at": None if check.signed_at is None else check.signed_at.isoformat(),
        "certificate_fingerprint_sha256": check.certificate_fingerprint_sha256,
        "test_certificate": check.is_test_certificate, "mac_algorithm": check.mac_algorithm,
        "valid": check.valid, "trusted": check.trusted, "problem": check.problem,
        "trusted_fingerprints_of_same_subject": list(check.trusted_fingerprints_of_subject),
        "attributes_signed": check.attributes_signed, "attributes_not_signed": list(check.attributes_not_signed),
    }


def _print_checks(path, status, checks) -> None:
    print(f"{path}: {status.value}" + (f", {len(checks)} signature(s)" if checks else ""))
    for check in checks:
        print(f"  signature {check.index}: {check.role or check.purpose or 'no purpose given'}, {check.signer}")
        when = ("unknown" if check.signed_at is None
                else f"{check.signed_at.astimezone(timezone.utc):%Y-%m-%d %H:%M:%S} UTC")
        print(f"    signed at    {when}")
        print(f"    certificate  SHA-256 {check.certificate_fingerprint_sha256 or 'none'}"
              + (f"  [{TEST_MARK}]" if check.is_test_certificate else ""))
        print(f"    valid        {'yes' if check.valid else 'NO'} ({check.mac_algorithm}, "
              f"{check.attributes_signed} attributes signed)")
        print(f"    trusted      {'yes' if check.trusted else 'no'}")
        if check.problem:
            print(f"    problem      {check.problem}")


# --------------------------------------------------------------------------------- make-test-certificate

def run_make_test_certificate(args) -> int:
    from planner.dicom.keys import SigningKeyError, create_test_certificate, describe_certificate

    passphrase = read_passphrase(args.passphrase_file, f"New passphrase for {args.key_out}: ", confirm=True)
    try:
        identity = create_test_certificate(args.key_out, args.cert_out, args.name, args.organisation,
                                           passphrase or b"", days=args.days)
    except SigningKeyError as err:
        raise InputError(str(err)) from None
    except OSError as err:
        raise CommandError(f"cannot write the key or certificate: {err.strerror or err}") from None
    finally:
        passphrase = None  # noqa: F841
    print(f"wrote key {args.key_out} (encrypted, owner-only) and certificate {args.cert_out}")
    print(f"  {describe_certificate(identity.certificate).text()}")
    print(f"  {TEST_MARK}; verify with: planner verify FILE --trust {args.cert_out}")
    return EXIT_OK
