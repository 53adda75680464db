"""What the command modules share: exit statuses, the two errors main() prints, JSON output, the
signer's and the trusted certificates' options that sign, verify, review, approve and reject all read,
and the PACS address that send, course send and course fetch take.

Why here: every command module imports this, and nothing in planner.cli but this, audit_recording and
main; main imports the command modules. So no command module needs main, and there is no cycle
(an import-linter contract in pyproject.toml keeps it so).
"""

from __future__ import annotations

import getpass
import json
import sys
from pathlib import Path

from planner.core.errors import PlannerError

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
EXIT_CANCELLED = 130  # the shell's status for a program stopped by Ctrl-C (128 + SIGINT)


class InputError(PlannerError):
    """An input the user must change (a value not offered, a missing file, a wrong passphrase):
    printed as one line, exit status 2."""


class CommandError(PlannerError):
    """A user-facing failure: printed as one line, exit status 1."""


def print_json(data) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


def add_json_argument(parser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON")


# --------------------------------------------------------------------------------- the PACS

def add_pacs_arguments(parser) -> None:
    """--pacs, --calling-ae and --timeout-s: every command that talks to a PACS takes them alike."""
    parser.add_argument("--pacs", required=True, metavar="AE@HOST:PORT",
                        help="the PACS's AE title, host and port, e.g. ORTHANC@pacs.clinic:4242")
    parser.add_argument("--calling-ae", default="PLANNER", metavar="AE", help="Planner's own AE title (default PLANNER)")
    parser.add_argument("--timeout-s", type=float, default=30.0, help="longest wait for any answer (default 30 s)")


def pacs_node(args):
    """The PacsNode of --pacs AE@HOST:PORT (an IPv6 host in brackets), --calling-ae and --timeout-s;
    InputError naming what is wrong."""
    from planner.dicom.pacs_settings import PacsNode

    called, at, address = args.pacs.rpartition("@")
    host, colon, port = address.rpartition(":")
    if not (at and colon and called and host and port.isdigit()):
        raise InputError(f"--pacs {args.pacs!r} is not AE@HOST:PORT (e.g. ORTHANC@pacs.clinic:4242)")
    try:
        return PacsNode(host.removeprefix("[").removesuffix("]"), int(port), called, args.calling_ae, args.timeout_s)
    except ValueError as err:
        raise InputError(f"--pacs {args.pacs!r}: {err}") from None


# --------------------------------------------------------------------------------- the signer

def identity_from_args(args):
    """The signer from --key, --cert and --passphrase-file (or the terminal); one-line errors."""
    from planner.dicom.keys import SigningKeyError, load_signing_identity

    passphrase = read_passphrase(args.passphrase_file, f"Passphrase for {args.key}: ")
    try:
        return load_signing_identity(args.key, args.cert, passphrase)
    except SigningKeyError as err:
        raise InputError(str(err)) from None
    finally:
        passphrase = None  # noqa: F841 - dropped at once: never kept, printed or logged


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


# --------------------------------------------------------------------------------- trust and treatment

def add_trust_argument(parser) -> None:
    """--trust CERT (repeatable): what trusted_certificates adds to the trust store."""
    parser.add_argument("--trust", action="append", default=[], metavar="CERT",
                        help="PEM certificate(s) to trust: a signer's own (self-signed) or its issuing CA; repeatable. "
                             "The certificates trusted in the window (by fingerprint, in the user data folder's "
                             "trusted_certificates.json) are trusted too")


def trusted_certificates(paths) -> tuple:
    """The certificates trusted by fingerprint in the trust store (as in the window) and those in
    the PEM files given (--trust); a store or file that cannot be read is an input error."""
    from planner.dicom.keys import SigningKeyError, load_trusted_certificates
    from planner.dicom.trust import TrustStoreError, certificates_of, load_trust_store

    try:
        trusted = list(certificates_of(load_trust_store()))
    except TrustStoreError as err:
        raise InputError(str(err)) from None
    for path in paths:
        try:
            trusted += load_trusted_certificates(path)
        except SigningKeyError as err:
            raise InputError(str(err)) from None
    return tuple(trusted)


TREATMENT_KEYS = ("treatable", "reviewed", "clinic_policy", "treatable_message")


def treatment_json(opened) -> dict:
    """What verify and review say of treatment, all from the one verdict (planner.dicom.signed_plan)."""
    return dict(zip(TREATMENT_KEYS, (opened.treatable, opened.reviewed, opened.clinic.policy, opened.message)))


def treatment_lines(opened) -> tuple[str, str]:
    return (f"  treatable: {'yes' if opened.treatable else 'NO'} — {opened.message}",
            f"  reviewed:  {'yes' if opened.reviewed else 'NO'} — {opened.clinic.review_policy_text}")


# --------------------------------------------------------------------------------- outline and skin line files
# The --outline and --skin-line files of `planner plan` and `planner course add-image` (the format is
# plan_command.OUTLINE_FORMAT): one reader, so both commands take the same files.

def read_outline(path: Path):
    """The LesionOutline in ``path`` (CSV or JSON, see OUTLINE_FORMAT)."""
    from planner.techniques.course_session import PointsFileError, read_outline_file

    try:
        return read_outline_file(path)
    except PointsFileError as err:
        raise InputError(str(err)) from None


def read_skin_line(path: Path):
    """The SkinSurface in ``path`` (CSV or JSON, see OUTLINE_FORMAT): the user's, so confirmed."""
    from planner.core.skin_surface import SkinSurface, SkinSurfaceError
    from planner.techniques.course_session import PointsFileError, read_points_file

    try:
        return SkinSurface(tuple(read_points_file(path, "skin line", "skin_surface_mm")))
    except PointsFileError as err:
        raise InputError(str(err)) from None
    except SkinSurfaceError as err:
        raise InputError(f"skin line file {path}: {err}") from None
