"""``planner sign``, ``planner verify`` and ``planner make-test-certificate``: PS3.15 signatures from
the command line, with the same core functions as the window (planner.dicom.signatures / keys).

Why the exit statuses: a script must be able to tell "treat" (verify exit 0: every signature
intact and trusted) from "do not treat" (exit 1) and from "you asked wrongly" (exit 2). The
passphrase is read from a file or the terminal, used once, and never printed or logged.
"""

from __future__ import annotations

import getpass
import sys
from datetime import timezone
from pathlib import Path

from planner.cli.commands import CommandError
from planner.cli.main import EXIT_FAILURE, EXIT_OK, InputError, print_json

TEST_MARK = "TEST certificate — not for clinical use"


def add_parsers(commands) -> None:
    sign = commands.add_parser(
        "sign", help="add a DICOM digital signature (PS3.15) to a plan file, in place or to --out",
        description="Sign a DICOM file with an RSA key and its X.509 certificate. The file is replaced "
                    "atomically (or --out written) only when the new signature verifies; on any error it is "
                    "left unchanged. Without --passphrase-file the passphrase is asked on the terminal.")
    sign.add_argument("file", help="the DICOM file to sign (e.g. RTPLAN.dcm)")
    sign.add_argument("--key", required=True, help="private key: PEM (encrypted or not) or PKCS#12 (.p12)")
    sign.add_argument("--cert", default=None, help="the signer's PEM certificate (not needed for PKCS#12)")
    sign.add_argument("--role", choices=("creator", "authorization"), default="creator",
                      help="creator: the physician's signature, approval excluded (default); authorization: "
                           "the reviewing physicist's, over everything")
    sign.add_argument("--passphrase-file", metavar="F", help="file whose first line is the key's passphrase")
    sign.add_argument("--out", default=None, help="write the signed file here instead of replacing FILE")
    sign.set_defaults(run=run_sign)

    verify = commands.add_parser(
        "verify", help="check every DICOM digital signature of a file; exit 0 only when all hold",
        description="Exit 0 only when the file is signed and every signature is intact and made with a "
                    "trusted certificate valid at signing and now; 1 when unsigned (draft), broken or "
                    "untrusted; 2 when the file or a certificate cannot be read.")
    verify.add_argument("file")
    verify.add_argument("--trust", action="append", default=[], metavar="CERT",
                        help="PEM certificate(s) to trust: a signer's own (self-signed) or its issuing CA; "
                             "repeatable")
    verify.add_argument("--json", action="store_true", help="print JSON")
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
    from planner.dicom.keys import SigningKeyError, describe_certificate, load_signing_identity
    from planner.dicom.signatures import SignatureError, sign_file

    source = Path(args.file)
    if not source.is_file():
        raise InputError(f"{source} does not exist or is not a file")
    passphrase = read_passphrase(args.passphrase_file, f"Passphrase for {args.key}: ")
    try:
        identity = load_signing_identity(args.key, args.cert, passphrase)
    except SigningKeyError as err:
        raise InputError(str(err)) from None
    finally:
        passphrase = None  # noqa: F841 - dropped at once: never kept, printed or logged
    target = Path(args.out) if args.out else source
    try:
        check = sign_file(source, target, identity, args.role)
    except SignatureError as err:
        raise InputError(f"{source} was not signed: {err}") from None
    except OSError as err:
        raise CommandError(f"writing {target} failed, it was left unchanged: {err.strerror or err}") from None
    except Exception as err:  # pydicom raises many kinds on a damaged file, read lazily while signing
        raise InputError(f"{source} was not signed: {damaged(err)}") from None
    description = describe_certificate(identity.certificate)
    print(f"signed {target}: {check.label}")
    print(f"  certificate SHA-256 {description.fingerprint_sha256}")
    if description.is_test:
        print(f"  {TEST_MARK}")
    return EXIT_OK


def read_passphrase(path: str | None, prompt: str, *, confirm: bool = False) -> bytes | None:
    """The passphrase from the first line of ``path``, else asked on the terminal (not echoed).
    Empty means none (an unencrypted key)."""
    if path is not None:
        try:
            text = Path(path).read_bytes()
        except OSError as err:
            raise InputError(f"cannot read the passphrase file {path}: {err.strerror or err}") from None
        line = text.splitlines()[0] if text else b""
        return line or None
    if not terminal_available():
        raise InputError("no terminal to ask the passphrase on; use --passphrase-file F")
    try:
        answer = getpass.getpass(prompt)
        if confirm and getpass.getpass("Again: ") != answer:
            raise InputError("the two passphrases differ")
    except EOFError:
        raise InputError("no passphrase given; use --passphrase-file F") from None
    return answer.encode("utf-8") or None


def terminal_available() -> bool:
    """getpass asks on /dev/tty (else on stdin, echoing it): never ask where a passphrase would show."""
    try:
        with open("/dev/tty", "rb"):
            return True
    except OSError:
        return sys.stdin is not None and sys.stdin.isatty()


def damaged(err: Exception) -> str:
    """One line for an error pydicom raised on a damaged file (the core reads elements lazily)."""
    return f"the DICOM data are damaged ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})"


# --------------------------------------------------------------------------------- verify

def run_verify(args) -> int:
    from planner.dicom.keys import SigningKeyError, load_trusted_certificates
    from planner.dicom.signatures import SignatureError, SignatureStatus, verify_file

    trusted = []
    for path in args.trust:
        try:
            trusted += load_trusted_certificates(path)
        except SigningKeyError as err:
            raise InputError(str(err)) from None
    if not Path(args.file).is_file():
        raise InputError(f"{args.file} does not exist or is not a file")
    try:
        checks = verify_file(args.file, trusted)
    except SignatureError as err:
        raise InputError(str(err)) from None
    except Exception as err:  # a damaged file cannot vouch for anything: "do not treat", not a usage error
        raise CommandError(f"{args.file} cannot be verified: {damaged(err)}") from None
    status = SignatureStatus.of(checks)
    problems = [check.problem for check in checks if check.problem]
    holds = bool(checks) and not problems
    if args.json:
        print_json({"file": str(args.file), "status": status.value, "all_signatures_hold": holds,
                    "trusted_certificates": len(trusted), "signatures": [_check_json(c) for c in checks]})
    else:
        _print_checks(args.file, status, checks)
    if not checks:
        raise CommandError(f"{args.file} is {SignatureStatus.UNSIGNED.value}: it carries no digital signature")
    if problems:
        raise CommandError("; ".join(problems))
    return EXIT_OK if holds else EXIT_FAILURE


def _check_json(check) -> dict:
    return {
        "index": check.index, "role": check.role, "purpose": check.purpose, "signer": check.signer,
        "signed_at": None if check.signed_at is None else check.signed_at.isoformat(),
        "certificate_fingerprint_sha256": check.certificate_fingerprint_sha256,
        "test_certificate": check.is_test_certificate, "mac_algorithm": check.mac_algorithm,
        "valid": check.valid, "trusted": check.trusted, "problem": check.problem,
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
